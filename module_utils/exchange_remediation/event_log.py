"""Read one event channel of an evidence bundle: ``eventlogs/<Channel>.jsonl`` and/or ``.evtx``.

Both forms end up as the same event dictionaries, the shape the collector writes into the .jsonl
(docs/evidence-bundle.md): ``TimeCreated`` (ISO 8601 UTC, 7 fractional digits, as Get-WinEvent
prints it), ``Id`` (int), ``ProviderName``, ``Level`` (int), ``LevelDisplayName``, ``Message`` and
``Properties`` (list). Events from an .evtx also carry ``RecordId``, so a finding can be traced
back to the record in Event Viewer.

An .evtx file does not hold the rendered message: Windows formats it from the provider's message
file when the log is read, and that file is on the server, not in the bundle. The ``Message`` of
an .evtx event is therefore the Data values joined by a space, except for the MSExchange
CmdletLogs events 1 and 6, whose message text is known (log-formats.md §8: "Cmdlet succeeded.
Cmdlet <name>, parameters <params>.") and is rebuilt from Properties[0] (cmdlet) and Properties[1]
(parameters), so the same rules hold for both forms. Rules should prefer ``Properties`` anyway.

Nothing here raises on file content: unreadable lines, corrupt .evtx chunks and a missing ``evtx``
package become warnings. The ``evtx`` package (Rust-based parser) is imported only when an .evtx
file is present, so the rest of the core runs without it.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

EVENTLOGS = "eventlogs"
# Per-file cap on the warnings listed one by one; the rest is summarised in one more warning.
MAX_WARNINGS_PER_FILE = 20
# A parser that keeps failing on every record has lost the file; stop instead of spinning.
MAX_RECORD_ERRORS = 1000
LEVEL_NAMES = {0: "Information", 1: "Critical", 2: "Error", 3: "Warning", 4: "Information", 5: "Verbose"}
LEVEL_NUMBERS = {"critical": 1, "error": 2, "warning": 3, "information": 4, "verbose": 5}
CMDLET_PROVIDER = "MSExchange CmdletLogs"
CMDLET_MESSAGES = {1: "Cmdlet succeeded. Cmdlet {0}, parameters {1}.", 6: "Cmdlet failed. Cmdlet {0}, parameters {1}."}

_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:[.,](\d+))?\s*(Z|UTC|GMT|[+-]\d\d:?\d\d)?$", re.IGNORECASE)
# Windows PowerShell 5.1 ConvertTo-Json writes DateTime values as "/Date(<ms since 1970>[+hhmm])/".
_MS_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class EventRead:
    events: list[dict] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # bundle-relative paths read, e.g. 'eventlogs/Application.evtx'
    warnings: list[str] = field(default_factory=list)
    first: str | None = None  # earliest / latest TimeCreated of the events read
    last: str | None = None
    count: int = 0


def channel_file_stem(channel: str) -> str:
    """File name of a channel without extension: '/' becomes '%4', as wevtutil names exported logs."""
    return channel.replace("/", "%4")


def read_channel(bundle_dir: str, channel: str) -> EventRead | None:
    """Events of one channel of a bundle; None when the bundle has neither a .jsonl nor an .evtx of it.

    File and folder names match case-insensitively. When both files exist, both are read and an
    event present in both (same time, Id, provider and properties) is kept once.
    """
    found = _channel_files(bundle_dir, channel)
    if not found:
        return None
    result = EventRead()
    seen: set[str] | None = None
    for kind in (".jsonl", ".evtx"):
        entry = found.get(kind)
        if entry is None:
            continue
        folder, name = entry
        relative = f"{folder}/{name}"
        path = os.path.join(bundle_dir, folder, name)
        result.files.append(relative)
        notes = _Warnings(relative)
        events = list(_read_jsonl(path, notes) if kind == ".jsonl" else _read_evtx(path, notes))
        if seen is None:
            seen = {_identity(event) for event in events}
        else:
            fresh = [event for event in events if _identity(event) not in seen]
            if len(fresh) < len(events):
                notes.add(f"{len(events) - len(fresh)} events also in the .jsonl were kept once", always=True)
            events = fresh
        result.events.extend(events)
        result.warnings.extend(notes.done())
    # Timed events carry the normalised form, which sorts as text; iso_time() leaves it unchanged.
    stamps = [event["TimeCreated"] for event in result.events if iso_time(event.get("TimeCreated")) is not None]
    result.first = min(stamps) if stamps else None
    result.last = max(stamps) if stamps else None
    result.count = len(result.events)
    return result


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def _channel_files(bundle_dir: str, channel: str) -> dict[str, tuple[str, str]]:
    """{'.jsonl' | '.evtx': (folder name, file name)} as spelled on disk."""
    try:
        folders = [name for name in os.listdir(bundle_dir) if name.lower() == EVENTLOGS]
    except OSError:
        return {}
    stem = channel_file_stem(channel).lower()
    found: dict[str, tuple[str, str]] = {}
    for folder in sorted(folders):
        try:
            names = sorted(os.listdir(os.path.join(bundle_dir, folder)))
        except OSError:
            continue
        for name in names:
            for kind in (".jsonl", ".evtx"):
                wanted = name.lower() == stem + kind and kind not in found
                if wanted and os.path.isfile(os.path.join(bundle_dir, folder, name)):
                    found[kind] = (folder, name)
    return found


class _Warnings:
    """Warnings of one file, prefixed with its bundle path and capped."""

    def __init__(self, relative: str) -> None:
        self.relative = relative
        self.items: list[str] = []
        self.dropped = 0

    def add(self, text: str, always: bool = False) -> None:
        if always or len(self.items) < MAX_WARNINGS_PER_FILE:
            self.items.append(f"{self.relative}: {text}")
        else:
            self.dropped += 1

    def done(self) -> list[str]:
        if self.dropped:
            self.items.append(f"{self.relative}: {self.dropped} more warnings like these")
        return self.items


def _identity(event: dict) -> str:
    """What makes two exports of one event the same event. Times compare to the microsecond: the
    `evtx` parser renders FILETIME with 6 digits, Get-WinEvent with 7."""
    created = event.get("TimeCreated")
    created = created[:26] if iso_time(created) is not None else created
    properties = [_text(value) for value in event.get("Properties") or []]
    return json.dumps([created, event.get("Id"), str(event.get("ProviderName")).lower(), properties], default=str)


# ---------------------------------------------------------------------------------------------
# .jsonl (written by the collector or a responder's export script)
# ---------------------------------------------------------------------------------------------


def _read_jsonl(path: str, notes: _Warnings) -> Iterator[dict]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in finally; lines are streamed
    except OSError as exc:
        notes.add(f"cannot read: {exc.strerror}", always=True)
        return
    try:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                notes.add(f"line {number}: not UTF-8 (byte {exc.start}); invalid bytes replaced")
                text = raw.decode("utf-8", "replace")
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                notes.add(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno}); line skipped")
                continue
            if not isinstance(record, dict):
                notes.add(f"line {number}: not a JSON object; line skipped")
                continue
            yield _normalise(record, notes, f"line {number}")
    except OSError as exc:
        notes.add(f"read stopped: {exc.strerror}", always=True)
    finally:
        handle.close()


def _normalise(record: dict[str, Any], notes: _Warnings, where: str) -> dict[str, Any]:
    """The collector's shape, tolerant of what ConvertTo-Json of EventLogRecord objects produces."""
    event = dict(record)
    stamp = iso_time(record.get("TimeCreated"))
    if stamp is None:
        notes.add(f"{where}: TimeCreated {record.get('TimeCreated')!r} is not a date; event kept untimed")
        event["TimeCreated"] = record.get("TimeCreated")
    else:
        event["TimeCreated"] = stamp
    event["Id"] = _int(record.get("Id"), record.get("Id"))
    event["ProviderName"] = _text(record.get("ProviderName"))
    level = _int(record.get("Level"), None)
    display = _text(record.get("LevelDisplayName"))
    if level is None:
        level = LEVEL_NUMBERS.get(display.lower(), 0) if display else 4
    event["Level"] = level
    event["LevelDisplayName"] = display or LEVEL_NAMES.get(level, "")
    event["Message"] = _text(record.get("Message"))
    properties = record.get("Properties")
    if properties is None:
        properties = []
    elif not isinstance(properties, list):
        properties = [properties]
    # Get-WinEvent | ConvertTo-Json writes EventProperty objects as {"Value": ...}.
    event["Properties"] = [
        item["Value"] if isinstance(item, dict) and set(item) == {"Value"} else item for item in properties
    ]
    return event


