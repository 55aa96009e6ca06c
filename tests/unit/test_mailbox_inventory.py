"""Tests of the mailbox inventory: the loader, the demo generator and the read-only collector."""

from __future__ import annotations

import json
import re
from pathlib import Path

import check_powershell as cps
import generate_mailboxes as gm
import pytest
import tree_sitter

from exchange_remediation import mailbox_inventory as mi
from exchange_remediation.migration_batches import GB, Mailbox, PermissionLink

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "inventories" / "demo" / "organisation" / "mailboxes.json"
COLLECTOR = REPO / "roles" / "m365_migration_stage" / "files" / "Get-ExchangeMailboxInventory.ps1"


def _minimal(**extra) -> dict:
    data = {
        "schema": 1,
        "mailboxes": [
            {"id": "alice", "primary_smtp_address": "alice@contoso.com", "recipient_type_details": "UserMailbox",
             "database": "DB01", "department": "Sales", "archive": True, "total_item_size_bytes": 10,
             "archive_size_bytes": 5, "item_count": 3,
             "email_addresses": ["SMTP:alice@contoso.com", "smtp:Alice@Fabrikam.com", "X500:/o=x", "SIP:a@b.c",
                                 "smtp:alice@contoso.com"]},
            {"id": "bob", "primary_smtp_address": "bob@contoso.com", "archive": False,
             "total_item_size_bytes": 20, "item_count": None, "email_addresses": ["SMTP:bob@contoso.com"]},
        ],
        "permissions": [{"grantor": "alice", "grantee": "bob", "kind": "FullAccess"}],
    }
    data.update(extra)
    return data


def _write(tmp_path: Path, content: bytes | str, name: str = "mailboxes.json") -> str:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return str(path)


# --------------------------------------------------------------------------- loader


def test_demo_inventory_loads():
    load = mi.read_inventory(str(DEMO))
    assert load.error is None
    inventory = load.inventory
    assert inventory is not None
    assert len(inventory.mailboxes) == 313
    assert len(inventory.links) == 649
    ids = {mailbox.id for mailbox in inventory.mailboxes}
    assert {"finance", "hr", "helpdesk", "svc-backup", "svc-archive", "DiscoverySearchMailbox", "ceo",
            "exec.assistant1", "legacy.import"} <= ids
    # The only loader problem of the demo: the mailbox without SMTP address (kept for the planner).
    assert [(p.object, p.reason.split(";")[0]) for p in inventory.problems] == [
        ("mailbox legacy.import", "no primary SMTP address")]
    assert next(m for m in inventory.mailboxes if m.id == "legacy.import").email is None
    discovery = next(m for m in inventory.mailboxes if m.id == "DiscoverySearchMailbox")
    assert discovery.kind == "DiscoveryMailbox"
    assert {m.kind for m in inventory.mailboxes if m.id in {"finance", "hr", "helpdesk"}} == {"SharedMailbox"}
    assert {m.database for m in inventory.mailboxes} == {"DB01", "DB02", "DB03", "DB04"}
    sizes = sorted(m.size_bytes for m in inventory.mailboxes)
    assert sizes[-1] > 200 * GB and 100 * GB < sizes[-2] <= 200 * GB and sizes[-3] < 100 * GB
    # The removed object is kept as a link: the planner reports it.
    assert PermissionLink("finance", "CONTOSO\\former.employee", "FullAccess") in inventory.links
    assert inventory.skipped_permissions["unresolved_sid"] == 1
    assert inventory.address_domains == ("contoso.com", "contoso.mail.onmicrosoft.com", "fabrikam.com")
    assert [(v.server, v.mrs_proxy_enabled) for v in inventory.ews_vdirs] == [
        ("EX19-DAG1", True), ("EX19-DAG2", True), ("EX19-DAG3", False)]
    assert {d.domain_name for d in inventory.accepted_domains} == set(inventory.address_domains)
    assert [d.domain_name for d in inventory.accepted_domains if d.default] == ["contoso.com"]
    assert inventory.collection_errors == ()


def test_demo_addresses_cover_the_domains_as_described():
    inventory = mi.read_inventory(str(DEMO)).inventory
    assert inventory is not None
    users = [m for m in inventory.mailboxes if m.email]
    routing = [m for m in users if any(a.endswith("@contoso.mail.onmicrosoft.com") for a in inventory.addresses[m.id])]
    legacy = [m for m in users if any(a.endswith("@fabrikam.com") for a in inventory.addresses[m.id])]
    assert len(users) * 0.85 < len(routing) < len(users)
    assert 0 < len(legacy) < len(users) / 2
    for mailbox in users:
        assert inventory.addresses[mailbox.id][0] == mailbox.email
    primaries = [m.email.casefold() for m in users]
    assert len(primaries) - len(set(primaries)) == 1, "exactly one duplicate primary address"
    assert sum(m.archive for m in inventory.mailboxes) > 20


