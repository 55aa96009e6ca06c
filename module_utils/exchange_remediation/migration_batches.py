"""Migration batches: permission-linked mailboxes move together, batches stay inside the limits.

Rules (m365-migration.md §5 and §6):

* Service accounts (``BatchOptions.service_accounts``, matched case-insensitively on the mailbox
  id or its SMTP address) are excluded and their links ignored, otherwise their FullAccess on every mailbox would
  collapse the estate into one component. System, arbitration and health mailboxes and
  mailboxes without an SMTP address are excluded as well.
* A mailbox over 200 GB cannot be onboarded: it is reported as a problem and not planned. A
  second mailbox with an address already used by another one (compared case-insensitively, the
  first in id order wins) is reported and excluded. A link to an object that is not in the
  input ("permission on an object that no longer exists") is reported and dropped.
* The remaining links form a graph; each connected component (union-find, iterative) moves in
  one batch. A component over either limit is reported as oversized and placed in no batch:
  splitting it would break a delegation, and that is the operator's call.
* Components are packed per group (the sorted database or department key the component mostly
  shares, or the ``order`` list first), largest first, each into the least-loaded batch that
  still has room, opening a batch only when none has. Starting from the lower bound of batches
  this reaches a small batch count and levels the batch sizes in one pass; the unlinked
  mailboxes are the smallest items and fill the gaps last.

Sizes are bytes; "GB" is 2**30 bytes, as Exchange reports ``TotalItemSize``. The result depends
on the input set only, never on its order.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

GB = 1024**3
MAX_ONBOARDING_BYTES = 200 * GB
MAX_BATCH_NAME = 64
LINK_KINDS = frozenset({"FullAccess", "SendOnBehalf", "SendAs", "Calendar", "Folder"})
SYSTEM_KINDS = frozenset({"DiscoveryMailbox", "ArbitrationMailbox", "AuditLogMailbox", "AuxAuditLogMailbox",
                          "MonitoringMailbox", "SystemMailbox", "PublicFolderMailbox",
                          "SupervisoryReviewPolicyMailbox"})
ORDER_BY = ("database", "department", "list")
NO_KEY = "(none)"
GONE = "permission on an object that no longer exists"
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Mailbox:
    id: str
    email: str | None
    size_bytes: int
    database: str | None = None
    department: str | None = None
    kind: str = "UserMailbox"
    archive: bool = False


@dataclass(frozen=True)
class PermissionLink:
    grantor: str
    grantee: str
    kind: str


@dataclass(frozen=True)
class BatchLimits:
    max_mailboxes: int
    max_bytes: int


@dataclass(frozen=True)
class BatchOptions:
    service_accounts: frozenset[str] = frozenset()
    order_by: str = "database"
    order: tuple[str, ...] = ()
    batch_prefix: str = "Batch"


@dataclass(frozen=True)
class Batch:
    name: str
    mailbox_ids: tuple[str, ...]
    total_bytes: int
    key: str | None = None

    @property
    def count(self) -> int:
        return len(self.mailbox_ids)


@dataclass(frozen=True)
class Exclusion:
    id: str
    reason: str


@dataclass(frozen=True)
class Component:
    mailbox_ids: tuple[str, ...]
    total_bytes: int
    reason: str = ""

    @property
    def count(self) -> int:
        return len(self.mailbox_ids)


@dataclass(frozen=True)
class Problem:
    object: str
    reason: str


@dataclass(frozen=True)
class BatchPlan:
    batches: tuple[Batch, ...]
    excluded: tuple[Exclusion, ...]
    oversized: tuple[Component, ...]
    problems: tuple[Problem, ...]
    # Every planned component (the oversized ones included), for statistics.
    components: tuple[Component, ...] = field(default=(), repr=False)

    def batch_of(self, mailbox_id: str) -> str | None:
        """Name of the batch holding ``mailbox_id``, None if it is in no batch."""
        return next((batch.name for batch in self.batches if mailbox_id in batch.mailbox_ids), None)


def _check_limit(label: str, value: object) -> None:
    # bool is an int subclass; True as "1 mailbox" is almost certainly a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{label} must be a whole number >= 1, got {value!r}")


def _gb(size: int) -> str:
    return f"{size / GB:.1f} GB"


class _UnionFind:
    """Disjoint sets over 0..n-1, union by size, path halving: no recursion, near-linear."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))
        self.size = [1] * size

    def find(self, item: int) -> int:
        parent = self.parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, first: int, second: int) -> None:
        first, second = self.find(first), self.find(second)
        if first == second:
            return
        if self.size[first] < self.size[second]:
            first, second = second, first
        self.parent[second] = first
        self.size[first] += self.size[second]