# ---------------------------------------------------------------------------------------------
# .evtx (exported from Windows, or written by tools/evtx_writer.py)
# ---------------------------------------------------------------------------------------------


def _read_evtx(path: str, notes: _Warnings) -> Iterator[dict]:
    if not _check_evtx_structure(path, notes):
        return
    try:
        from evtx import PyEvtxParser  # lazy: only bundles with .evtx files need the package
    except ImportError:
        notes.add("not read: the Python package 'evtx' is not installed (pip install evtx)", always=True)
        return
    try:
        parser = PyEvtxParser(path)
        records = iter(parser.records_json())
    except Exception as exc:  # the parser reports every problem as OSError/RuntimeError/ValueError
        notes.add(f"not read: {_short(exc)}", always=True)
        return
    errors = 0
    while errors < MAX_RECORD_ERRORS:
        try:
            record = next(records)
        except StopIteration:
            return
        except Exception as exc:
            errors += 1
            notes.add(f"records skipped: {_short(exc)}")
            continue
        try:
            event = event_from_evtx_json(json.loads(record["data"]), record.get("event_record_id"))
        except (KeyError, TypeError, ValueError) as exc:
            errors += 1
            notes.add(f"record {record.get('event_record_id')}: not an event ({_short(exc)}); skipped")
            continue
        if event["TimeCreated"] is None:
            event["TimeCreated"] = iso_time(record.get("timestamp"))
        yield event
    notes.add(f"reading stopped after {MAX_RECORD_ERRORS} parse errors", always=True)