def test_parse_maps_rows_to_planner_inputs():
    inventory = mi.parse_inventory(_minimal(), "x.json")
    alice, bob = inventory.mailboxes
    assert alice == Mailbox("alice", "alice@contoso.com", 15, "DB01", "Sales", "UserMailbox", True)
    assert bob == Mailbox("bob", "bob@contoso.com", 20, None, None, "UserMailbox", False)
    assert inventory.addresses["alice"] == ("alice@contoso.com", "Alice@Fabrikam.com")
    assert inventory.item_counts == {"alice": 3, "bob": 0}
    assert inventory.links == (PermissionLink("alice", "bob", "FullAccess"),)
    assert inventory.address_domains == ("contoso.com", "fabrikam.com")
    assert inventory.problems == () and inventory.ews_vdirs == () and inventory.accepted_domains == ()


def test_bad_rows_are_problems_and_the_rest_is_read():
    data = _minimal()
    data["mailboxes"] += [
        {"id": "nosmtp", "primary_smtp_address": " ", "archive": False, "total_item_size_bytes": 1},
        {"id": "badsize", "primary_smtp_address": "b@contoso.com", "archive": False,
         "total_item_size_bytes": "1.2 GB"},
        {"id": "floaty", "primary_smtp_address": "f@contoso.com", "archive": False, "total_item_size_bytes": 1.5},
        {"id": "boolsize", "primary_smtp_address": "g@contoso.com", "archive": False, "total_item_size_bytes": True},
        {"id": "negative", "primary_smtp_address": "n@contoso.com", "archive": False, "total_item_size_bytes": -1},
        {"id": "ALICE", "primary_smtp_address": "alice2@contoso.com", "archive": False, "total_item_size_bytes": 1},
        {"primary_smtp_address": "anon@contoso.com", "archive": False, "total_item_size_bytes": 1},
        "not an object",
    ]
    data["permissions"] += [
        {"grantor": "alice", "grantee": "CONTOSO\\gone", "kind": "FullAccess"},
        {"grantor": "alice", "grantee": "bob", "kind": "Owner"},
        {"grantor": "alice", "kind": "SendAs"},
        ["alice", "bob"],
    ]
    data["ews_virtual_directories"] = [{"identity": "no server"}]
    data["accepted_domains"] = [{"domain_type": "Authoritative"}]
    inventory = mi.parse_inventory(data, "x.json")
    assert [m.id for m in inventory.mailboxes] == ["alice", "bob", "nosmtp"]
    assert next(m for m in inventory.mailboxes if m.id == "nosmtp").email is None
    assert PermissionLink("alice", "CONTOSO\\gone", "FullAccess") in inventory.links
    assert len(inventory.links) == 2
    reasons = {p.object: p.reason for p in inventory.problems}
    assert "no primary SMTP address" in reasons["mailbox nosmtp"]
    for name in ("badsize", "floaty", "boolsize", "negative"):
        assert "total_item_size_bytes" in reasons[f"mailbox {name}"] and "dropped" in reasons[f"mailbox {name}"]
    assert reasons["mailbox ALICE"] == "duplicate mailbox id (first as alice); dropped"
    assert reasons["mailboxes[8]"] == "mailbox without an id; dropped"
    assert reasons["mailboxes[9]"] == "mailbox entry is not an object; dropped"
    assert reasons["alice -> bob"] == "unknown permission kind 'Owner'; dropped"
    assert reasons["permissions[3]"] == "permission without grantor or grantee; dropped"
    assert reasons["permissions[4]"] == "permission entry is not an object; dropped"
    assert "without a server" in reasons["ews_virtual_directories[0]"]
    assert "without a domain_name" in reasons["accepted_domains[0]"]
    assert len(inventory.problems) == 13


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("archive", "yes", "archive 'yes' is not true or false"),
        ("archive_size_bytes", "5 MB", "archive_size_bytes '5 MB' is not a byte count"),
        ("item_count", -3, "item_count -3 is not a whole number"),
    ],
)
def test_malformed_mailbox_fields(field, value, message):
    data = _minimal()
    data["mailboxes"][0][field] = value
    inventory = mi.parse_inventory(data, "x.json")
    assert [m.id for m in inventory.mailboxes] == ["bob"]
    assert inventory.problems[0].object == "mailbox alice"
    assert message in inventory.problems[0].reason


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is not valid JSON: Expecting value at line 1 column 1"),
        (b"{\"schema\": 1,", "is not valid JSON"),
        (b"\xff\xfe{}", "is not UTF-8 text (byte 0)"),
        (b"[1, 2]", "does not hold a JSON object"),
        (b"{\"schema\": 2, \"mailboxes\": [], \"permissions\": []}", "has schema 2; this version reads schema 1"),
        (b"{\"schema\": true, \"mailboxes\": [], \"permissions\": []}", "has schema True"),
        (b"{\"mailboxes\": [], \"permissions\": []}", "has schema None"),
        (b"{\"schema\": 1, \"permissions\": []}", "'mailboxes' must be a list, got NoneType"),
        (b"{\"schema\": 1, \"mailboxes\": {}, \"permissions\": []}", "'mailboxes' must be a list, got dict"),
        (b"{\"schema\": 1, \"mailboxes\": [], \"permissions\": \"x\"}", "'permissions' must be a list, got str"),
        (b"{\"schema\": 1, \"mailboxes\": [], \"permissions\": [], \"accepted_domains\": 3}",
         "'accepted_domains' must be a list, got int"),
        (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    ],
)
def test_malformed_file_gives_a_clear_error(tmp_path, content, expected):
    path = _write(tmp_path, content)
    load = mi.read_inventory(path)
    assert load.inventory is None
    assert load.error is not None and load.error.startswith(path) and expected in load.error


