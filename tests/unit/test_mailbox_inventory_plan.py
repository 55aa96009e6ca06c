"""The demo mailbox inventory through migration_batches.plan_batches (m365-migration.md §6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange_remediation import mailbox_inventory as mi
from exchange_remediation.migration_batches import GB, GONE, BatchLimits, BatchOptions, plan_batches

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "inventories" / "demo" / "organisation" / "mailboxes.json"
SERVICE = frozenset({"svc-backup", "svc-archive"})
LIMITS = BatchLimits(max_mailboxes=100, max_bytes=1500 * GB)


@pytest.fixture(scope="module")
def inventory():
    load = mi.read_inventory(str(DEMO))
    assert load.error is None and load.inventory is not None
    return load.inventory


@pytest.fixture(scope="module")
def plan(inventory):
    return plan_batches(inventory.mailboxes, inventory.links, LIMITS, BatchOptions(service_accounts=SERVICE))


def _links(inventory, kinds):
    return [link for link in inventory.links if link.kind in kinds]


def test_every_linked_group_lands_in_one_batch(inventory, plan):
    assert plan.oversized == ()
    for shared in ("finance", "hr", "helpdesk"):
        team = {link.grantee for link in _links(inventory, {"FullAccess", "SendAs"})
                if link.grantor == shared and link.grantee not in SERVICE and "\\" not in link.grantee}
        assert len(team) >= 5, shared
        assert {plan.batch_of(member) for member in team | {shared}} == {plan.batch_of(shared)}, shared
        assert plan.batch_of(shared) is not None
    delegation = _links(inventory, {"SendOnBehalf", "Calendar"})
    assert {(link.kind, link.grantor) for link in delegation} == {
        (kind, executive) for kind in ("SendOnBehalf", "Calendar") for executive in ("ceo", "cfo", "coo")}
    # ceo and cfo share an assistant: one cluster of three; coo and its assistant another.
    first = {plan.batch_of(m) for m in ("ceo", "cfo", "exec.assistant1")}
    second = {plan.batch_of(m) for m in ("coo", "exec.assistant2")}
    assert len(first) == 1 and len(second) == 1 and None not in first | second
    clusters = {c.mailbox_ids for c in plan.components if c.count > 1}
    assert ("ceo", "cfo", "exec.assistant1") in clusters
    assert ("coo", "exec.assistant2") in clusters
    # With the service accounts excluded, only real delegation holds mailboxes together:
    # the three teams and two clusters are the only multi-mailbox components.
    assert len(clusters) == 5


def test_no_link_crosses_two_batches(inventory, plan):
    for link in inventory.links:
        ends = (plan.batch_of(link.grantor), plan.batch_of(link.grantee))
        if None not in ends:
            assert ends[0] == ends[1], link


def test_problems_and_exclusions(inventory, plan):
    problems = {(p.object, p.reason) for p in plan.problems}
    huge = [m for m in inventory.mailboxes if m.size_bytes > 200 * GB]
    assert len(huge) == 1
    assert any(obj == huge[0].id and "over 200 GB" in reason for obj, reason in problems)
    assert plan.batch_of(huge[0].id) is None
    large = [m for m in inventory.mailboxes if 100 * GB < m.size_bytes <= 200 * GB]
    assert len(large) == 1 and plan.batch_of(large[0].id) is not None
    assert ("CONTOSO\\former.employee", f"{GONE}: 1 link dropped") in problems
    duplicates = [p for p in plan.problems if p.reason.startswith("duplicate email address")]
    assert len(duplicates) == 2
    twin = next(p.object for p in duplicates if p.reason.endswith("excluded"))
    assert twin.endswith(".fabrikam") and plan.batch_of(twin) is None
    assert len(plan.problems) == 4
    excluded = {e.id: e.reason for e in plan.excluded}
    assert set(excluded) == {"DiscoverySearchMailbox", "legacy.import", "svc-backup", "svc-archive", twin}
    assert excluded["DiscoverySearchMailbox"].startswith("DiscoveryMailbox: system mailbox")
    assert excluded["legacy.import"] == "no SMTP address"


def test_every_other_mailbox_is_planned_within_the_limits(inventory, plan):
    planned = [m for batch in plan.batches for m in batch.mailbox_ids]
    assert len(planned) == len(set(planned))
    assert len(planned) == len(inventory.mailboxes) - len(plan.excluded) - 1  # the one over 200 GB
    for batch in plan.batches:
        assert batch.count <= LIMITS.max_mailboxes and batch.total_bytes <= LIMITS.max_bytes
    assert {batch.key for batch in plan.batches} == {"DB01", "DB02", "DB03", "DB04"}


def test_without_excluding_the_service_accounts_everything_collapses(inventory):
    plan = plan_batches(inventory.mailboxes, inventory.links, BatchLimits(1000, 100_000 * GB), BatchOptions())
    assert len(plan.batches) == 1