def _check_evtx_structure(path: str, notes: _Warnings) -> bool:
    """Signatures and CRC32s of the file header and chunks (libevtx format description); False when
    the file is no EVTX file at all or cannot be read.

    The parser then reads what it can (a damaged chunk may still give records): the warnings say
    that the file is not as Windows wrote it, so its events may not be the whole story.
    """
    try:
        with open(path, "rb") as handle:
            header = handle.read(4096)
            if len(header) < 128 or header[:8] != b"ElfFile\x00":
                notes.add("not an EVTX file (no ElfFile header); not read", always=True)
                return False
            if struct.unpack_from("<I", header, 124)[0] != zlib.crc32(header[:120]):
                notes.add("file header checksum mismatch", always=True)
            declared = struct.unpack_from("<H", header, 42)[0]
            index = 0
            while True:
                chunk = handle.read(65536)
                if not chunk:
                    break
                if len(chunk) < 65536:
                    notes.add(f"chunk {index} is cut off ({len(chunk)} of 65536 bytes)", always=True)
                    break
                if chunk[:8] != b"ElfChnk\x00":
                    if index < declared:
                        notes.add(f"chunk {index} has no ElfChnk signature", always=True)
                    index += 1
                    continue
                free = struct.unpack_from("<I", chunk, 48)[0]
                header_ok = struct.unpack_from("<I", chunk, 124)[0] == zlib.crc32(chunk[:120] + chunk[128:512])
                data_ok = 512 <= free <= 65536 and struct.unpack_from("<I", chunk, 52)[0] == zlib.crc32(chunk[512:free])
                if not (header_ok and data_ok):
                    part = "header" if not header_ok else "event records"
                    notes.add(f"chunk {index}: {part} checksum mismatch; its records were read as far as possible")
                index += 1
            if index < declared:
                notes.add(f"the header declares {declared} chunks, the file holds {index}", always=True)
    except OSError as exc:
        notes.add(f"cannot read: {exc.strerror}", always=True)
        return False
    return True


