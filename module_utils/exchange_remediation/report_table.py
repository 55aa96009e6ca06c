"""Plain-text summary table of a report.json (format version 1), plus the view helpers
that every report writer shares.

The shared helpers live here because this is the smallest writer and the others
(HTML, Markdown, JUnit) import it; they read a report defensively: any key may be missing
or of the wrong type (a half-written report must still render), and a host that was not
assessed is never shown as clean.

Pure: stdlib only, no I/O.
"""

from __future__ import annotations

import unicodedata
from typing import Any

NOT_ASSESSED = "not assessed — not clean"
CVE_STATUSES = ("vulnerable", "unknown", "mitigated", "patched", "not_applicable")

# Line and paragraph separators would split a cell over two lines: turn them into spaces.
_SPACE_CATEGORIES = ("Zl", "Zp")


def as_dict(value: object) -> dict[str, Any]:
    """Return value when it is a dict, else an empty dict (tolerates malformed reports)."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """Return value when it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def clean_text(value: object, missing: str = "—") -> str:
    """Make untrusted text safe to show on one line.

    Log lines, paths and user agents are attacker-controlled. Control characters could
    ring bells, move the cursor or end a line in a terminal, so they are removed (tab,
    CR and LF become a space). Invisible format characters such as the right-to-left
    override (used to disguise file names like ``x<U+202E>xpsa.aspx``) are shown as
    ``[U+202E]`` rather than dropped, because their presence is evidence.
    """
    if value is None or value == "":
        return missing
    text = str(value)
    # Fast path: printable ASCII (almost every CVE id, build and status) needs no change.
    if text.isascii() and text.isprintable():
        return text
    out: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if char in "\t\r\n" or category in _SPACE_CATEGORIES:
            out.append(" ")
        elif category == "Cc":
            continue
        elif category == "Cs":
            out.append("\ufffd")  # lone surrogate from a bad decode: not encodable as UTF-8
        elif category == "Cf":
            out.append(f"[U+{ord(char):04X}]")
        else:
            out.append(char)
    return "".join(out)


def yes_no(value: object) -> str:
    """Tri-state boolean as text: null means the assessment could not tell."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "unknown"


def sorted_hosts(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Hosts by inventory name (case-insensitive, then exact, so the order is stable)."""
    hosts = as_dict(as_dict(report).get("hosts"))
    names = sorted(hosts, key=lambda name: (str(name).lower(), str(name)))
    return [(str(name), as_dict(hosts[name])) for name in names]


def status_of(host: dict[str, Any]) -> str:
    """Return "ok" or "error": anything but an explicit "ok" counts as not assessed."""
    return "ok" if host.get("status") == "ok" else "error"


def compromised_of(host: dict[str, Any]) -> str:
    """yes | no | unknown. A host that was not assessed is never "no" (never clean by default)."""
    value = as_dict(host.get("verdict")).get("compromised")
    if value not in ("yes", "no", "unknown"):
        return "unknown"
    if status_of(host) != "ok" and value == "no":
        return "unknown"
    return str(value)


def vulnerable_of(host: dict[str, Any]) -> bool | None:
    """verdict.vulnerable as a tri-state; an error host cannot be "not vulnerable"."""
    value = as_dict(host.get("verdict")).get("vulnerable")
    if value is True:
        return True
    if value is False and status_of(host) == "ok":
        return False
    return None


def cve_statuses(host: dict[str, Any]) -> dict[str, str]:
    """CVE id -> status, sorted by id; an unrecognised status is shown as unknown."""
    cves = as_dict(host.get("cves"))
    return {str(cve): (status if status in CVE_STATUSES else "unknown")
            for cve, status in sorted(cves.items(), key=lambda item: str(item[0]))}


def count_cves(host: dict[str, Any], status: str) -> int:
    """How many CVEs of host have the given status."""
    return sum(1 for value in cve_statuses(host).values() if value == status)


def open_cves_text(host: dict[str, Any]) -> str:
    """Open CVEs = vulnerable; unknown ones are added so that they stay visible."""
    if status_of(host) != "ok" and not cve_statuses(host):
        return "—"
    vulnerable = count_cves(host, "vulnerable")
    unknown = count_cves(host, "unknown")
    return f"{vulnerable} (+{unknown} unknown)" if unknown else str(vulnerable)


def su_text(exchange: dict[str, Any]) -> str:
    """SU name; null means "no SU on this CU" only when the build itself is known."""
    su = exchange.get("su")
    if su:
        return clean_text(su)
    if exchange.get("su_known") is False:
        return "unknown"  # only a CU-level version was available: never claim "no SU"
    return "none" if exchange.get("build") else "—"