def test_missing_folder_empty_and_huge_files(tmp_path, monkeypatch):
    assert mi.read_inventory("") == mi.InventoryLoad(None, "no mailbox inventory file given")
    missing = str(tmp_path / "nope.json")
    assert mi.read_inventory(missing).error == f"{missing} is missing"
    assert mi.read_inventory(str(tmp_path)).error == f"{tmp_path} is a folder, not a mailbox inventory file"
    path = _write(tmp_path, json.dumps(_minimal()))
    monkeypatch.setattr(mi, "MAX_INVENTORY_BYTES", 10)
    error = mi.read_inventory(path).error
    assert error is not None and error.startswith(path) and "too large" in error


def test_byte_order_mark_is_accepted(tmp_path):
    path = _write(tmp_path, b"\xef\xbb\xbf" + json.dumps(_minimal()).encode("utf-8"))
    load = mi.read_inventory(path)
    assert load.error is None and load.inventory is not None and len(load.inventory.mailboxes) == 2


# --------------------------------------------------------------------------- generator


def test_generator_is_deterministic_and_the_committed_file_is_current(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert gm.main(["--out", str(first)]) == 0
    assert gm.main(["--out", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() == DEMO.read_bytes(), "run: python tools/generate_mailboxes.py"


def test_generated_inventory_matches_its_own_facts():
    data = gm.build_inventory()
    assert data["schema"] == 1
    domains = {entry.split(":", 1)[1].rsplit("@", 1)[1].lower()
               for row in data["mailboxes"] for entry in row["email_addresses"]}
    assert data["address_domains"] == sorted(domains)
    svc = {(p["grantor"], p["grantee"]) for p in data["permissions"] if p["grantee"] in gm.SERVICE_ACCOUNTS}
    others = [r["id"] for r in data["mailboxes"]
              if r["id"] not in gm.SERVICE_ACCOUNTS and r["recipient_type_details"] != "DiscoveryMailbox"]
    assert svc == {(mailbox, account) for mailbox in others for account in gm.SERVICE_ACCOUNTS}


# --------------------------------------------------------------------------- collector

READ_ONLY_COMMANDS = {
    "add-pssnapin",
    "foreach-object",
    "get-accepteddomain",
    "get-adpermission",
    "get-command",
    "get-date",
    "get-mailbox",
    "get-mailboxfolderpermission",
    "get-mailboxfolderstatistics",
    "get-mailboxpermission",
    "get-mailboxstatistics",
    "get-organizationconfig",
    "get-user",
    "get-variable",
    "get-webservicesvirtualdirectory",
    "set-strictmode",
    "where-object",
}
STATE_CHANGING = re.compile(
    r"\b(?:(?:Set|New|Remove|Enable|Disable|Start|Stop|Restart|Install|Uninstall|Clear|Add|Rename|Move|"
    r"Copy|Suspend|Resume|Register|Unregister|Update|Write|Out|Export|Invoke|Grant|Revoke|Complete|Test)-"
    r"[A-Za-z]+|iex)\b",
    re.IGNORECASE,
)
# Set-StrictMode and Add-PSSnapin affect the collector's own runspace; the two Add- functions are the
# script's own and only append to its in-memory lists.
STATE_CHANGING_ALLOWED = {"set-strictmode", "add-pssnapin", "add-collectionerror", "add-recipientkey"}


def _text() -> str:
    return cps.read_script(COLLECTOR)


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _tree():
    return tree_sitter.Parser(cps.LANGUAGE).parse(_text().encode("utf-8"))


def _code_without_comments() -> str:
    raw = _text().encode("utf-8")
    out = bytearray(raw)
    for node in _walk(_tree().root_node):
        if node.type == "comment":
            out[node.start_byte:node.end_byte] = b" " * (node.end_byte - node.start_byte)
    return out.decode("utf-8")


def test_collector_parses_and_has_the_house_style():
    assert cps.syntax_errors(_text()) == []
    report = cps.check_paths([COLLECTOR], REPO)
    assert report.ok and report.files == 1
    raw = COLLECTOR.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"\n") and b"\r" not in raw
    text = _text()
    assert re.match(r"\s*<#.*?\.SYNOPSIS.*?\.DESCRIPTION.*?#>\s*\[CmdletBinding\(\)\]", text, re.S)
    code = _code_without_comments()
    assert re.search(r"^Set-StrictMode -Version 2\s*$", code, re.M)
    assert re.search(r"^\s*\$Ansible\.Changed = \$false\s*$", code, re.M)
    assert re.search(r"^\s*\$Ansible\.Result = \$result\s*$", code, re.M)
    assert not re.search(r"\bthrow\b|\bWrite-Host\b", code, re.I)
    functions = re.findall(r"^function ([\w-]+) \{\n(.*?)^\}", text, re.M | re.S)
    assert len(functions) >= 12
    for name, body in functions:
        assert re.match(r"\s*<#\s*\.SYNOPSIS", body), f"{name} lacks comment-based help"


def test_collector_commands_are_an_allowlist_of_reads():
    own, commands = set(), set()
    for node in _walk(_tree().root_node):
        if node.type == "function_statement":
            own.update(c.text.decode().lower() for c in node.children if c.type == "function_name")
        elif node.type == "command_name":
            commands.add(node.text.decode().lower())
        elif node.type == "command_name_expr":
            pytest.fail(f"dynamic command invocation: {node.text.decode()}")
    unknown = sorted(commands - own - READ_ONLY_COMMANDS)
    assert not unknown, f"commands outside the read-only allowlist: {unknown}"
    assert {c for c in commands - own if c.startswith("get-")} >= {
        "get-mailbox", "get-mailboxstatistics", "get-mailboxpermission", "get-adpermission", "get-user",
        "get-mailboxfolderstatistics", "get-mailboxfolderpermission", "get-webservicesvirtualdirectory",
        "get-accepteddomain"}
    for name in own:
        assert name.split("-", 1)[0] in {"get", "add", "convertto", "import", "resolve"}, name


def test_collector_changes_nothing():
    code = _code_without_comments()
    hits = sorted({m.group(0) for m in STATE_CHANGING.finditer(code)})
    assert {hit.lower() for hit in hits} <= STATE_CHANGING_ALLOWED, hits
    assert not re.search(r"Invoke-Expression|\biex\b|\[ScriptBlock\]::Create", code, re.I)
    assert not re.search(r"(^|[^\w$'-])(>>?|Out-File|Set-Content|Add-Content|New-Item|Remove-Item)\s", code, re.M)
    for sample in ("Set-Mailbox -Identity x", "Add-MailboxPermission x", "New-MoveRequest x", "Remove-ADPermission"):
        assert STATE_CHANGING.search(sample), sample


def test_collector_reads_and_skips_what_the_format_documents():
    code = _code_without_comments()
    for needle in ("-FolderScope 'Calendar'", "'NT AUTHORITY\\SELF'", "'^S-1-5-[\\d-]+$'", "IsInherited", "'Deny'",
                   "'Default'", "'Anonymous'", "GrantSendOnBehalfTo", "'Send-As'", "MRSProxyEnabled", "ToBytes",
                   "-Archive", "schema                  = 1", "ResultSize"):
        assert needle in code, needle
    docs = (REPO / "docs" / "migration-inventory.md").read_text(encoding="utf-8")
    keys = set(re.findall(r"^ +([a-z_]+)\s+= ", code, re.M))
    for line in re.findall(r"\[ordered\]@\{ grantor = .*\}", code):
        keys.update(re.findall(r"([a-z_]+) = ", line))
    assert {"grantor", "grantee", "kind", "access_rights", "folder", "unresolved_sid", "mrs_proxy_enabled",
            "archive_size_bytes", "address_domains", "id"} <= keys
    undocumented = sorted(key for key in keys if f"`{key}`" not in docs)
    assert not undocumented, f"keys the collector writes but docs/migration-inventory.md lacks: {undocumented}"
