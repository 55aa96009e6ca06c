"""Read an on-premises mailbox inventory (``mailboxes.json``, schema 1, docs/migration-inventory.md).

The file is written by roles/m365_migration_stage/files/Get-ExchangeMailboxInventory.ps1 (or by
tools/generate_mailboxes.py for the demo). This module turns it into the inputs of
``migration_batches.plan_batches`` (``Mailbox`` and ``PermissionLink``) plus the facts the preflight
needs (addresses, EWS virtual directories, accepted domains, address domains).

Rules:

* A malformed file (missing, too large, not UTF-8, not JSON, wrong schema, wrong top-level types)
  gives ``InventoryLoad(None, error)`` with an error naming the file; nothing raises.
* A bad row is reported as a ``Problem`` and the rest is still read:

  - a mailbox without a primary SMTP address is kept with ``email=None`` (the planner excludes it);
  - a mailbox with a malformed size or item count, without an id, or whose id repeats an earlier
    one (compared case-insensitively) is dropped;
  - a permission of an unknown kind, or without grantor/grantee, is dropped;
  - a permission naming an object that is not in the mailbox list is kept: the planner reports it
    as a permission on an object that no longer exists.

* ``size_bytes`` of a ``Mailbox`` is the primary mailbox plus its archive (both move in the batch).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .migration_batches import LINK_KINDS, Mailbox, PermissionLink, Problem

SUPPORTED_SCHEMA = 1
# A few hundred thousand mailboxes with their permissions stay well below this.
MAX_INVENTORY_BYTES = 256 * 1024 * 1024
SKIP_REASONS = ("inherited", "self", "deny", "unresolved_sid", "default_anonymous")


@dataclass(frozen=True)
class EwsVirtualDirectory:
    server: str
    identity: str
    mrs_proxy_enabled: bool | None
    external_url: str | None


@dataclass(frozen=True)
class AcceptedDomain:
    domain_name: str
    domain_type: str | None
    default: bool


@dataclass(frozen=True)
class Inventory:
    mailboxes: tuple[Mailbox, ...]
    links: tuple[PermissionLink, ...]
    # Every SMTP address (primary first, without the smtp: prefix) per mailbox id.
    addresses: Mapping[str, tuple[str, ...]]
    ews_vdirs: tuple[EwsVirtualDirectory, ...]
    accepted_domains: tuple[AcceptedDomain, ...]
    address_domains: tuple[str, ...]
    problems: tuple[Problem, ...]
    skipped_permissions: Mapping[str, int] = field(default_factory=dict)
    item_counts: Mapping[str, int] = field(default_factory=dict)
    collection_errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class InventoryLoad:
    inventory: Inventory | None
    error: str | None


class InventoryError(ValueError):
    """The file as a whole cannot be used (raised by parse_inventory, caught by read_inventory)."""


def read_inventory(path: str) -> InventoryLoad:
    """The inventory at ``path``, or the reason it cannot be used. Never raises."""
    if not path:
        return InventoryLoad(None, "no mailbox inventory file given")
    try:
        size = os.path.getsize(path)
        if size > MAX_INVENTORY_BYTES:
            return InventoryLoad(None, f"{path} is {size} bytes, too large for a mailbox inventory")
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return InventoryLoad(None, f"{path} is missing")
    except IsADirectoryError:
        return InventoryLoad(None, f"{path} is a folder, not a mailbox inventory file")
    except OSError as exc:
        return InventoryLoad(None, f"cannot read {path}: {exc.strerror}")
    try:
        # utf-8-sig: files written by Windows PowerShell 5.1 start with a BOM.
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return InventoryLoad(None, f"{path} is not UTF-8 text (byte {exc.start})")
    except json.JSONDecodeError as exc:
        return InventoryLoad(None, f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except RecursionError:
        return InventoryLoad(None, f"{path} is nested too deeply to be a mailbox inventory")
    if not isinstance(data, Mapping):
        return InventoryLoad(None, f"{path} does not hold a JSON object")
    try:
        return InventoryLoad(parse_inventory(data, path), None)
    except InventoryError as exc:
        return InventoryLoad(None, str(exc))


def _count(value: Any) -> int | None:
    """A whole number >= 0 (JSON true/false and floats are not), else None."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _list(data: Mapping[str, Any], key: str, where: str, required: bool = True) -> Sequence[Any]:
    value = data.get(key)
    if value is None and not required:
        return ()
    if not isinstance(value, list):
        raise InventoryError(f"{where}: '{key}' must be a list, got {type(value).__name__}")
    return value