def event_from_evtx_json(document: dict[str, Any], record_id: Any = None) -> dict[str, Any]:
    """One record as the ``evtx`` package renders it to JSON -> the bundle event shape."""
    root = document["Event"]
    system = root.get("System") or {}
    provider = _attributes(system.get("Provider")).get("Name", "")
    event_id = _int(_value(system.get("EventID")), None)
    level = _int(_value(system.get("Level")), 4)
    created = iso_time(_attributes(system.get("TimeCreated")).get("SystemTime"))
    properties = _properties(root.get("EventData") if "EventData" in root else root.get("UserData"))
    event: dict[str, Any] = {
        "TimeCreated": created,
        "Id": event_id,
        "ProviderName": _text(provider),
        "Level": level,
        "LevelDisplayName": LEVEL_NAMES.get(level, "") if isinstance(level, int) else "",
        "Message": _message(_text(provider), event_id, properties),
        "Properties": properties,
    }
    if record_id is not None:
        event["RecordId"] = record_id
    return event


def _message(provider: str, event_id: Any, properties: list[str]) -> str:
    template = CMDLET_MESSAGES.get(event_id) if provider.lower() == CMDLET_PROVIDER.lower() else None
    if template and len(properties) >= 2:
        return template.format(properties[0], properties[1])
    return " ".join(properties)


def _attributes(node: Any) -> dict[str, Any]:
    if isinstance(node, dict) and isinstance(node.get("#attributes"), dict):
        return node["#attributes"]
    return {}


def _value(node: Any) -> Any:
    """Element text: a scalar, or {"#attributes": ..., "#text": ...} when the element has attributes."""
    return node.get("#text") if isinstance(node, dict) else node


def _properties(data: Any) -> list[str]:
    """EventData/UserData values in document order.

    Unnamed <Data> elements render as {"Data": {"#text": value | [values]}}, named ones as
    {"<Name>": value}; <Binary> is not a property (Get-WinEvent leaves it out too). UserData holds
    one provider-defined element whose children are the values.
    """
    if not isinstance(data, dict):
        return []
    values: list[Any] = []
    for key, node in data.items():
        if key in ("#attributes", "Binary"):
            continue
        if key == "Data":
            items = node if isinstance(node, list) else [node]
            for item in items:
                text = _value(item)
                values.extend(text if isinstance(text, list) else [text])
        elif isinstance(node, dict) and not set(node) <= {"#attributes", "#text"}:
            values.extend(_properties(node))
        else:
            values.append(_value(node))
    return [_text(value) for value in values]


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def iso_time(value: Any) -> str | None:
    """ISO 8601 UTC 'YYYY-MM-DDTHH:MM:SS.fffffffZ' from the forms event exports use, else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    dated = _MS_DATE.match(text)
    if dated:
        moment = _EPOCH + timedelta(milliseconds=int(dated.group(1)))
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"
    match = _ISO.match(text)
    if not match:
        return None
    day, clock, fraction, zone = match.groups()
    digits = ((fraction or "") + "0000000")[:7]
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=UTC)
    except ValueError:
        return None
    if zone and zone.upper() not in ("Z", "UTC", "GMT"):
        sign = -1 if zone[0] == "-" else 1
        hours, minutes = int(zone[1:3]), int(zone[-2:])
        moment -= sign * timedelta(hours=hours, minutes=minutes)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{digits}Z"


def _int(value: Any, default: Any) -> Any:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return default


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ") or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
