"""Migration batches: linked mailboxes move together, limits hold, nothing is lost or planned twice."""

from __future__ import annotations

import random
from collections import Counter
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_remediation.migration_batches import (
    GB,
    GONE,
    MAX_BATCH_NAME,
    BatchLimits,
    BatchOptions,
    BatchPlan,
    Mailbox,
    PermissionLink,
    plan_batches,
)

SERVICE = frozenset({"svc-backup", "svc-archive"})


def _user(mailbox_id: str, size_gb: float = 2, database: str = "DB01", department: str = "Sales",
          archive: bool = False) -> Mailbox:
    return Mailbox(mailbox_id, f"{mailbox_id}@contoso.com", int(size_gb * GB), database, department,
                   "UserMailbox", archive)


def _assert_valid(mailboxes: list[Mailbox], links: list[PermissionLink], limits: BatchLimits,
                  options: BatchOptions, plan: BatchPlan) -> None:
    by_id = {mailbox.id: mailbox for mailbox in mailboxes}
    placed = [mailbox_id for batch in plan.batches for mailbox_id in batch.mailbox_ids]
    excluded = [entry.id for entry in plan.excluded]
    oversized = [mailbox_id for component in plan.oversized for mailbox_id in component.mailbox_ids]
    problem_only = {problem.object for problem in plan.problems if "200 GB" in problem.reason}
    accounted = Counter(placed + excluded + oversized + sorted(problem_only))
    assert set(accounted) == set(by_id), "every mailbox accounted for"
    assert all(count == 1 for count in accounted.values()), f"a mailbox placed twice: {accounted.most_common(3)}"
    batch_of = {mailbox_id: batch.name for batch in plan.batches for mailbox_id in batch.mailbox_ids}
    in_oversized = set(oversized)
    service = {name.casefold() for name in options.service_accounts}
    for link in links:
        if link.grantor.casefold() in service or link.grantee.casefold() in service:
            continue
        if link.grantor in batch_of and link.grantee in batch_of:
            assert batch_of[link.grantor] == batch_of[link.grantee], f"{link} crosses two batches"
        # A planned mailbox is never linked to one left in an oversized component.
        if link.grantor in batch_of or link.grantee in batch_of:
            assert link.grantor not in in_oversized and link.grantee not in in_oversized
    names = [batch.name for batch in plan.batches]
    assert len(names) == len(set(names))
    for batch in plan.batches:
        assert 0 < batch.count <= limits.max_mailboxes
        assert batch.total_bytes == sum(by_id[m].size_bytes for m in batch.mailbox_ids) <= limits.max_bytes
        assert len(batch.name) <= MAX_BATCH_NAME
    for component in plan.oversized:
        assert component.count > limits.max_mailboxes or component.total_bytes > limits.max_bytes


# --- hand-written estates ---------------------------------------------------------------------------


def test_shared_mailbox_and_its_fullaccess_team_move_together_and_service_accounts_do_not_bind() -> None:
    team = [_user(name) for name in ("alice.meyer", "bob.schmidt", "carla.weber")]
    shared = Mailbox("sales-team", "sales@contoso.com", 30 * GB, "DB02", "Sales", "SharedMailbox")
    others = [_user(f"user{number:02d}", database="DB02") for number in range(6)]
    svc = [Mailbox("svc-backup", "svc-backup@contoso.com", 1024), Mailbox("SVC-Archive", "archive@contoso.com", 1)]
    discovery = Mailbox("discovery", "DiscoverySearchMailbox@contoso.com", 1024, kind="DiscoveryMailbox")
    mailboxes = [*team, shared, *others, *svc, discovery]
    links = [PermissionLink("sales-team", member.id, "FullAccess") for member in team]
    links += [PermissionLink(box.id, "svc-backup", "FullAccess") for box in [*team, *others]]
    links += [PermissionLink(box.id, "svc-archive", "FullAccess") for box in [*team, *others]]  # case differs
    limits = BatchLimits(max_mailboxes=4, max_bytes=100 * GB)
    options = BatchOptions(service_accounts=SERVICE)
    plan = plan_batches(mailboxes, links, limits, options)
    _assert_valid(mailboxes, links, limits, options, plan)
    assert plan.batch_of("alice.meyer") == plan.batch_of("sales-team") == plan.batch_of("carla.weber")
    assert plan.batch_of("svc-backup") is None
    assert {entry.id: entry.reason for entry in plan.excluded} == {
        "SVC-Archive": "service account: excluded, its permissions ignored",
        "discovery": "DiscoveryMailbox: system mailbox, not migrated in a batch",
        "svc-backup": "service account: excluded, its permissions ignored",
    }
    assert plan.problems == ()
    # The team of four goes with DB01 (three of its members live there) and fills one batch; the six
    # DB02 mailboxes need two batches of at most four and are levelled to three each.
    assert [(batch.key, batch.count) for batch in plan.batches] == [("DB01", 4), ("DB02", 3), ("DB02", 3)]