_ACTION_TEXT = {
    "none": "nothing to do",
    "install_su": "install security update",
    "install_cu": "install cumulative update",
    "upgrade_product": "upgrade to a supported product",
    "investigate": "investigate indicators of compromise",
}


def next_step_text(host: dict[str, Any]) -> str:
    """What to do next, in one line: the assessment's own summary when it wrote one."""
    step = as_dict(host.get("next_step"))
    summary = step.get("summary")
    if isinstance(summary, str) and summary.strip():
        return clean_text(summary)
    if status_of(host) != "ok":
        return "fix collection and re-run the assessment"
    action = step.get("action")
    if action in _ACTION_TEXT:
        targets = [clean_text(step.get(key), "") for key in ("target_cu", "target_su", "target_build")]
        target = " ".join(t for t in targets if t)
        return f"{_ACTION_TEXT[action]} {target}".strip()
    # No plan in the report: derive the most urgent thing from the verdict.
    compromised = compromised_of(host)
    if compromised == "yes":
        return _ACTION_TEXT["investigate"]
    if compromised == "unknown":
        return "find out why compromise could not be ruled out"
    if vulnerable_of(host):
        return "patch"
    return "nothing to do"


def estate_counts(report: dict[str, Any]) -> dict[str, int]:
    """Estate totals, always recomputed from hosts so that they match the rows shown."""
    hosts = [host for _, host in sorted_hosts(report)]
    return {
        "hosts": len(hosts),
        "ok": sum(1 for h in hosts if status_of(h) == "ok"),
        "error": sum(1 for h in hosts if status_of(h) != "ok"),
        "vulnerable": sum(1 for h in hosts if vulnerable_of(h) is True),
        "compromised": sum(1 for h in hosts if compromised_of(h) == "yes"),
        "compromised_unknown": sum(1 for h in hosts if compromised_of(h) == "unknown"),
        "unsupported": sum(1 for h in hosts if as_dict(h.get("exchange")).get("supported") is False),
    }


def totals_text(counts: dict[str, int]) -> str:
    """One sentence with the estate totals, shared by the text writers."""
    return (
        f"{counts['hosts']} hosts: {counts['ok']} ok, {counts['error']} error; "
        f"{counts['vulnerable']} vulnerable; compromised: {counts['compromised']} yes, "
        f"{counts['compromised_unknown']} unknown; {counts['unsupported']} out of support"
    )


# --- fixed-width layout -------------------------------------------------------------------

# (title, maximum width). Widths keep a row within ~200 columns, the usual CI log width.
_COLUMNS = (
    ("host", 28),
    ("status", 6),
    ("product", 20),
    ("CU", 10),
    ("SU", 10),
    ("build", 14),
    ("supported", 9),
    ("open CVEs", 16),
    ("compromised", 11),
    ("next step", 60),
)


def display_width(text: str) -> int:
    """Terminal columns taken by text: wide East Asian characters take two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def truncate(text: str, width: int) -> str:
    """Cut text to width columns, marking the cut with "…"."""
    if display_width(text) <= width:
        return text
    out: list[str] = []
    used = 0
    for char in text:
        char_width = display_width(char)
        if used + char_width > width - 1:
            break
        out.append(char)
        used += char_width
    return "".join(out) + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def _row(name: str, host: dict[str, Any]) -> list[str]:
    exchange = as_dict(host.get("exchange"))
    status = status_of(host)
    if status == "ok":
        next_step = next_step_text(host)
    else:
        next_step = f"{NOT_ASSESSED}: {clean_text(host.get('error'), 'no reason given')}"
    return [
        clean_text(name),
        status,
        clean_text(exchange.get("product")),
        clean_text(exchange.get("cu")),
        su_text(exchange),
        clean_text(exchange.get("build")),
        yes_no(exchange.get("supported")),
        open_cves_text(host),
        compromised_of(host),
        next_step,
    ]


def render_summary_table(report: dict[str, Any]) -> str:
    """Fixed-width table, one row per host sorted by name, then a totals line."""
    titles = [title for title, _ in _COLUMNS]
    rows = [[truncate(cell, limit) for cell, (_, limit) in zip(_row(name, host), _COLUMNS, strict=True)]
            for name, host in sorted_hosts(report)]
    widths = [max(display_width(cell) for cell in column) for column in zip(titles, *rows, strict=True)]
    lines = [" | ".join(_pad(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [titles, *rows]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    lines.append("")
    lines.append("Totals: " + totals_text(estate_counts(report)))
    return "\n".join(lines) + "\n"
