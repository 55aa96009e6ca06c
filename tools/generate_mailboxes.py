#!/usr/bin/env python3
"""Deterministic generator of the demo on-premises mailbox inventory (docs/migration-inventory.md).

    python tools/generate_mailboxes.py [--out inventories/demo/organisation/mailboxes.json]

Writes the ``mailboxes.json`` (schema 1) that roles/m365_migration_stage/files/
Get-ExchangeMailboxInventory.ps1 would collect in Contoso: about 300 user mailboxes on DB01-DB04
with long-tailed sizes (one over 100 GB, one over 200 GB), shared mailboxes (finance, hr, helpdesk)
with FullAccess teams, two executive/assistant delegation clusters (SendOnBehalf and calendar
Editor), the service accounts svc-backup and svc-archive with FullAccess on every mailbox, a
DiscoveryMailbox, a mailbox without SMTP address, a second mailbox reusing an address, a
permission skipped as an unresolved SID and one naming a removed object, addresses in contoso.com,
the legacy fabrikam.com and contoso.mail.onmicrosoft.com (missing on a few), and the EWS virtual
directories of EX19-DAG1..3 (MRSProxy on, on, off).

All randomness comes from ``random.Random`` seeded with a string (hashed with SHA-512), so the
output is byte-identical on every run and platform. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "inventories" / "demo" / "organisation" / "mailboxes.json"
SEED = "contoso-mailboxes-1"
GB = 1024**3
MB = 1024**2
DOMAIN = "contoso.com"
LEGACY = "fabrikam.com"
ROUTING = "contoso.mail.onmicrosoft.com"
DATABASES = {"DB01": "EX19-DAG1", "DB02": "EX19-DAG2", "DB03": "EX19-DAG3", "DB04": "EX19-DAG1"}
DEPARTMENTS = ("Sales", "Engineering", "Operations", "Marketing", "Finance", "HR", "IT", "Legal", "Support")
FIRST = ("Adam", "Alex", "Anna", "Ben", "Carla", "Chen", "Dana", "David", "Elena", "Emma", "Farid", "Grace",
         "Hana", "Ian", "Jonas", "Julia", "Kai", "Lara", "Leo", "Maria", "Mark", "Nina", "Omar", "Paula",
         "Pedro", "Priya", "Rosa", "Sam", "Sofia", "Tom", "Uma", "Victor", "Wei", "Yara", "Zoe")
LAST = ("Baker", "Costa", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jansen", "Khan", "Lopez",
        "Meyer", "Novak", "Olsen", "Patel", "Quinn", "Rossi", "Schmidt", "Tanaka", "Urban", "Vargas",
        "Weber", "Young", "Zhang")
USERS = 300
SERVICE_ACCOUNTS = ("svc-backup", "svc-archive")
SHARED = {"finance": ("Finance", 8), "hr": ("HR", 5), "helpdesk": ("IT", 6)}
# Executives and the assistants who act for them: ceo and cfo share one assistant (one cluster of 3).
DELEGATES = {"ceo": ("exec.assistant1",), "cfo": ("exec.assistant1",), "coo": ("exec.assistant2",)}
REMOVED_OBJECT = "CONTOSO\\former.employee"


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _size(rng: random.Random) -> int:
    """Long-tailed mailbox size: median about 2 GB, a few tens of GB at the tail."""
    return min(int(rng.lognormvariate(21.5, 1.3)), 60 * GB)


def _mailbox(rng: random.Random, alias: str, display: str, department: str | None, kind: str = "UserMailbox",
             size: int | None = None, archive: bool | None = None, database: str | None = None) -> dict:
    database = database or rng.choice(sorted(DATABASES))
    size = _size(rng) if size is None else size
    archive = (rng.random() < 0.2) if archive is None else archive
    addresses = [f"SMTP:{alias}@{DOMAIN}"]
    if rng.random() < 0.3:
        addresses.append(f"smtp:{alias}@{LEGACY}")
    if rng.random() < 0.95:
        addresses.append(f"smtp:{alias}@{ROUTING}")
    return {
        "id": alias,
        "display_name": display,
        "recipient_type_details": kind,
        "primary_smtp_address": f"{alias}@{DOMAIN}",
        "user_principal_name": f"{alias}@{DOMAIN}",
        "exchange_guid": _guid(rng),
        "database": database,
        "server": DATABASES[database],
        "department": department,
        "email_addresses": addresses,
        "archive": archive,
        "total_item_size_bytes": size,
        "item_count": max(size // (rng.randint(60, 140) * 1024), 0),
        "archive_size_bytes": int(rng.lognormvariate(21, 1)) if archive else None,
        "archive_item_count": rng.randint(1000, 90000) if archive else None,
    }


def _user_names(rng: random.Random) -> list[tuple[str, str]]:
    names: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(names) < USERS:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        alias = f"{first}.{last}".lower()
        if alias in seen:
            alias = f"{alias}{sum(1 for a in seen if a.startswith(alias)) + 1}"
        seen.add(alias)
        names.append((alias, f"{first} {last}"))
    return names


def build_inventory() -> dict:
    rng = random.Random(SEED)
    mailboxes: list[dict] = []
    permissions: list[dict] = []
    by_department: dict[str, list[str]] = {}
    for number, (alias, display) in enumerate(_user_names(rng)):
        department = DEPARTMENTS[number % len(DEPARTMENTS)]
        mailboxes.append(_mailbox(rng, alias, display, department))
        by_department.setdefault(department, []).append(alias)
    # The long tail: one mailbox over 100 GB (planned) and one over 200 GB (cannot be onboarded).
    mailboxes[7].update(total_item_size_bytes=118 * GB + 123_456_789, archive=False, archive_size_bytes=None,
                        archive_item_count=None, item_count=1_312_004)
    mailboxes[11].update(total_item_size_bytes=214 * GB + 987_654_321, archive=False, archive_size_bytes=None,
                         archive_item_count=None, item_count=2_405_118)
    for alias, display in (("ceo", "Chief Executive"), ("cfo", "Chief Financial Officer"),
                           ("coo", "Chief Operating Officer"), ("exec.assistant1", "Executive Assistant 1"),
                           ("exec.assistant2", "Executive Assistant 2")):
        mailboxes.append(_mailbox(rng, alias, display, "Executive"))
    for executive, assistants in DELEGATES.items():
        for assistant in assistants:
            permissions.append({"grantor": executive, "grantee": assistant, "kind": "SendOnBehalf",
                                "access_rights": "GrantSendOnBehalfTo"})
            permissions.append({"grantor": executive, "grantee": assistant, "kind": "Calendar",
                                "access_rights": "Editor", "folder": f"{executive}:\\Calendar"})
    for alias, (department, team_size) in SHARED.items():
        mailboxes.append(_mailbox(rng, alias, f"{alias.capitalize()} shared mailbox", department,
                                  kind="SharedMailbox", archive=False))
        team = sorted(rng.sample(by_department[department], team_size))
        for member in team:
            permissions.append({"grantor": alias, "grantee": member, "kind": "FullAccess",
                                "access_rights": "FullAccess"})
        permissions.append({"grantor": alias, "grantee": team[0], "kind": "SendAs", "access_rights": "Send-As"})
    for alias in SERVICE_ACCOUNTS:
        mailboxes.append(_mailbox(rng, alias, f"Service account {alias}", "IT", size=50 * MB, archive=False,
                                  database="DB01"))
    discovery = _mailbox(rng, "DiscoverySearchMailbox", "Discovery Search Mailbox", None,
                         kind="DiscoveryMailbox", size=1 * MB, archive=False, database="DB01")
    discovery.update(primary_smtp_address=f"DiscoverySearchMailbox@{DOMAIN}",
                     email_addresses=[f"SMTP:DiscoverySearchMailbox@{DOMAIN}"])
    mailboxes.append(discovery)
    # A mailbox without SMTP address (a half-removed import account).
    orphan = _mailbox(rng, "legacy.import", "Legacy import", "IT", archive=False)
    orphan.update(primary_smtp_address=None, email_addresses=[])
    mailboxes.append(orphan)
    # A second mailbox with the primary address of another one (left over from a fabrikam merge).
    twin_of = mailboxes[20]["id"]
    twin = _mailbox(rng, f"{twin_of}.fabrikam", mailboxes[20]["display_name"] + " (Fabrikam)",
                    mailboxes[20]["department"], archive=False)
    twin.update(primary_smtp_address=mailboxes[20]["primary_smtp_address"],
                email_addresses=[f"SMTP:{mailboxes[20]['primary_smtp_address']}", f"smtp:{twin_of}@{LEGACY}"])
    mailboxes.append(twin)
    # A FullAccess grant to an account that was removed after the grant (a deleted object by name).
    permissions.append({"grantor": "finance", "grantee": REMOVED_OBJECT, "kind": "FullAccess",
                        "access_rights": "FullAccess"})
    # Service accounts: FullAccess on every other mailbox (the planner must exclude them).
    for mailbox in mailboxes:
        for account in SERVICE_ACCOUNTS:
            if mailbox["id"] not in SERVICE_ACCOUNTS and mailbox["recipient_type_details"] != "DiscoveryMailbox":
                permissions.append({"grantor": mailbox["id"], "grantee": account, "kind": "FullAccess",
                                    "access_rights": "FullAccess"})
    mailboxes.sort(key=lambda row: row["id"])
    permissions.sort(key=lambda row: (row["grantor"], row["grantee"], row["kind"]))
    domains = sorted({entry.partition(":")[2].rpartition("@")[2].lower()
                      for row in mailboxes for entry in row["email_addresses"]})
    return {
        "schema": 1,
        "collector": "Get-ExchangeMailboxInventory",
        "organisation": "Contoso",
        "collected_at": "2026-11-02T08:00:00Z",
        "mailboxes": mailboxes,
        "permissions": permissions,
        # The grant to a deleted user shows as S-1-5-21-...; the collector counts and skips it.
        "skipped_permissions": {"inherited": 4 * len(mailboxes), "self": len(mailboxes), "deny": 0,
                                "unresolved_sid": 1, "default_anonymous": 2 * len(mailboxes)},
        "ews_virtual_directories": [
            {"server": server, "identity": f"{server}\\EWS (Default Web Site)", "mrs_proxy_enabled": enabled,
             "external_url": "https://mail.contoso.com/EWS/Exchange.asmx",
             "internal_url": f"https://{server.lower()}.contoso.local/EWS/Exchange.asmx"}
            for server, enabled in (("EX19-DAG1", True), ("EX19-DAG2", True), ("EX19-DAG3", False))
        ],
        "accepted_domains": [
            {"domain_name": DOMAIN, "domain_type": "Authoritative", "default": True},
            {"domain_name": LEGACY, "domain_type": "Authoritative", "default": False},
            {"domain_name": ROUTING, "domain_type": "Authoritative", "default": False},
        ],
        "address_domains": domains,
        "errors": [],
    }


def render(inventory: dict) -> str:
    return json.dumps(inventory, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(build_inventory()), encoding="utf-8", newline="\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