def test_a_service_account_may_be_named_by_its_address() -> None:
    mailboxes = [_user("alice.meyer"), _user("bob.schmidt"), Mailbox("u-4711", "svc-scom@contoso.com", 1024)]
    links = [PermissionLink(user, "u-4711", "FullAccess") for user in ("alice.meyer", "bob.schmidt")]
    options = BatchOptions(service_accounts=frozenset({"SVC-SCOM@contoso.com"}))
    plan = plan_batches(mailboxes, links, BatchLimits(1, 10 * GB), options)
    assert [entry.id for entry in plan.excluded] == ["u-4711"]
    assert [batch.mailbox_ids for batch in plan.batches] == [("alice.meyer",), ("bob.schmidt",)]


def test_links_to_deleted_objects_are_reported_once_per_object_and_dropped() -> None:
    mailboxes = [_user("alice.meyer"), _user("bob.schmidt")]
    sid = "S-1-5-21-1004336348-1177238915-682003330-7001"
    links = [PermissionLink("alice.meyer", sid, "FullAccess"), PermissionLink(sid, "bob.schmidt", "SendAs"),
             PermissionLink("alice.meyer", "ghost.user", "Calendar")]
    plan = plan_batches(mailboxes, links, BatchLimits(1, 10 * GB), BatchOptions())
    assert [(p.object, p.reason) for p in plan.problems] == [
        (sid, f"{GONE}: 2 links dropped"), ("ghost.user", f"{GONE}: 1 link dropped")]
    assert [batch.mailbox_ids for batch in plan.batches] == [("alice.meyer",), ("bob.schmidt",)]


def test_duplicate_address_keeps_the_first_and_excludes_the_second_and_huge_mailboxes_are_problems() -> None:
    mailboxes = [_user("alice.meyer"), Mailbox("alice.old", "Alice.Meyer@contoso.com", GB, "DB01"),
                 _user("ceo.archive", size_gb=201), _user("legal.hold", size_gb=200),
                 Mailbox("no.smtp", None, GB), Mailbox("blank.smtp", "  ", GB)]
    links = [PermissionLink("alice.old", "alice.meyer", "FullAccess")]
    limits = BatchLimits(10, 1000 * GB)
    plan = plan_batches(mailboxes, links, limits, BatchOptions())
    _assert_valid(mailboxes, links, limits, BatchOptions(), plan)
    reasons = {(p.object, p.reason) for p in plan.problems}
    assert ("alice.meyer", "duplicate email address Alice.Meyer@contoso.com (also on alice.old); planned") in reasons
    assert ("alice.old", "duplicate email address Alice.Meyer@contoso.com (first on alice.meyer); excluded") in reasons
    assert ("ceo.archive", "201.0 GB: mailboxes over 200 GB are not supported for onboarding; not planned") in reasons
    assert {e.id for e in plan.excluded} == {"alice.old", "no.smtp", "blank.smtp"}
    assert plan.batches[0].mailbox_ids == ("alice.meyer", "legal.hold")  # exactly 200 GB is still supported


def test_a_component_over_the_limits_is_reported_not_split() -> None:
    chain = [_user(f"exec{number}", size_gb=40) for number in range(5)]
    links = [PermissionLink(a.id, b.id, "SendOnBehalf") for a, b in pairwise(chain)]
    free = [_user(f"staff{number}") for number in range(3)]
    plan = plan_batches(chain + free, links, BatchLimits(4, 150 * GB), BatchOptions())
    assert len(plan.oversized) == 1
    assert plan.oversized[0].mailbox_ids == tuple(box.id for box in chain)
    assert plan.oversized[0].reason == ("5 linked mailboxes > max_mailboxes 4; 200.0 GB > max_bytes 150.0 GB: "
                                        "not split, placed in no batch")
    assert [batch.mailbox_ids for batch in plan.batches] == [("staff0", "staff1", "staff2")]