def _smtp_addresses(row: Mapping[str, Any], primary: str | None) -> tuple[str, ...]:
    """SMTP proxy addresses without their prefix, primary first, no repeats (case-insensitive)."""
    found: list[str] = [primary] if primary else []
    seen = {primary.casefold()} if primary else set()
    raw = row.get("email_addresses")
    for entry in raw if isinstance(raw, list) else ():
        if not isinstance(entry, str):
            continue
        prefix, colon, address = entry.partition(":")
        if not colon:
            prefix, address = "smtp", entry
        if prefix.casefold() != "smtp" or "@" not in address:
            continue  # X500:, SIP:, EUM: ... are not SMTP addresses
        address = address.strip()
        if address.casefold() not in seen:
            seen.add(address.casefold())
            found.append(address)
    return tuple(found)


def _mailbox(row: Any, label: str, problems: list[Problem]) -> tuple[Mailbox, tuple[str, ...], int] | None:
    if not isinstance(row, Mapping):
        problems.append(Problem(label, "mailbox entry is not an object; dropped"))
        return None
    mailbox_id = _text(row.get("id"))
    if mailbox_id is None:
        problems.append(Problem(label, "mailbox without an id; dropped"))
        return None
    where = f"mailbox {mailbox_id}"
    size = _count(row.get("total_item_size_bytes"))
    archive = bool(row.get("archive")) if isinstance(row.get("archive"), bool) else None
    archive_size = row.get("archive_size_bytes")
    items = _count(row.get("item_count"))
    bad = []
    if size is None:
        bad.append(f"total_item_size_bytes {row.get('total_item_size_bytes')!r} is not a byte count")
    if archive is None:
        bad.append(f"archive {row.get('archive')!r} is not true or false")
    if archive_size is not None and _count(archive_size) is None:
        bad.append(f"archive_size_bytes {archive_size!r} is not a byte count")
    if row.get("item_count") is not None and items is None:
        bad.append(f"item_count {row.get('item_count')!r} is not a whole number")
    if bad or size is None or archive is None:
        problems.append(Problem(where, "; ".join(bad) + "; dropped"))
        return None
    email = _text(row.get("primary_smtp_address"))
    if email is None:
        problems.append(Problem(where, "no primary SMTP address; kept without one (the planner excludes it)"))
    mailbox = Mailbox(
        id=mailbox_id,
        email=email,
        size_bytes=size + (_count(archive_size) or 0),
        database=_text(row.get("database")),
        department=_text(row.get("department")),
        kind=_text(row.get("recipient_type_details")) or "UserMailbox",
        archive=archive,
    )
    return mailbox, _smtp_addresses(row, email), items or 0


def _link(row: Any, label: str, problems: list[Problem]) -> PermissionLink | None:
    if not isinstance(row, Mapping):
        problems.append(Problem(label, "permission entry is not an object; dropped"))
        return None
    grantor, grantee, kind = _text(row.get("grantor")), _text(row.get("grantee")), _text(row.get("kind"))
    if grantor is None or grantee is None:
        problems.append(Problem(label, "permission without grantor or grantee; dropped"))
        return None
    if kind not in LINK_KINDS:
        problems.append(Problem(f"{grantor} -> {grantee}", f"unknown permission kind {row.get('kind')!r}; dropped"))
        return None
    return PermissionLink(grantor, grantee, kind)