def _screen(ordered: Sequence[Mailbox],
            service: frozenset[str]) -> tuple[list[Mailbox], list[Exclusion], list[Problem]]:
    """Mailboxes that can be planned, in id order, and why the others cannot."""
    planned: list[Mailbox] = []
    excluded: list[Exclusion] = []
    problems: list[Problem] = []
    first_with: dict[str, Mailbox] = {}
    for mailbox in ordered:
        email = (mailbox.email or "").strip()
        if mailbox.id.casefold() in service:
            excluded.append(Exclusion(mailbox.id, "service account: excluded, its permissions ignored"))
        elif mailbox.kind in SYSTEM_KINDS:
            excluded.append(Exclusion(mailbox.id, f"{mailbox.kind}: system mailbox, not migrated in a batch"))
        elif not email:
            excluded.append(Exclusion(mailbox.id, "no SMTP address"))
        elif mailbox.size_bytes > MAX_ONBOARDING_BYTES:
            problems.append(Problem(mailbox.id, f"{_gb(mailbox.size_bytes)}: mailboxes over 200 GB are not "
                                                "supported for onboarding; not planned"))
        elif (first := first_with.get(email.casefold())) is not None:
            problems.append(Problem(first.id, f"duplicate email address {email} (also on {mailbox.id}); planned"))
            problems.append(Problem(mailbox.id, f"duplicate email address {email} (first on {first.id}); excluded"))
            excluded.append(Exclusion(mailbox.id, f"duplicate email address {email} (first on {first.id})"))
        else:
            first_with[email.casefold()] = mailbox
            planned.append(mailbox)
    return planned, excluded, problems


def _link_graph(planned: Sequence[Mailbox], known: set[str], links: Iterable[PermissionLink],
                service: frozenset[str]) -> tuple[_UnionFind, list[Problem]]:
    index = {mailbox.id: number for number, mailbox in enumerate(planned)}
    sets = _UnionFind(len(planned))
    gone: Counter[str] = Counter()
    unknown_kinds: Counter[str] = Counter()
    for link in links:
        ends = (link.grantor, link.grantee)
        if any(end.casefold() in service for end in ends):
            continue
        if link.kind not in LINK_KINDS:
            unknown_kinds[link.kind] += 1
            continue
        missing = [end for end in ends if end not in known]
        if missing:
            gone.update(missing)
            continue
        first, second = index.get(link.grantor), index.get(link.grantee)
        if first is not None and second is not None:  # links to excluded mailboxes do not bind
            sets.union(first, second)
    problems = [Problem(name, f"{GONE}: {count} link{'s' if count != 1 else ''} dropped")
                for name, count in sorted(gone.items())]
    problems += [Problem(f"permission kind {kind}", f"unknown permission kind: {count} link"
                         f"{'s' if count != 1 else ''} dropped") for kind, count in sorted(unknown_kinds.items())]
    return sets, problems


def _component_key(members: Sequence[Mailbox], order_by: str) -> str:
    """The database or department most members share (ties: the sorted first)."""
    counts = Counter(getattr(mailbox, order_by) or NO_KEY for mailbox in members)
    return min(counts, key=lambda key: (-counts[key], key == NO_KEY, key))


@dataclass
class _Bin:
    number: int
    members: list[int]
    count: int = 0
    size: int = 0


def _load(bin_: _Bin, limits: BatchLimits) -> float:
    return bin_.size / limits.max_bytes + bin_.count / limits.max_mailboxes


