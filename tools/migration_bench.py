#!/usr/bin/env python3
"""Migration batch planner bench: plan and render a realistic estate, against a reference run.

The synthetic estate (seeded, so every run is the same): mailboxes over 20 databases and 12
departments with long-tailed sizes (log-normal, median about 1.5 GB, a few over 200 GB),
delegation clusters of 2 to 12 mailboxes inside a department, a few large shared mailboxes
with many FullAccess grantees, 5 service accounts with FullAccess on every mailbox, links to
deleted objects, a few duplicate addresses, a discovery and an arbitration mailbox.

Measured in one process: the reference (sorting the mailboxes and indexing the links, the least
any planner does), plan_batches, and rendering every batch CSV plus the plan JSON dict; then the
peak traced memory of planning and rendering. Targets: < 5 s and < 500 MB on 50,000 mailboxes.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "module_utils"))

from exchange_remediation.migration_batch_files import batch_csv, plan_dict  # noqa: E402
from exchange_remediation.migration_batches import (  # noqa: E402
    GB,
    BatchLimits,
    BatchOptions,
    BatchPlan,
    Mailbox,
    PermissionLink,
    plan_batches,
)

FIRST = ("alice", "bob", "carla", "deniz", "emma", "farid", "greta", "hans", "ines", "jonas", "karin", "lukas",
         "maria", "nils", "olga", "paul", "quinn", "rosa", "sven", "tanja", "ugo", "vera", "wim", "yusuf")
LAST = ("meyer", "schmidt", "fischer", "weber", "wagner", "becker", "hoffmann", "koch", "richter", "klein",
        "wolf", "neumann", "braun", "zimmermann", "kruger", "hartmann")
DEPARTMENTS = ("Sales", "Finance", "HR", "Legal", "IT", "Marketing", "Operations", "Support", "Research",
               "Procurement", "Facilities", "Executive")
SERVICE_ACCOUNTS = ("svc-backup", "svc-archive", "svc-blackberry", "svc-scom", "svc-journal")
KINDS = ("FullAccess", "SendOnBehalf", "SendAs", "Calendar", "Folder")
DEFAULT_LIMITS = BatchLimits(max_mailboxes=250, max_bytes=1500 * GB)


@dataclass(frozen=True)
class Estate:
    mailboxes: list[Mailbox]
    links: list[PermissionLink]


def estate(count: int, seed: int) -> Estate:
    """A synthetic estate of ``count`` user and shared mailboxes plus service and system ones."""
    rng = random.Random(seed)
    mailboxes: list[Mailbox] = []
    for number in range(count):
        # Long tail: most mailboxes a few GB, some tens, a handful over the 200 GB onboarding limit.
        size = int(min(rng.lognormvariate(0.4, 1.4), 260.0) * GB)
        if number % max(1, count // 3) == 7:
            size = 205 * GB
        name = f"{rng.choice(FIRST)}.{rng.choice(LAST)}{number}"
        mailboxes.append(Mailbox(f"u{number:06d}", f"{name}@contoso.com", size, f"DB{number % 20 + 1:02d}",
                                 DEPARTMENTS[rng.randrange(len(DEPARTMENTS))], "UserMailbox", rng.random() < 0.3))
    ids = [mailbox.id for mailbox in mailboxes]
    by_department: dict[str | None, list[str]] = {}
    for mailbox in mailboxes:
        by_department.setdefault(mailbox.department, []).append(mailbox.id)
    links: list[PermissionLink] = []
    # Delegation clusters: a manager and 1 to 11 assistants or peers in one department.
    position = 0
    while position < count * 0.6:
        size = rng.randint(2, 12)
        members = ids[position:position + size]
        position += size + rng.randint(0, 6)  # and a few mailboxes with no links in between
        for member in members[1:]:
            links.append(PermissionLink(members[0], member, rng.choice(KINDS)))
            if rng.random() < 0.3:
                links.append(PermissionLink(member, members[0], "Calendar"))
    # A few large shared mailboxes, each with a team of FullAccess grantees from one department.
    for number in range(max(1, count // 5000)):
        shared = f"shared{number:03d}"
        department = DEPARTMENTS[number % len(DEPARTMENTS)]
        mailboxes.append(Mailbox(shared, f"{department.lower()}-team{number}@contoso.com", rng.randint(5, 60) * GB,
                                 f"DB{number % 20 + 1:02d}", department, "SharedMailbox"))
        team = rng.sample(by_department[department], min(len(by_department[department]), rng.randint(20, 80)))
        links.extend(PermissionLink(shared, member, "FullAccess") for member in team)
    for account in SERVICE_ACCOUNTS:
        mailboxes.append(Mailbox(account, f"{account}@contoso.com", 50 * 1024**2, "DB01", "IT"))
        links.extend(PermissionLink(mailbox_id, account, "FullAccess") for mailbox_id in ids)
    mailboxes.append(Mailbox("discovery", "DiscoverySearchMailbox@contoso.com", 10 * 1024**2, "DB01",
                             kind="DiscoveryMailbox"))
    mailboxes.append(Mailbox("arbitration", None, 10 * 1024**2, "DB01", kind="ArbitrationMailbox"))
    # Permissions left behind by deleted users, and addresses copied by a broken provisioning run.
    for number in range(max(1, count // 250)):
        links.append(PermissionLink(rng.choice(ids), f"S-1-5-21-1004336348-1177238915-682003330-{7000 + number}",
                                    rng.choice(KINDS)))
    for number in range(max(1, count // 5000)):
        original = mailboxes[rng.randrange(count)]
        mailboxes.append(Mailbox(f"dup{number:03d}", original.email, GB, original.database, original.department))
    rng.shuffle(mailboxes)
    rng.shuffle(links)
    return Estate(mailboxes, links)


def options() -> BatchOptions:
    return BatchOptions(service_accounts=frozenset(SERVICE_ACCOUNTS), order_by="database")


def reference(data: Estate) -> int:
    """The least any planner does: sort the mailboxes and index every link by its grantor."""
    ordered = sorted(data.mailboxes, key=lambda mailbox: mailbox.id)
    by_grantor: dict[str, list[str]] = {}
    for link in data.links:
        by_grantor.setdefault(link.grantor, []).append(link.grantee)
    return len(ordered) + len(by_grantor)


def plan_and_render(data: Estate, limits: BatchLimits) -> tuple[BatchPlan, dict[str, Any], int]:
    plan = plan_batches(data.mailboxes, data.links, limits, options())
    by_id = {mailbox.id: mailbox for mailbox in data.mailboxes}
    csv_bytes = sum(len(batch_csv(batch, by_id)) for batch in plan.batches)
    return plan, plan_dict(plan, data.mailboxes), csv_bytes


def statistics_of(plan: BatchPlan) -> dict[str, Any]:
    sizes = [batch.count for batch in plan.batches]
    volumes = [batch.total_bytes for batch in plan.batches]
    return {
        "batches": len(plan.batches),
        "count_min": min(sizes, default=0), "count_median": statistics.median(sizes) if sizes else 0,
        "count_max": max(sizes, default=0),
        "bytes_min": min(volumes, default=0), "bytes_median": statistics.median(volumes) if volumes else 0,
        "bytes_max": max(volumes, default=0),
        "components": len(plan.components),
        "largest_component": max((c.count for c in plan.components), default=0),
        "oversized": len(plan.oversized),
        "oversized_mailboxes": sum(c.count for c in plan.oversized),
        "excluded": len(plan.excluded),
        "problems": len(plan.problems),
        "planned_mailboxes": sum(sizes),
    }


def timed(work: Any, rounds: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    limits = DEFAULT_LIMITS
    data = estate(args.mailboxes, args.seed)
    print(f"== Estate: {len(data.mailboxes)} mailboxes, {len(data.links)} permission links "
          f"(limits {limits.max_mailboxes} mailboxes / {limits.max_bytes // GB} GB per batch) ==")
    reference_seconds, _ = timed(lambda: reference(data), args.rounds)
    plan_seconds, plan = timed(lambda: plan_batches(data.mailboxes, data.links, limits, options()), args.rounds)
    total_seconds, (plan, _, csv_bytes) = timed(lambda: plan_and_render(data, limits), args.rounds)
    tracemalloc.start()
    plan_and_render(data, limits)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stats = statistics_of(plan)
    print(f"  batches {stats['batches']}: mailboxes min/median/max {stats['count_min']}/{stats['count_median']}/"
          f"{stats['count_max']}, size min/median/max {stats['bytes_min'] / GB:.0f}/{stats['bytes_median'] / GB:.0f}/"
          f"{stats['bytes_max'] / GB:.0f} GB, {stats['planned_mailboxes']} mailboxes planned")
    print(f"  components {stats['components']} (largest {stats['largest_component']}), oversized "
          f"{stats['oversized']} ({stats['oversized_mailboxes']} mailboxes), excluded {stats['excluded']}, "
          f"problems {stats['problems']}, CSV {csv_bytes / 1024:.0f} KiB")
    print(f"  reference: sort mailboxes + index links  {reference_seconds:6.3f} s")
    print(f"  plan_batches                             {plan_seconds:6.3f} s  ratio "
          f"{plan_seconds / reference_seconds:5.1f}")
    print(f"  plan + all CSVs + plan dict              {total_seconds:6.3f} s  ratio "
          f"{total_seconds / reference_seconds:5.1f}  target < 5 s: {'met' if total_seconds < 5 else 'NOT met'}")
    peak_mb = peak / 1024**2
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak traced memory of plan + render      {peak_mb:6.1f} MB  (process max RSS {rss_mb:.0f} MB, "
          f"estate included)  target < 500 MB: {'met' if peak_mb < 500 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