def _vdir(row: Any, label: str, problems: list[Problem]) -> EwsVirtualDirectory | None:
    server = _text(row.get("server")) if isinstance(row, Mapping) else None
    if server is None or not isinstance(row, Mapping):
        problems.append(Problem(label, "EWS virtual directory without a server; dropped"))
        return None
    enabled = row.get("mrs_proxy_enabled")
    return EwsVirtualDirectory(server, _text(row.get("identity")) or f"{server}\\EWS (Default Web Site)",
                               enabled if isinstance(enabled, bool) else None, _text(row.get("external_url")))


def _domain(row: Any, label: str, problems: list[Problem]) -> AcceptedDomain | None:
    name = _text(row.get("domain_name")) if isinstance(row, Mapping) else None
    if name is None or not isinstance(row, Mapping):
        problems.append(Problem(label, "accepted domain without a domain_name; dropped"))
        return None
    return AcceptedDomain(name.lower(), _text(row.get("domain_type")), row.get("default") is True)


def parse_inventory(data: Mapping[str, Any], where: str) -> Inventory:
    """The inventory in ``data`` (read from ``where``); InventoryError when the file is unusable."""
    schema = data.get("schema")
    if type(schema) is not int or schema != SUPPORTED_SCHEMA:  # true == 1 in Python; not here
        raise InventoryError(f"{where} has schema {schema!r}; this version reads schema {SUPPORTED_SCHEMA}")
    problems: list[Problem] = []
    mailboxes: list[Mailbox] = []
    addresses: dict[str, tuple[str, ...]] = {}
    item_counts: dict[str, int] = {}
    first_id: dict[str, str] = {}
    for number, row in enumerate(_list(data, "mailboxes", where)):
        parsed = _mailbox(row, f"mailboxes[{number}]", problems)
        if parsed is None:
            continue
        mailbox, smtp, items = parsed
        earlier = first_id.get(mailbox.id.casefold())
        if earlier is not None:
            problems.append(Problem(f"mailbox {mailbox.id}", f"duplicate mailbox id (first as {earlier}); dropped"))
            continue
        first_id[mailbox.id.casefold()] = mailbox.id
        mailboxes.append(mailbox)
        addresses[mailbox.id] = smtp
        item_counts[mailbox.id] = items
    links = [link for number, row in enumerate(_list(data, "permissions", where))
             if (link := _link(row, f"permissions[{number}]", problems)) is not None]
    vdirs = [vdir for number, row in enumerate(_list(data, "ews_virtual_directories", where, required=False))
             if (vdir := _vdir(row, f"ews_virtual_directories[{number}]", problems)) is not None]
    domains = [domain for number, row in enumerate(_list(data, "accepted_domains", where, required=False))
               if (domain := _domain(row, f"accepted_domains[{number}]", problems)) is not None]
    listed = [item.strip().lower() for item in _list(data, "address_domains", where, required=False)
              if isinstance(item, str) and item.strip()]
    in_use = {address.rpartition("@")[2].lower() for smtp in addresses.values() for address in smtp}
    skipped_raw = data.get("skipped_permissions")
    skipped = {key: value for key, value in (skipped_raw.items() if isinstance(skipped_raw, Mapping) else ())
               if isinstance(key, str) and _count(value) is not None}
    errors = tuple(item for item in _list(data, "errors", where, required=False) if isinstance(item, str))
    return Inventory(
        mailboxes=tuple(mailboxes),
        links=tuple(links),
        addresses=addresses,
        ews_vdirs=tuple(vdirs),
        accepted_domains=tuple(domains),
        address_domains=tuple(sorted(set(listed) | in_use)),
        problems=tuple(problems),
        skipped_permissions=skipped,
        item_counts=item_counts,
        collection_errors=errors,
    )
