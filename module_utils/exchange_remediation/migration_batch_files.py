"""What a batch plan becomes on disk, as strings and dicts (the caller writes the files).

* ``batch_csv``: the ``-CSVData`` of ``New-MigrationBatch`` for one batch (m365-migration.md §4):
  header ``EmailAddress,MailboxType``, CRLF line ends, no BOM, no quoting. An address holding a
  comma, a quote or a line break is refused rather than written as a CSV the service misreads.
* ``plan_dict``: the reviewed plan as JSON-ready data, with an estimated duration per batch from
  the per-mailbox percentile table of §5 (a batch moves its mailboxes in parallel, so it takes as
  long as its slowest size band).
* ``plan_markdown``: the same plan for people; every value goes through ``escape_md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .migration_batches import GB, Batch, BatchPlan, Mailbox
from .report_markdown import escape_md

CRLF = "\r\n"
CSV_HEADER = "EmailAddress,MailboxType"
_CSV_UNSAFE = frozenset(',"\r\n')
# (upper bound in bytes, median days, 90th percentile days) per mailbox, m365-migration.md §5.
DURATION_BANDS: tuple[tuple[int, int, int], ...] = (
    (1 * GB, 1, 7),
    (10 * GB, 1, 7),
    (50 * GB, 3, 14),
    (100 * GB, 3, 30),
    (200 * GB, 8, 45),
)


def mailbox_days(size_bytes: int) -> tuple[int, int]:
    """(median, 90th percentile) days to move one mailbox of this size."""
    for limit, median, p90 in DURATION_BANDS:
        if size_bytes < limit:
            return median, p90
    if size_bytes == DURATION_BANDS[-1][0]:
        return DURATION_BANDS[-1][1], DURATION_BANDS[-1][2]
    raise ValueError(f"{size_bytes} bytes is over 200 GB: not supported for onboarding")


def csv_file_name(batch: Batch) -> str:
    return f"{batch.name}.csv"


def batch_csv(batch: Batch, mailboxes_by_id: Mapping[str, Mailbox]) -> str:
    """The batch as New-MigrationBatch -CSVData text."""
    rows = [CSV_HEADER]
    for mailbox_id in batch.mailbox_ids:
        mailbox = mailboxes_by_id.get(mailbox_id)
        if mailbox is None:
            raise ValueError(f"batch {batch.name}: mailbox {mailbox_id!r} is not in the inventory")
        email = (mailbox.email or "").strip()
        if not email:
            raise ValueError(f"batch {batch.name}: mailbox {mailbox_id!r} has no SMTP address")
        if any(char in _CSV_UNSAFE for char in email):
            raise ValueError(f"batch {batch.name}: address {email!r} of {mailbox_id!r} holds a comma, quote or "
                             "line break; refusing to write a CSV the migration service would misread")
        rows.append(f"{email},{'PrimaryAndArchive' if mailbox.archive else 'PrimaryOnly'}")
    return CRLF.join(rows) + CRLF


def _batch_entry(batch: Batch, by_id: Mapping[str, Mailbox]) -> dict[str, Any]:
    days = [mailbox_days(by_id[mailbox_id].size_bytes) for mailbox_id in batch.mailbox_ids]
    return {"name": batch.name, "key": batch.key, "count": batch.count, "bytes": batch.total_bytes,
            "estimated_days": {"median": max((d[0] for d in days), default=0),
                               "p90": max((d[1] for d in days), default=0)},
            "csv": csv_file_name(batch), "mailboxes": list(batch.mailbox_ids)}


def plan_dict(plan: BatchPlan, mailboxes: Sequence[Mailbox]) -> dict[str, Any]:
    """The plan as JSON-ready data for review before anything is created."""
    by_id = {mailbox.id: mailbox for mailbox in mailboxes}
    batches = [_batch_entry(batch, by_id) for batch in plan.batches]
    planned_bytes = sum(batch.total_bytes for batch in plan.batches)
    sizes = [batch.count for batch in plan.batches]
    return {
        "batches": batches,
        "excluded": [{"id": entry.id, "reason": entry.reason} for entry in plan.excluded],
        "oversized": [{"members": list(c.mailbox_ids), "count": c.count, "bytes": c.total_bytes, "reason": c.reason}
                      for c in plan.oversized],
        "problems": [{"object": problem.object, "reason": problem.reason} for problem in plan.problems],
        "summary": {
            "mailboxes": len(by_id),
            "batches": len(batches),
            "planned_mailboxes": sum(sizes),
            "planned_bytes": planned_bytes,
            "largest_batch": max(sizes, default=0),
            "smallest_batch": min(sizes, default=0),
            "components": len(plan.components),
            "largest_component": max((c.count for c in plan.components), default=0),
            "excluded": len(plan.excluded),
            "oversized_components": len(plan.oversized),
            "oversized_mailboxes": sum(c.count for c in plan.oversized),
            "problems": len(plan.problems),
            "estimated_days": {"median": max((b["estimated_days"]["median"] for b in batches), default=0),
                               "p90": max((b["estimated_days"]["p90"] for b in batches), default=0)},
        },
    }


def _table(titles: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> list[str]:
    """GFM table; cells must already be escaped."""
    align = ["---:" if index in numeric else "---" for index in range(len(titles))]
    return ["| " + " | ".join(row) + " |" for row in [titles, align, *rows]]


def _size(value: object) -> str:
    return f"{value / GB:.1f} GB" if isinstance(value, int) and not isinstance(value, bool) else "—"


def _number(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "—"


def plan_markdown(plan: Mapping[str, Any]) -> str:
    """The plan_dict output as a Markdown review page."""
    summary = plan.get("summary") or {}
    days = summary.get("estimated_days") or {}
    lines = ["# Migration batch plan", "",
             *_table(["Mailboxes", "Batches", "Planned", "Planned size", "Excluded", "Oversized components",
                      "Problems", "Days (median / p90)"],
                     [[_number(summary.get("mailboxes")), _number(summary.get("batches")),
                       _number(summary.get("planned_mailboxes")), _size(summary.get("planned_bytes")),
                       _number(summary.get("excluded")), _number(summary.get("oversized_components")),
                       _number(summary.get("problems")),
                       f"{_number(days.get('median'))} / {_number(days.get('p90'))}"]],
                     numeric=(0, 1, 2, 3, 4, 5, 6)), ""]
    lines += ["## Batches", ""]
    rows = [[escape_md(b.get("name")), escape_md(b.get("key")), _number(b.get("count")), _size(b.get("bytes")),
             f"{_number((b.get('estimated_days') or {}).get('median'))} / "
             f"{_number((b.get('estimated_days') or {}).get('p90'))}", escape_md(b.get("csv"))]
            for b in plan.get("batches") or []]
    lines += (_table(["Batch", "Group", "Mailboxes", "Size", "Days (median / p90)", "CSV"], rows, numeric=(2, 3))
              if rows else ["No batches."]) + [""]
    if plan.get("oversized"):
        lines += ["## Oversized components (not split, in no batch)", ""]
        lines += [*_table(["Members", "Mailboxes", "Size", "Why"],
                          [[escape_md(", ".join(str(m) for m in c.get("members") or [])), _number(c.get("count")),
                            _size(c.get("bytes")), escape_md(c.get("reason"))] for c in plan["oversized"]],
                          numeric=(1, 2)), ""]
    if plan.get("problems"):
        lines += ["## Problems", ""]
        lines += [*_table(["Object", "Problem"], [[escape_md(p.get("object")), escape_md(p.get("reason"))]
                                                  for p in plan["problems"]]), ""]
    if plan.get("excluded"):
        lines += ["## Excluded", ""]
        lines += [*_table(["Mailbox", "Reason"], [[escape_md(e.get("id")), escape_md(e.get("reason"))]
                                                  for e in plan["excluded"]]), ""]
    return "\n".join(lines)