def test_order_by_database_groups_batches_by_database_in_sorted_order() -> None:
    mailboxes = [_user(f"{db.lower()}-user{number}", database=db) for db in ("DB03", "DB01", "DB02")
                 for number in range(5)]
    homeless = Mailbox("(moved)-user", "moved@contoso.com", GB, None, "Sales")
    plan = plan_batches([homeless, *mailboxes], [], BatchLimits(3, 100 * GB), BatchOptions())
    assert [batch.key for batch in plan.batches] == ["DB01", "DB01", "DB02", "DB02", "DB03", "DB03", "(none)"]
    assert plan.batches[-1].name == "Batch-007-none"
    plan = plan_batches(mailboxes, [], BatchLimits(3, 100 * GB), BatchOptions())
    assert [batch.name for batch in plan.batches][:2] == ["Batch-001-DB01", "Batch-002-DB01"]
    assert sorted(batch.count for batch in plan.batches) == [2, 2, 2, 3, 3, 3]  # levelled, not 3 + 2 by chance
    for batch in plan.batches:
        assert all(mailbox_id.startswith(batch.key.lower()) for mailbox_id in batch.mailbox_ids)


def test_a_cross_database_component_goes_with_the_database_most_of_it_shares() -> None:
    mailboxes = [_user("a1", database="DB02"), _user("a2", database="DB02"), _user("a3", database="DB01")]
    links = [PermissionLink("a1", "a3", "Calendar"), PermissionLink("a2", "a3", "Folder")]
    plan = plan_batches(mailboxes, links, BatchLimits(10, 100 * GB), BatchOptions(order_by="department"))
    assert [(batch.key, batch.mailbox_ids) for batch in plan.batches] == [("Sales", ("a1", "a2", "a3"))]
    plan = plan_batches(mailboxes, links, BatchLimits(10, 100 * GB), BatchOptions())
    assert [(batch.key, batch.mailbox_ids) for batch in plan.batches] == [("DB02", ("a1", "a2", "a3"))]


def test_order_by_list_puts_the_listed_mailboxes_first_in_list_order() -> None:
    mailboxes = [_user(f"user{number:02d}") for number in range(10)]
    links = [PermissionLink("user09", "user00", "FullAccess")]
    options = BatchOptions(order_by="list", order=("user07", "user09", "nobody"), batch_prefix="Pilot")
    limits = BatchLimits(3, 100 * GB)
    plan = plan_batches(mailboxes, links, limits, options)
    _assert_valid(mailboxes, links, limits, options, plan)
    assert plan.batches[0].mailbox_ids == ("user00", "user07", "user09")
    assert plan.batches[0].name == "Pilot-001"
    assert sum(batch.count for batch in plan.batches) == 10


def test_batch_names_stay_within_64_characters_and_unsafe_characters_are_replaced() -> None:
    mailboxes = [_user(f"user{number}", database="DB/ÄÖ 01 " + "x" * 80) for number in range(3)]
    plan = plan_batches(mailboxes, [], BatchLimits(1, 100 * GB), BatchOptions(batch_prefix="Wave 1: " + "y" * 80))
    assert all(len(batch.name) == MAX_BATCH_NAME for batch in plan.batches)
    assert plan.batches[0].name.startswith("Wave-1-yyy")
    assert plan.batches[0].name.endswith("-001")  # the number survives truncation, the key does not fit
    assert len({batch.name for batch in plan.batches}) == 3


