"""tools/migration_bench.py in small: the synthetic estate has the shape the bench promises, and
planning it gives statistics that add up (no timing asserts)."""

from __future__ import annotations

import migration_bench

from exchange_remediation.migration_batch_files import batch_csv, plan_dict
from exchange_remediation.migration_batches import GB


def test_the_synthetic_estate_has_clusters_shared_mailboxes_service_accounts_and_bad_objects() -> None:
    data = migration_bench.estate(2000, seed=5)
    ids = [mailbox.id for mailbox in data.mailboxes]
    assert len(ids) == len(set(ids))
    kinds = {mailbox.kind for mailbox in data.mailboxes}
    assert {"UserMailbox", "SharedMailbox", "DiscoveryMailbox", "ArbitrationMailbox"} <= kinds
    for account in migration_bench.SERVICE_ACCOUNTS:
        assert sum(1 for link in data.links if link.grantee == account) == 2000
    known = set(ids)
    assert any(link.grantee not in known for link in data.links), "links to deleted objects"
    emails = [mailbox.email.casefold() for mailbox in data.mailboxes if mailbox.email]
    assert len(emails) > len(set(emails)), "duplicate addresses"
    sizes = sorted(mailbox.size_bytes for mailbox in data.mailboxes if mailbox.kind == "UserMailbox")
    assert sizes[len(sizes) // 2] < 5 * GB < sizes[-1], "long tail"
    assert migration_bench.estate(2000, seed=5) == data, "seeded, so every run is the same"


def test_the_bench_plan_statistics_add_up() -> None:
    data = migration_bench.estate(2000, seed=5)
    limits = migration_bench.DEFAULT_LIMITS
    plan, summary, csv_bytes = migration_bench.plan_and_render(data, limits)
    stats = migration_bench.statistics_of(plan)
    assert stats["batches"] == len(plan.batches) == summary["summary"]["batches"] > 1
    assert 0 < stats["count_min"] <= stats["count_median"] <= stats["count_max"] <= limits.max_mailboxes
    assert 0 < stats["bytes_min"] <= stats["bytes_median"] <= stats["bytes_max"] <= limits.max_bytes
    # Service accounts do not collapse the estate: many components, none holding most mailboxes.
    assert stats["components"] > 100 and stats["largest_component"] < 1000
    # 5 service accounts, the discovery and arbitration mailboxes and the duplicate are excluded.
    assert stats["excluded"] == 8
    big = [problem for problem in plan.problems if "200 GB" in problem.reason]
    gone = [problem for problem in plan.problems if "no longer exists" in problem.reason]
    assert big and gone
    assert stats["planned_mailboxes"] + stats["oversized_mailboxes"] + stats["excluded"] + len(big) == len(
        data.mailboxes)
    by_id = {mailbox.id: mailbox for mailbox in data.mailboxes}
    assert csv_bytes == sum(len(batch_csv(batch, by_id)) for batch in plan.batches)
    assert summary == plan_dict(plan, data.mailboxes)


def test_the_bench_runs_end_to_end_in_small(capsys) -> None:
    assert migration_bench.main(["--mailboxes", "500", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "reference: sort mailboxes + index links" in out
    assert "target < 5 s" in out and "target < 500 MB" in out
