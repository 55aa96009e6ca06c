#!/usr/bin/env python3
"""Write real Windows XML Event Log (.evtx) files, standard library only.

    python tools/evtx_writer.py EVENTS.jsonl OUT.evtx --channel "MSExchange Management" --computer EX01.contoso.local

The demo generator uses it to put an exported event log into an evidence bundle, and the tests use
it to feed the `evtx` reader files that Windows could have written. Layout (libyal libevtx,
"Windows XML Event Log (EVTX).asciidoc"):

- a 4096-byte file header ``ElfFile\\0`` (format 3.1) whose CRC32 covers its first 120 bytes;
- 64 KiB chunks ``ElfChnk\\0``: a 512-byte header (record numbers, offset of the last record, free
  space offset, CRC32 of the record data, CRC32 of header bytes 0-120 and 128-512, the common string
  table of 64 buckets and the template table of 32 buckets), then the records;
- records ``**\\0\\0``, size, record identifier, FILETIME, Binary XML, size again.

Each record is a Binary XML fragment holding a template instance, as Windows writes them: the first
record of a chunk that needs a template shape carries its definition (element names inline, values
as substitutions), later records of the chunk point back to it and carry only their values. Element
names are stored once per chunk and referenced by offset afterwards. Both public Python parsers
(``evtx``, Rust-based, and ``python-evtx``, which renders only template-based records) read the
result and verify its checksums.

The event shape is the standard one:
``<Event xmlns=...><System><Provider Name=/><EventID [Qualifiers=]/><Level/><TimeCreated SystemTime=/>
<EventRecordID/><Channel/><Computer/></System><EventData><Data/>...</EventData></Event>``.
The rendered message text is not part of an .evtx file (Windows formats it from the provider's
message DLL when the log is read), so nothing here stores it.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

EVENT_NAMESPACE = "http://schemas.microsoft.com/win/2004/08/events/event"
FILE_HEADER_SIZE = 4096
CHUNK_SIZE = 65536
CHUNK_HEADER_SIZE = 512
RECORD_OVERHEAD = 28  # signature, size, identifier, FILETIME, trailing size copy
LEVELS = {"LogAlways": 0, "Critical": 1, "Error": 2, "Warning": 3, "Information": 4, "Verbose": 5}

# Binary XML tokens and value types (libevtx "Token types" / "Value types").
_END_OF_STREAM = 0x00
_OPEN_START = 0x01
_HAS_ATTRIBUTES = 0x40
_CLOSE_START = 0x02
_CLOSE_EMPTY = 0x03
_END_ELEMENT = 0x04
_VALUE = 0x05
_ATTRIBUTE = 0x06
_MORE = 0x40
_TEMPLATE_INSTANCE = 0x0C
_NORMAL_SUBSTITUTION = 0x0D
_FRAGMENT_HEADER = b"\x0f\x01\x01\x00"
_STRING = 0x01
_UINT8 = 0x04
_UINT16 = 0x06
_UINT64 = 0x0A
_FILETIME = 0x11
_NO_DEPENDENCY = 0xFFFF
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
# Template GUIDs are derived from the shape, so the same events always give the same bytes.
_TEMPLATE_NAMESPACE = uuid.UUID("6f1b2f64-8d2e-4c55-9a43-3b0e8a1d7c21")
# Element or attribute content: literal text, or a substitution (index into the record's values, type).
_Content = str | tuple[int, int]


@dataclass(frozen=True)
class EvtxEvent:
    """One event as Windows records it (no rendered message: see the module docstring)."""

    time: datetime  # timezone-aware; stored as UTC FILETIME (100 ns resolution)
    event_id: int
    provider: str
    channel: str
    computer: str
    level: int = 4  # 0 LogAlways, 1 Critical, 2 Error, 3 Warning, 4 Information, 5 Verbose
    data: tuple[str, ...] = ()  # <EventData><Data> values, in order
    qualifiers: int | None = None  # classic (EventLog API) sources carry EventID Qualifiers


def filetime(moment: datetime) -> int:
    """100-nanosecond intervals since 1601-01-01 UTC (microsecond input, so the last digit is 0)."""
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    delta = moment.astimezone(UTC) - _FILETIME_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _name_hash(name: str) -> int:
    # The 16-bit name hash Windows stores beside each name (multiplier 65599, low 16 bits kept).
    value = 0
    for char in name:
        value = (value * 65599 + ord(char)) & 0xFFFFFFFF
    return value & 0xFFFF


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass")


class _Substitutions:
    """Substitution values of one record, in template order: (value type, encoded bytes)."""

    def __init__(self, event: EvtxEvent, record_id: int) -> None:
        values: list[tuple[int, bytes]] = [(_STRING, _utf16(event.provider))]
        if event.qualifiers is not None:
            values.append((_UINT16, struct.pack("<H", event.qualifiers)))
        values += [
            (_UINT16, struct.pack("<H", event.event_id)),
            (_UINT8, struct.pack("<B", event.level)),
            (_FILETIME, struct.pack("<Q", filetime(event.time))),
            (_UINT64, struct.pack("<Q", record_id)),
            (_STRING, _utf16(event.channel)),
            (_STRING, _utf16(event.computer)),
        ]
        values += [(_STRING, _utf16(value)) for value in event.data]
        for _, raw in values:
            if len(raw) > 0xFFFF:
                raise ValueError(f"a value of record {record_id} is longer than 65535 bytes")
        self.values = values

    def encode(self) -> bytes:
        out = bytearray(struct.pack("<I", len(self.values)))
        for value_type, raw in self.values:
            out += struct.pack("<HBB", len(raw), value_type, 0)
        for _, raw in self.values:
            out += raw
        return bytes(out)


@dataclass(frozen=True)
class _Shape:
    """What distinguishes one template from another: the number of Data values, Qualifiers or not."""

    data_count: int
    qualifiers: bool

    @property
    def guid(self) -> uuid.UUID:
        return uuid.uuid5(_TEMPLATE_NAMESPACE, f"{self.data_count}:{int(self.qualifiers)}")


class _Chunk:
    """One 64 KiB chunk being filled; offsets are relative to the chunk start, as in the format."""

    def __init__(self) -> None:
        self.body = bytearray(CHUNK_HEADER_SIZE)  # header filled in by finish()
        self.names: dict[str, int] = {}  # element/attribute name -> offset of its name structure
        self.string_heads = [0] * 64  # common string table: newest name of each hash bucket
        self.templates: dict[_Shape, int] = {}  # shape -> offset of its template definition
        self.template_heads = [0] * 32
        self.first_id: int | None = None
        self.last_id = 0
        self.last_record_offset = 0

    # --- state snapshot, so a record that does not fit leaves the chunk untouched ---
    def _snapshot(self) -> tuple[int, dict[str, int], list[int], dict[_Shape, int], list[int]]:
        return (
            len(self.body),
            dict(self.names),
            list(self.string_heads),
            dict(self.templates),
            list(self.template_heads),
        )

    def _restore(self, state: tuple[int, dict[str, int], list[int], dict[_Shape, int], list[int]]) -> None:
        length, self.names, self.string_heads, self.templates, self.template_heads = state
        del self.body[length:]

    def add(self, event: EvtxEvent, record_id: int) -> bool:
        """Append one record; False (chunk unchanged) when it does not fit."""
        state = self._snapshot()
        start = len(self.body)
        self.body += b"**\x00\x00" + bytes(4) + struct.pack("<QQ", record_id, filetime(event.time))
        self._event(event, record_id)
        size = len(self.body) - start + 4
        self.body += struct.pack("<I", size)
        if len(self.body) > CHUNK_SIZE:
            self._restore(state)
            if start == CHUNK_HEADER_SIZE:
                raise ValueError(f"record {record_id} ({size} bytes) does not fit in an empty chunk")
            return False
        struct.pack_into("<I", self.body, start + 4, size)
        self.first_id = record_id if self.first_id is None else self.first_id
        self.last_id = record_id
        self.last_record_offset = start
        return True

    # --- Binary XML ---
    def _event(self, event: EvtxEvent, record_id: int) -> None:
        shape = _Shape(len(event.data), event.qualifiers is not None)
        self.body += _FRAGMENT_HEADER
        guid = shape.guid
        template_id = struct.unpack_from("<I", guid.bytes_le)[0]
        instance = len(self.body)
        self.body += struct.pack("<BBI", _TEMPLATE_INSTANCE, 1, template_id)
        known = self.templates.get(shape)
        if known is not None:
            self.body += struct.pack("<I", known)
        else:
            definition = instance + 10
            bucket = template_id % 32
            self.body += struct.pack("<I", definition)
            self.body += struct.pack("<I", self.template_heads[bucket]) + guid.bytes_le + bytes(4)
            data_start = len(self.body)
            self.body += _FRAGMENT_HEADER
            self._template_event(shape)
            self.body.append(_END_OF_STREAM)
            struct.pack_into("<I", self.body, data_start - 4, len(self.body) - data_start)
            self.templates[shape] = definition
            self.template_heads[bucket] = definition
        self.body += _Substitutions(event, record_id).encode()

    def _template_event(self, shape: _Shape) -> None:
        """The template's elements; substitution indices follow _Substitutions' value order."""
        numbers = iter(range(1 << 16))

        def sub(value_type: int) -> _Content:
            return next(numbers), value_type

        def system() -> None:
            self._element("Provider", [("Name", sub(_STRING))], None)
            if shape.qualifiers:
                qualifiers = sub(_UINT16)
                self._element("EventID", [("Qualifiers", qualifiers)], [sub(_UINT16)])
            else:
                self._element("EventID", [], [sub(_UINT16)])
            self._element("Level", [], [sub(_UINT8)])
            self._element("TimeCreated", [("SystemTime", sub(_FILETIME))], None)
            self._element("EventRecordID", [], [sub(_UINT64)])
            self._element("Channel", [], [sub(_STRING)])
            self._element("Computer", [], [sub(_STRING)])

        def event_data() -> None:
            for _ in range(shape.data_count):
                self._element("Data", [], [sub(_STRING)])

        def event() -> None:
            self._element("System", [], system)
            self._element("EventData", [], event_data if shape.data_count else None)

        self._element("Event", [("xmlns", EVENT_NAMESPACE)], event)

    def _name(self, name: str) -> None:
        """Name offset, followed by the name structure itself the first time the chunk sees it."""
        known = self.names.get(name)
        if known is not None:
            self.body += struct.pack("<I", known)
            return
        offset = len(self.body) + 4
        hashed = _name_hash(name)
        bucket = hashed % 64
        self.body += struct.pack("<IIHH", offset, self.string_heads[bucket], hashed, len(name))
        self.body += _utf16(name) + b"\x00\x00"
        self.names[name] = offset
        self.string_heads[bucket] = offset

    def _content(self, item: _Content, more: bool) -> None:
        if isinstance(item, tuple):
            index, value_type = item
            self.body += struct.pack("<BHB", _NORMAL_SUBSTITUTION, index, value_type)
        else:
            raw = _utf16(item)
            self.body += struct.pack("<BBH", _VALUE | (_MORE if more else 0), _STRING, len(raw) // 2) + raw

    def _element(
        self, name: str, attributes: list[tuple[str, _Content]], children: list[_Content] | Callable[[], None] | None
    ) -> None:
        """children: None (empty element ``<X/>``), content items (literal text or substitutions), or a
        callable that writes the child elements."""
        start = len(self.body)
        token = _OPEN_START | (_HAS_ATTRIBUTES if attributes else 0)
        self.body += struct.pack("<BHI", token, _NO_DEPENDENCY, 0)
        self._name(name)
        if attributes:
            size_at = len(self.body)
            self.body += bytes(4)
            for position, (attribute, value) in enumerate(attributes):
                more = position < len(attributes) - 1
                self.body.append(_ATTRIBUTE | (_MORE if more else 0))
                self._name(attribute)
                self._content(value, False)
            struct.pack_into("<I", self.body, size_at, len(self.body) - size_at - 4)
        if children is None:
            self.body.append(_CLOSE_EMPTY)
        else:
            self.body.append(_CLOSE_START)
            if callable(children):
                children()
            else:
                for position, item in enumerate(children):
                    self._content(item, position < len(children) - 1)
            self.body.append(_END_ELEMENT)
        # Data size: everything after the token, dependency identifier and the size itself.
        struct.pack_into("<I", self.body, start + 3, len(self.body) - start - 7)

    def finish(self) -> bytes:
        """The 64 KiB chunk with its header and both checksums."""
        free = len(self.body)
        body = self.body + bytes(CHUNK_SIZE - free)
        first = self.first_id or 0
        struct.pack_into(
            "<8sQQQQIIII",
            body,
            0,
            b"ElfChnk\x00",
            first,
            self.last_id,
            first,
            self.last_id,
            128,
            self.last_record_offset,
            free,
            zlib.crc32(body[CHUNK_HEADER_SIZE:free]),
        )
        struct.pack_into("<64I", body, 128, *self.string_heads)
        struct.pack_into("<32I", body, 384, *self.template_heads)
        checksum = zlib.crc32(bytes(body[0:120]) + bytes(body[128:CHUNK_HEADER_SIZE]))
        struct.pack_into("<I", body, 124, checksum)
        return bytes(body)


def encode_evtx(events: Iterable[EvtxEvent], first_record_id: int = 1) -> bytes:
    """The complete .evtx file; record identifiers count up from ``first_record_id``."""
    chunks: list[_Chunk] = [_Chunk()]
    record_id = first_record_id
    for event in events:
        if not chunks[-1].add(event, record_id):
            chunks.append(_Chunk())
            chunks[-1].add(event, record_id)
        record_id += 1
    if len(chunks) > 0xFFFF:
        raise ValueError("too many chunks for one file")
    header = bytearray(FILE_HEADER_SIZE)
    struct.pack_into(
        "<8sQQQIHHHH",
        header,
        0,
        b"ElfFile\x00",
        0,
        len(chunks) - 1,
        record_id,
        128,
        1,
        3,
        FILE_HEADER_SIZE,
        len(chunks),
    )
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    return bytes(header) + b"".join(chunk.finish() for chunk in chunks)


def write_evtx(path: str | Path, events: Iterable[EvtxEvent], first_record_id: int = 1) -> None:
    Path(path).write_bytes(encode_evtx(events, first_record_id))


def parse_time(text: str) -> datetime:
    """ISO 8601 UTC with up to 7 fractional digits (the bundle's .jsonl form) -> aware datetime."""
    body = text.strip().rstrip("Zz")
    fraction = ""
    if "." in body:
        body, fraction = body.split(".", 1)
    moment = datetime.fromisoformat(body).replace(tzinfo=UTC)
    digits = (fraction + "0000000")[:7]
    return moment + timedelta(microseconds=int(digits) // 10)


def events_from_jsonl(lines: Sequence[str], channel: str, computer: str) -> list[EvtxEvent]:
    """Bundle .jsonl events -> EvtxEvent (Properties become the Data values, as strings)."""
    out = []
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        out.append(
            EvtxEvent(
                time=parse_time(record["TimeCreated"]),
                event_id=int(record["Id"]),
                provider=str(record.get("ProviderName", "")),
                channel=channel,
                computer=computer,
                level=LEVELS.get(str(record.get("LevelDisplayName", "Information")), 4),
                data=tuple("" if value is None else str(value) for value in record.get("Properties") or []),
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jsonl", help="events, one JSON object per line (evidence-bundle .jsonl form)")
    parser.add_argument("out", help=".evtx file to write")
    parser.add_argument("--channel", required=True)
    parser.add_argument("--computer", required=True)
    args = parser.parse_args(argv)
    lines = Path(args.jsonl).read_text(encoding="utf-8-sig").splitlines()
    events = events_from_jsonl(lines, args.channel, args.computer)
    write_evtx(args.out, events)
    print(f"wrote {len(events)} events to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