@pytest.mark.parametrize(("limits", "options", "message"), [
    (BatchLimits(0, GB), BatchOptions(), "max_mailboxes"),
    (BatchLimits(True, GB), BatchOptions(), "max_mailboxes"),
    (BatchLimits(5, 0), BatchOptions(), "max_bytes"),
    (BatchLimits(5, GB), BatchOptions(order_by="server"), "order_by"),
])
def test_bad_limits_and_options_are_refused(limits: BatchLimits, options: BatchOptions, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_batches([_user("alice.meyer")], [], limits, options)


def test_duplicate_ids_and_negative_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate mailbox id"):
        plan_batches([_user("alice"), _user("alice")], [], BatchLimits(5, GB), BatchOptions())
    with pytest.raises(ValueError, match="size_bytes"):
        plan_batches([Mailbox("alice", "alice@contoso.com", -1)], [], BatchLimits(5, GB), BatchOptions())


def test_unknown_permission_kinds_are_reported_and_do_not_bind() -> None:
    plan = plan_batches([_user("a"), _user("b")], [PermissionLink("a", "b", "ReadPermission")],
                        BatchLimits(1, 10 * GB), BatchOptions())
    assert [(p.object, p.reason) for p in plan.problems] == [
        ("permission kind ReadPermission", "unknown permission kind: 1 link dropped")]
    assert len(plan.batches) == 2


def test_empty_input_gives_an_empty_plan() -> None:
    assert plan_batches([], [], BatchLimits(5, GB), BatchOptions()) == BatchPlan((), (), (), ())


# --- properties ---------------------------------------------------------------------------------------

_IDS = [f"user{number:02d}" for number in range(24)] + ["svc-backup", "svc-archive", "discovery"]


@st.composite
def _estates(draw: st.DrawFn) -> tuple[list[Mailbox], list[PermissionLink], BatchLimits, BatchOptions]:
    ids = draw(st.lists(st.sampled_from(_IDS), unique=True, max_size=len(_IDS)))
    mailboxes = []
    for mailbox_id in ids:
        email = draw(st.sampled_from([f"{mailbox_id}@contoso.com", "shared@contoso.com", None]))
        kind = "DiscoveryMailbox" if mailbox_id == "discovery" else draw(st.sampled_from(["UserMailbox",
                                                                                        "SharedMailbox"]))
        size = draw(st.sampled_from([0, GB // 2, 3 * GB, 40 * GB, 150 * GB, 200 * GB, 201 * GB]))
        mailboxes.append(Mailbox(mailbox_id, email, size, draw(st.sampled_from(["DB01", "DB02", None])),
                                 draw(st.sampled_from(["Sales", "HR", None])), kind, draw(st.booleans())))
    ends = st.sampled_from([*_IDS, "S-1-5-21-deleted", "ghost"])
    links = draw(st.lists(st.builds(PermissionLink, ends, ends, st.sampled_from(["FullAccess", "SendOnBehalf",
                                                                                "SendAs", "Calendar", "Folder"])),
                          max_size=40))
    limits = BatchLimits(draw(st.integers(1, 8)), draw(st.sampled_from([1, 100 * GB, 250 * GB, 2000 * GB])))
    order_by = draw(st.sampled_from(["database", "department", "list"]))
    order = tuple(draw(st.lists(st.sampled_from(_IDS), max_size=6)))
    options = BatchOptions(frozenset({"svc-backup", "SVC-ARCHIVE"}), order_by, order, draw(st.sampled_from(
        ["Batch", "Migration wave " + "z" * 70])))
    return mailboxes, links, limits, options


@settings(max_examples=300, deadline=None)
@given(_estates(), st.randoms(use_true_random=False))
def test_every_plan_is_valid_and_independent_of_input_order(estate: tuple, shuffler: random.Random) -> None:
    mailboxes, links, limits, options = estate
    plan = plan_batches(mailboxes, links, limits, options)
    _assert_valid(mailboxes, links, limits, options, plan)
    shuffled_mailboxes, shuffled_links = list(mailboxes), list(links)
    shuffler.shuffle(shuffled_mailboxes)
    shuffler.shuffle(shuffled_links)
    assert plan_batches(shuffled_mailboxes, shuffled_links, limits, options) == plan


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=60), st.integers(1, 10))
def test_unlinked_mailboxes_pack_near_the_lower_bound_and_level(sizes_gb: list[int], max_mailboxes: int) -> None:
    mailboxes = [_user(f"user{number:03d}", size) for number, size in enumerate(sizes_gb)]
    limits = BatchLimits(max_mailboxes, 200 * GB)
    plan = plan_batches(mailboxes, [], limits, BatchOptions())
    _assert_valid(mailboxes, [], limits, BatchOptions(), plan)
    by_count = -(-len(mailboxes) // max_mailboxes)
    by_bytes = -(-sum(sizes_gb) // 200)
    # Worst fit decreasing is within a factor two of the optimum for this kind of load.
    assert max(by_count, by_bytes) <= len(plan.batches) <= 2 * max(by_count, by_bytes)
