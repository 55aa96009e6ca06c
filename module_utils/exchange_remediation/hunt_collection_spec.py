"""What the live collector must keep on a server, derived from the indicator rules.

The collector (library/exchange_hunt_collect.ps1) holds no rule logic: it reads the folders, file
name patterns, literals and event channels given here. Each rule path glob becomes a folder that
holds no wildcard (still carrying tokens such as <EX>, which only the server can resolve), whether
to descend into subfolders, and a file name pattern. The collector keeps a superset of what the
rule's glob matches (a wildcard folder in the middle of a glob turns into a recursive read); the
engine applies the exact globs to the bundle afterwards.

Rules that read the same folder with the same pattern are merged, so one file is read once with the
union of their prefilter literals; the collector also merges files that several sets reach.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Source types whose paths are text logs, reduced on the server to the lines with a literal.
LOG_TYPES = frozenset({"exchange_log", "iis_log", "text", "cmdlet"})
# Source types whose paths are files to list with their hash (and the head of script files).
FILE_TYPES = frozenset({"file"})
# Source types whose channels are event logs.
EVENT_TYPES = frozenset({"event", "cmdlet"})

# When one server's data exceeds max_bytes, what is read first is kept: the streams a "no" verdict
# needs come first (hunt-spec section 4), then the rest in name order.
STREAM_PRIORITY = ("WebFolders", "HttpProxy", "ECP", "OABGenerator", "Application", "MSExchangeManagement")

# iis_log/exchange_log rules may test whether a requested page exists on disk (virtual field
# page_on_disk); in a live bundle that is answered from the listing of these folders.
PAGE_ON_DISK_FIELD = "page_on_disk"
PAGE_ON_DISK_ROOTS = ("<WWW>", "<EX>FrontEnd\\HttpProxy")
PAGE_ON_DISK_PATTERNS = ("*.aspx", "*.ashx", "*.asp")
PAGE_ON_DISK_STREAM = "PageOnDisk"

_WILDCARD = re.compile(r"[*?]")
_LEADING_TOKEN = re.compile(r"^(<[A-Z]+>)(.*)$")


@dataclass(frozen=True)
class PathSet:
    """One folder to read: the files directly in it (or below it) whose name matches include."""

    root: str
    recurse: bool
    include: str


@dataclass
class _LogSet:
    stream: str
    path: PathSet
    literals: list[str] = field(default_factory=list)


@dataclass
class _EventSet:
    channel: str
    literals: list[str] = field(default_factory=list)
    keep_all: bool = False
    stream: str | None = None

    def stream_name(self) -> str:
        """The statistics bucket a cap on this channel is reported under: that of its event rules."""
        return self.stream or re.sub(r"[^A-Za-z0-9]", "", self.channel) or self.channel


def split_glob(glob: str) -> PathSet:
    """Turn a rule's Windows path glob into a folder without wildcards plus a file name pattern.

    '<EX>Logging\\HttpProxy\\**\\*.log' -> ('<EX>Logging\\HttpProxy', recurse, '*.log');
    '<IISLOG>\\W3SVC*\\u_ex*.log' -> ('<IISLOG>', recurse, 'u_ex*.log');
    '<EX>FrontEnd\\HttpProxy\\owa\\auth\\errorEE.aspx' -> (its folder, not recursive, 'errorEE.aspx');
    a trailing backslash names a whole folder. Raises ValueError for a glob without a folder.
    """
    text = glob.strip().replace("/", "\\")
    whole_folder = text.endswith("\\")
    parts = text.rstrip("\\").split("\\")
    if whole_folder:
        parts.append("**")
    first_wild = next((i for i, part in enumerate(parts) if _WILDCARD.search(part)), None)
    if first_wild is None:
        # No wildcard: one named file.
        folder, name = parts[:-1], parts[-1]
        if not folder or not name:
            raise ValueError(f"path {glob!r} names no folder")
        return PathSet(_join(folder), False, name)
    if first_wild == 0:
        token = _LEADING_TOKEN.match(parts[0])
        if not token or not token.group(2):
            raise ValueError(f"path {glob!r} has a wildcard before any folder")
        # '<EX>*.log': the token itself is the folder (<EX> carries its own trailing backslash).
        folder, rest = [token.group(1)], [token.group(2), *parts[1:]]
    else:
        folder, rest = parts[:first_wild], parts[first_wild:]
    if any(not part for part in folder):
        raise ValueError(f"path {glob!r} has an empty folder name")
    # Any folder level between the root and the file name (or a '**') means reading subfolders.
    recurse = len(rest) > 1 or "**" in rest
    include = "*" if rest[-1] in ("**", "") else rest[-1]
    return PathSet(_join(folder), recurse, include)


def _join(parts: Sequence[str]) -> str:
    return "\\".join(parts)


def _key(path: PathSet) -> tuple[str, bool, str]:
    return path.root.lower(), path.recurse, path.include.lower()


def _add_unique(target: list[str], values: Iterable[str]) -> None:
    seen = {value.lower() for value in target}
    for value in values:
        if value and value.lower() not in seen:
            seen.add(value.lower())
            target.append(value)


def _stream_order(stream: str) -> tuple[int, str]:
    rank = STREAM_PRIORITY.index(stream) if stream in STREAM_PRIORITY else len(STREAM_PRIORITY)
    return rank, stream.lower()


def collection_spec(
    rule_set: Any,
    *,
    since: str | None,
    max_bytes: int,
    max_file_bytes: int,
    max_events_per_channel: int,
    max_script_bytes: int = 65536,
) -> dict[str, Any]:
    """The collector's instructions: log sets, file sets, event sets and the caps.

    The keys are the options of the exchange_hunt_collect module. A rule path that cannot be turned
    into a folder is left out and named in 'warnings' (one bad rule must not stop the collection).
    """
    logs: dict[tuple[str, tuple[str, bool, str]], _LogSet] = {}
    files: dict[tuple[str, tuple[str, bool, str]], tuple[str, PathSet]] = {}
    events: dict[str, _EventSet] = {}
    warnings: list[str] = []
    needs_pages = False

    for rule in rule_set.rules:
        source = rule.source
        prefilter = [str(literal) for literal in rule.prefilter or ()]
        if PAGE_ON_DISK_FIELD in (getattr(rule, "fields_used", None) or ()):
            needs_pages = True
        for glob in source.paths or ():
            try:
                path = split_glob(glob)
            except ValueError as exc:
                warnings.append(f"{rule.id}: {exc}")
                continue
            if source.type in LOG_TYPES:
                if not prefilter:
                    warnings.append(f"{rule.id}: no prefilter literal for log path {glob!r}; only headers are kept")
                entry = logs.setdefault((source.stream, _key(path)), _LogSet(source.stream, path))
                _add_unique(entry.literals, prefilter)
            elif source.type in FILE_TYPES:
                files.setdefault((source.stream, _key(path)), (source.stream, path))
        if source.type in EVENT_TYPES:
            for channel in source.channels or ():
                entry = events.setdefault(channel.lower(), _EventSet(channel))
                if source.type == "event" and entry.stream is None:
                    entry.stream = source.stream
                # A rule without literals can match any event of its channels: keep them all.
                if prefilter:
                    _add_unique(entry.literals, prefilter)
                else:
                    entry.keep_all = True

    if needs_pages:
        for root in PAGE_ON_DISK_ROOTS:
            for pattern in PAGE_ON_DISK_PATTERNS:
                path = PathSet(root, True, pattern)
                files.setdefault((PAGE_ON_DISK_STREAM, _key(path)), (PAGE_ON_DISK_STREAM, path))

    log_sets = [
        {"stream": entry.stream, "root": entry.path.root, "recurse": entry.path.recurse,
         "include": entry.path.include, "literals": sorted(entry.literals, key=str.lower)}
        for entry in sorted(logs.values(), key=lambda e: (_stream_order(e.stream), _key(e.path)))
    ]
    file_sets = [
        {"stream": stream, "root": path.root, "recurse": path.recurse, "include": path.include}
        for stream, path in sorted(files.values(), key=lambda item: (_stream_order(item[0]), _key(item[1])))
    ]
    event_sets = [
        {"channel": entry.channel, "stream": entry.stream_name(),
         "literals": [] if entry.keep_all else sorted(entry.literals, key=str.lower), "keep_all": entry.keep_all}
        for entry in sorted(events.values(), key=lambda e: e.channel.lower())
    ]
    return {
        "since": since,
        "max_bytes": max_bytes,
        "max_file_bytes": max_file_bytes,
        "max_events_per_channel": max_events_per_channel,
        "max_script_bytes": max_script_bytes,
        "log_sets": log_sets,
        "file_sets": file_sets,
        "event_sets": event_sets,
        "warnings": warnings,
    }