def _pack(items: list[Component], limits: BatchLimits) -> list[list[Component]]:
    """Largest first into the least-loaded batch with room; a new batch only when none has room."""
    items = sorted(items, key=lambda c: (-(c.total_bytes / limits.max_bytes + c.count / limits.max_mailboxes),
                                         c.mailbox_ids[0]))
    total_count = sum(item.count for item in items)
    total_bytes = sum(item.total_bytes for item in items)
    lower = max(-(-total_count // limits.max_mailboxes), -(-total_bytes // limits.max_bytes), 1 if items else 0)
    bins = [_Bin(number, []) for number in range(lower)]
    heap = [(0.0, number) for number in range(lower)]
    for position, item in enumerate(items):
        skipped: list[tuple[float, int]] = []
        chosen: _Bin | None = None
        while heap:
            entry = heapq.heappop(heap)
            candidate = bins[entry[1]]
            if (candidate.count + item.count <= limits.max_mailboxes
                    and candidate.size + item.total_bytes <= limits.max_bytes):
                chosen = candidate
                break
            if candidate.count < limits.max_mailboxes:  # a batch full by count never takes anything
                skipped.append(entry)
        if chosen is None:
            chosen = _Bin(len(bins), [])
            bins.append(chosen)
        chosen.members.append(position)
        chosen.count += item.count
        chosen.size += item.total_bytes
        for entry in skipped:
            heapq.heappush(heap, entry)
        heapq.heappush(heap, (_load(chosen, limits), chosen.number))
    return [[items[position] for position in bin_.members] for bin_ in bins if bin_.members]


def _pack_in_order(items: list[Component], limits: BatchLimits) -> list[list[Component]]:
    """Next fit, keeping the caller's order: batch 1 holds the first listed mailboxes."""
    batches: list[list[Component]] = []
    count = size = 0
    for item in items:
        if not batches or count + item.count > limits.max_mailboxes or size + item.total_bytes > limits.max_bytes:
            batches.append([])
            count = size = 0
        batches[-1].append(item)
        count += item.count
        size += item.total_bytes
    return batches


def _batch_name(prefix: str, number: int, width: int, key: str | None) -> str:
    prefix = _NAME_UNSAFE.sub("-", prefix).strip("-") or "Batch"
    numbered = f"-{number:0{width}d}"
    prefix = prefix[: MAX_BATCH_NAME - len(numbered)]
    name = prefix + numbered
    if key is not None:
        suffix = _NAME_UNSAFE.sub("-", key).strip("-")
        room = MAX_BATCH_NAME - len(name) - 1
        if suffix and room > 0:
            name += "-" + suffix[:room]
    return name


def plan_batches(mailboxes: Sequence[Mailbox], links: Sequence[PermissionLink], limits: BatchLimits,
                 options: BatchOptions) -> BatchPlan:
    """Batches for the mailboxes such that no permission link crosses two batches."""
    _check_limit("max_mailboxes", limits.max_mailboxes)
    _check_limit("max_bytes", limits.max_bytes)
    if options.order_by not in ORDER_BY:
        raise ValueError(f"order_by must be one of {', '.join(ORDER_BY)}, got {options.order_by!r}")
    ordered = sorted(mailboxes, key=lambda mailbox: mailbox.id)
    for number, mailbox in enumerate(ordered):
        if number and ordered[number - 1].id == mailbox.id:
            raise ValueError(f"duplicate mailbox id {mailbox.id!r} in the batch plan input")
        if isinstance(mailbox.size_bytes, bool) or not isinstance(mailbox.size_bytes, int) or mailbox.size_bytes < 0:
            raise ValueError(f"mailbox {mailbox.id!r}: size_bytes must be a whole number >= 0")
    # A service account may be named by id or by address; its links always name it by id.
    named = frozenset(name.casefold() for name in options.service_accounts)
    service = named | {mailbox.id.casefold() for mailbox in ordered
                       if mailbox.email and mailbox.email.strip().casefold() in named}
    planned, excluded, problems = _screen(ordered, service)
    sets, link_problems = _link_graph(planned, {mailbox.id for mailbox in ordered}, links, service)
    problems += link_problems

    groups: dict[int, list[int]] = {}
    for number in range(len(planned)):
        groups.setdefault(sets.find(number), []).append(number)
    components: list[Component] = []
    keys: list[str] = []
    for members in groups.values():  # members are in id order, so each component is too
        boxes = [planned[number] for number in members]
        components.append(Component(tuple(box.id for box in boxes), sum(box.size_bytes for box in boxes)))
        keys.append(_component_key(boxes, options.order_by) if options.order_by != "list" else NO_KEY)

    oversized: list[Component] = []
    by_group: dict[tuple[int, str], list[Component]] = {}
    position = {mailbox_id: rank for rank, mailbox_id in reversed(list(enumerate(options.order)))}
    for component, key in zip(components, keys, strict=True):
        reasons = []
        if component.count > limits.max_mailboxes:
            reasons.append(f"{component.count} linked mailboxes > max_mailboxes {limits.max_mailboxes}")
        if component.total_bytes > limits.max_bytes:
            reasons.append(f"{_gb(component.total_bytes)} > max_bytes {_gb(limits.max_bytes)}")
        if reasons:
            oversized.append(Component(component.mailbox_ids, component.total_bytes,
                                       "; ".join(reasons) + ": not split, placed in no batch"))
            continue
        listed = options.order_by == "list" and any(member in position for member in component.mailbox_ids)
        by_group.setdefault((0 if listed else 1, key), []).append(component)

    packed: list[tuple[str | None, list[Component]]] = []
    # Listed mailboxes first (order_by list), then the groups in key order, mailboxes without one last.
    for (rank, key), items in sorted(by_group.items(), key=lambda group: (group[0][0], group[0][1] == NO_KEY,
                                                                          group[0][1])):
        if rank == 0:
            items.sort(key=lambda c: (min(position[m] for m in c.mailbox_ids if m in position), c.mailbox_ids[0]))
            packed += [(None, batch) for batch in _pack_in_order(items, limits)]
        else:
            shown = None if options.order_by == "list" else key
            batches = sorted(_pack(items, limits), key=lambda batch: min(c.mailbox_ids[0] for c in batch))
            packed += [(shown, batch) for batch in batches]

    width = max(3, len(str(len(packed))))
    batches_out = tuple(
        Batch(_batch_name(options.batch_prefix, number, width, key),
              tuple(sorted(m for component in batch for m in component.mailbox_ids)),
              sum(component.total_bytes for component in batch), key)
        for number, (key, batch) in enumerate(packed, start=1))
    return BatchPlan(batches_out, tuple(sorted(excluded, key=lambda e: e.id)),
                     tuple(sorted(oversized, key=lambda c: c.mailbox_ids[0])),
                     tuple(sorted(problems, key=lambda p: (p.object, p.reason))),
                     tuple(sorted(components, key=lambda c: c.mailbox_ids[0])))
