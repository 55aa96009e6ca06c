"""Batch files: CSVs New-MigrationBatch accepts as they are, a JSON-ready plan, an inert Markdown page."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_remediation.migration_batch_files import batch_csv, mailbox_days, plan_dict, plan_markdown
from exchange_remediation.migration_batches import (
    GB,
    Batch,
    BatchLimits,
    BatchOptions,
    Mailbox,
    PermissionLink,
    plan_batches,
)

MAILBOXES = [
    Mailbox("alice.meyer", "alice.meyer@contoso.com", 3 * GB, "DB01", "Sales", archive=True),
    Mailbox("bob.schmidt", "bob.schmidt@contoso.com", 60 * GB, "DB01", "Sales"),
    Mailbox("sales-team", "sales@contoso.com", 12 * GB, "DB01", "Sales", "SharedMailbox"),
    Mailbox("hr.olga", "olga.neumann@contoso.com", GB // 2, "DB02", "HR"),
    Mailbox("svc-backup", "svc-backup@contoso.com", 1024, "DB01", "IT"),
    Mailbox("discovery", "DiscoverySearchMailbox@contoso.com", 1024, "DB01", kind="DiscoveryMailbox"),
    Mailbox("ceo.vault", "ceo@contoso.com", 250 * GB, "DB03", "Executive"),
]
LINKS = [PermissionLink("sales-team", "alice.meyer", "FullAccess"),
         PermissionLink("sales-team", "bob.schmidt", "FullAccess"),
         PermissionLink("hr.olga", "S-1-5-21-1004336348-1177238915-682003330-7001", "Calendar"),
         PermissionLink("hr.olga", "svc-backup", "FullAccess")]


def _plan():
    return plan_batches(MAILBOXES, LINKS, BatchLimits(10, 500 * GB),
                        BatchOptions(service_accounts=frozenset({"svc-backup"})))


def test_batch_csv_is_exactly_what_new_migrationbatch_takes() -> None:
    plan = _plan()
    by_id = {mailbox.id: mailbox for mailbox in MAILBOXES}
    assert batch_csv(plan.batches[0], by_id) == (
        "EmailAddress,MailboxType\r\n"
        "alice.meyer@contoso.com,PrimaryAndArchive\r\n"
        "bob.schmidt@contoso.com,PrimaryOnly\r\n"
        "sales@contoso.com,PrimaryOnly\r\n")
    encoded = batch_csv(plan.batches[0], by_id).encode("utf-8")
    assert not encoded.startswith(b"\xef\xbb\xbf")
    assert b"\n" not in encoded.replace(b"\r\n", b"")


@pytest.mark.parametrize("email", ['"alice"@contoso.com', "alice,bob@contoso.com", "alice@contoso.com\r\nx@y.z",
                                   "alice@contoso.com\nEmailAddress", ""])
def test_batch_csv_refuses_addresses_that_would_break_the_file(email: str) -> None:
    mailbox = Mailbox("alice", email, GB)
    with pytest.raises(ValueError, match="alice"):
        batch_csv(Batch("Batch-001", ("alice",), GB), {"alice": mailbox})


def test_batch_csv_refuses_a_mailbox_missing_from_the_inventory() -> None:
    with pytest.raises(ValueError, match="not in the inventory"):
        batch_csv(Batch("Batch-001", ("ghost",), GB), {})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9.\-]{0,20}@contoso\.com", fullmatch=True), st.booleans()),
                min_size=1, max_size=20, unique_by=lambda row: row[0]))
def test_batch_csv_has_one_crlf_row_per_mailbox(rows: list[tuple[str, bool]]) -> None:
    mailboxes = {f"m{number}": Mailbox(f"m{number}", email, GB, archive=archive)
                 for number, (email, archive) in enumerate(rows)}
    text = batch_csv(Batch("Batch-001", tuple(mailboxes), GB * len(rows)), mailboxes)
    assert text.endswith("\r\n")
    lines = text[:-2].split("\r\n")
    assert lines[0] == "EmailAddress,MailboxType"
    assert [line.split(",") for line in lines[1:]] == [
        [email, "PrimaryAndArchive" if archive else "PrimaryOnly"] for email, archive in rows]


@pytest.mark.parametrize(("size", "days"), [
    (0, (1, 7)), (GB - 1, (1, 7)), (5 * GB, (1, 7)), (10 * GB, (3, 14)), (49 * GB, (3, 14)), (50 * GB, (3, 30)),
    (100 * GB, (8, 45)), (200 * GB, (8, 45)),
])
def test_mailbox_days_follow_the_percentile_table(size: int, days: tuple[int, int]) -> None:
    assert mailbox_days(size) == days


def test_mailbox_days_refuse_a_mailbox_over_200_gb() -> None:
    with pytest.raises(ValueError, match="200 GB"):
        mailbox_days(200 * GB + 1)


def test_plan_dict_is_json_ready_and_complete() -> None:
    plan = _plan()
    data = plan_dict(plan, MAILBOXES)
    assert json.loads(json.dumps(data)) == data
    first, second = data["batches"]
    assert first == {"name": "Batch-001-DB01", "key": "DB01", "count": 3, "bytes": 75 * GB,
                     "estimated_days": {"median": 3, "p90": 30}, "csv": "Batch-001-DB01.csv",
                     "mailboxes": ["alice.meyer", "bob.schmidt", "sales-team"]}
    assert second["name"] == "Batch-002-DB02" and second["estimated_days"] == {"median": 1, "p90": 7}
    assert data["excluded"] == [
        {"id": "discovery", "reason": "DiscoveryMailbox: system mailbox, not migrated in a batch"},
        {"id": "svc-backup", "reason": "service account: excluded, its permissions ignored"}]
    assert [problem["object"] for problem in data["problems"]] == [
        "S-1-5-21-1004336348-1177238915-682003330-7001", "ceo.vault"]
    assert data["summary"] == {
        "mailboxes": 7, "batches": 2, "planned_mailboxes": 4, "planned_bytes": 75 * GB + GB // 2,
        "largest_batch": 3, "smallest_batch": 1, "components": 2, "largest_component": 3, "excluded": 2,
        "oversized_components": 0, "oversized_mailboxes": 0, "problems": 2,
        "estimated_days": {"median": 3, "p90": 30}}


def test_plan_dict_lists_oversized_components_with_members_and_why() -> None:
    plan = plan_batches(MAILBOXES[:3], LINKS[:2], BatchLimits(2, 500 * GB), BatchOptions())
    data = plan_dict(plan, MAILBOXES[:3])
    assert data["batches"] == []
    assert data["oversized"] == [{"members": ["alice.meyer", "bob.schmidt", "sales-team"], "count": 3,
                                  "bytes": 75 * GB, "reason": "3 linked mailboxes > max_mailboxes 2: "
                                                              "not split, placed in no batch"}]
    assert data["summary"]["oversized_mailboxes"] == 3


def test_plan_markdown_shows_every_section() -> None:
    text = plan_markdown(plan_dict(_plan(), MAILBOXES))
    assert text.startswith("# Migration batch plan\n")
    assert "| Batch-001-DB01 | DB01 | 3 | 75.0 GB | 3 / 30 | Batch-001-DB01.csv |" in text
    assert "## Problems" in text and "ceo.vault" in text
    assert "| svc-backup | service account: excluded, its permissions ignored |" in text
    empty = plan_markdown(plan_dict(plan_batches([], [], BatchLimits(1, GB), BatchOptions()), []))
    assert "No batches." in empty and "## Excluded" not in empty


def test_plan_markdown_keeps_hostile_names_inert() -> None:
    hostile = [Mailbox("evil|<script>alert(1)</script>", "evil@contoso.com", GB, "DB01"),
               Mailbox("**pwn** [x](http://evil.example)\n# heading", None, GB, "DB01"),
               Mailbox("`code` ~~strike~~ _x_", "x@contoso.com", GB, "DB|01 <b>")]
    links = [PermissionLink("evil|<script>alert(1)</script>", "![img](http://evil.example/a.png)", "SendAs"),
             PermissionLink("evil|<script>alert(1)</script>", "`code` ~~strike~~ _x_", "FullAccess")]
    # One mailbox per batch: the linked pair is an oversized component, listed by member names.
    plan = plan_batches([*hostile, Mailbox("ok", "ok@contoso.com", GB, "DB|01 <b>")], links, BatchLimits(1, 100 * GB),
                        BatchOptions(order_by="database"))
    text = plan_markdown(plan_dict(plan, [*hostile, Mailbox("ok", "ok@contoso.com", GB, "DB|01 <b>")]))
    assert "| Batch-001-DB-01-b | DB\\|01 \\<b\\> | 1 | 1.0 GB | 1 / 7 | Batch-001-DB-01-b.csv |" in text
    assert "<script>" not in text and "<b>" not in text
    assert "\\<script\\>" in text
    assert "\\*\\*pwn\\*\\* \\[x\\](http://evil.example)" in text
    assert "\\!\\[img\\]" in text
    assert "\\`code\\` \\~\\~strike\\~\\~ \\_x\\_" in text
    for line in text.splitlines():
        assert not line.startswith("# heading")
        if line.startswith("|"):
            assert line.count("|") - line.count("\\|") in {3, 5, 7, 9}, line
