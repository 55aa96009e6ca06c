"""tools/evtx_writer.py writes real .evtx files: both public parsers read them, verify their checksums
and agree on every value (python-evtx renders XML, the Rust-based `evtx` renders JSON)."""

from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import Evtx.Evtx as python_evtx
import pytest
from evtx import PyEvtxParser
from evtx_writer import (
    CHUNK_SIZE,
    FILE_HEADER_SIZE,
    EvtxEvent,
    encode_evtx,
    events_from_jsonl,
    filetime,
    main,
    parse_time,
    write_evtx,
)

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
CHANNEL = "MSExchange Management"
COMPUTER = "EX16-LEGACY.contoso.local"


def event(seconds: int, data: tuple[str, ...], **kwargs: Any) -> EvtxEvent:
    values: dict[str, Any] = {
        "time": datetime(2021, 3, 3, 6, 49, 53, 790000, tzinfo=UTC) + timedelta(seconds=seconds),
        "event_id": 1,
        "provider": "MSExchange CmdletLogs",
        "channel": CHANNEL,
        "computer": COMPUTER,
        "level": 4,
        "data": data,
        "qualifiers": 16388,
    }
    values.update(kwargs)
    return EvtxEvent(**values)


def parse_stamp(text: str) -> datetime:
    # python-evtx: '2021-03-03 06:49:53.790000+00:00'; evtx: '2021-03-03T06:49:53.790000Z'
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))


def with_python_evtx(path: Path) -> list[dict[str, Any]]:
    """Every record through python-evtx, after its own header and chunk checksum verification."""
    out = []
    with python_evtx.Evtx(str(path)) as log:
        assert log.get_file_header().verify()
        for chunk in log.chunks():
            assert chunk.verify()
            for record in chunk.records():
                assert record.verify()
                root = ET.fromstring(record.xml())
                system = root.find(f"{NS}System")
                assert system is not None
                event_id = system.find(f"{NS}EventID")
                data = root.find(f"{NS}EventData")
                out.append(
                    {
                        "record_id": record.record_num(),
                        "provider": system.find(f"{NS}Provider").get("Name"),
                        "event_id": int(event_id.text),
                        "qualifiers": int(event_id.get("Qualifiers")) if event_id.get("Qualifiers") else None,
                        "level": int(system.find(f"{NS}Level").text),
                        "time": parse_stamp(system.find(f"{NS}TimeCreated").get("SystemTime")),
                        "event_record_id": int(system.find(f"{NS}EventRecordID").text),
                        "channel": system.find(f"{NS}Channel").text,
                        "computer": system.find(f"{NS}Computer").text,
                        "data": tuple(item.text or "" for item in data.findall(f"{NS}Data")),
                    }
                )
    return out


def with_rust_evtx(path: Path) -> list[dict[str, Any]]:
    """Every record through the `evtx` package with checksum validation switched on."""
    out = []
    for record in PyEvtxParser(str(path), validate_checksums=True).records_json():
        root = json.loads(record["data"])["Event"]
        system = root["System"]
        event_id = system["EventID"]
        qualifiers = None
        if isinstance(event_id, dict):
            qualifiers = event_id["#attributes"]["Qualifiers"]
            event_id = event_id["#text"]
        # <EventData/> without Data renders as null; one Data value as a string, several as a list.
        data = root["EventData"]["Data"]["#text"] if root["EventData"] else []
        out.append(
            {
                "record_id": record["event_record_id"],
                "provider": system["Provider"]["#attributes"]["Name"],
                "event_id": event_id,
                "qualifiers": qualifiers,
                "level": system["Level"],
                "time": parse_stamp(system["TimeCreated"]["#attributes"]["SystemTime"]),
                "event_record_id": system["EventRecordID"],
                "channel": system["Channel"],
                "computer": system["Computer"],
                "data": tuple(data) if isinstance(data, list) else (data,),
            }
        )
    return out


def same(parsed: list[dict[str, Any]], want: list[dict[str, Any]]) -> bool:
    """Equal, except that python-evtx converts FILETIME through a float (off by up to 1 µs)."""
    if len(parsed) != len(want):
        return False
    for got, wanted in zip(parsed, want, strict=True):
        if abs(got["time"] - wanted["time"]) > timedelta(microseconds=1):
            return False
        if {**got, "time": None} != {**wanted, "time": None}:
            return False
    return True


def expected(events: list[EvtxEvent], first: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "record_id": first + index,
            "provider": e.provider,
            "event_id": e.event_id,
            "qualifiers": e.qualifiers,
            "level": e.level,
            "time": e.time,
            "event_record_id": first + index,
            "channel": e.channel,
            "computer": e.computer,
            "data": e.data,
        }
        for index, e in enumerate(events)
    ]


def test_both_parsers_read_every_value_exactly(tmp_path: Path) -> None:
    events = [
        # The ProxyLogon step of the demo: markup, quotes and backslashes inside a value.
        event(
            0,
            (
                "Set-OabVirtualDirectory",
                '-ExternalUrl "http://f/<script language="JScript" runat="server">function Page_Load()'
                '{eval(Request["orange"],"unsafe");}</script>" -Identity "b2b2"',
                "NT AUTHORITY\\SYSTEM",
                "Remote-PowerShell",
            ),
        ),
        event(7, ("Get-Mailbox", '-Identity "jürgen.müller@contoso.com" – ✓', "", "line one\nline two")),
        event(8, ("Remove-OabVirtualDirectory", "-Force"), event_id=6, level=2, qualifiers=49156),
        event(9, (), provider="MSExchange Common", event_id=106, level=3, qualifiers=None),
        event(10, ("x" * 30000,), level=0, qualifiers=None),
    ]
    path = tmp_path / "MSExchange Management.evtx"
    write_evtx(path, events, first_record_id=900)
    want = expected(events, first=900)
    assert same(with_python_evtx(path), want)
    assert with_rust_evtx(path) == want


def test_records_spill_into_further_chunks(tmp_path: Path) -> None:
    events = [event(n, (f"Set-Mailbox {n}", "-ProhibitSendQuota " + "9" * (50 + n % 400))) for n in range(700)]
    path = tmp_path / "many.evtx"
    write_evtx(path, events)
    raw = path.read_bytes()
    chunks = (len(raw) - FILE_HEADER_SIZE) // CHUNK_SIZE
    assert chunks >= 3 and len(raw) == FILE_HEADER_SIZE + chunks * CHUNK_SIZE
    assert struct.unpack_from("<QQQ", raw, 8) == (0, chunks - 1, 701)
    assert struct.unpack_from("<H", raw, 42)[0] == chunks
    # Record numbers continue across chunks; every chunk says which records it holds.
    previous_last = 0
    for index in range(chunks):
        base = FILE_HEADER_SIZE + index * CHUNK_SIZE
        first, last, first_id, last_id = struct.unpack_from("<QQQQ", raw, base + 8)
        assert (first, last) == (first_id, last_id) and first == previous_last + 1
        previous_last = last
    assert previous_last == 700
    want = expected(events)
    assert same(with_python_evtx(path), want)
    assert with_rust_evtx(path) == want


def test_checksums_are_the_documented_crc32s(tmp_path: Path) -> None:
    raw = encode_evtx([event(n, ("Get-Mailbox", f"-Identity u{n}")) for n in range(5)])
    assert raw[:8] == b"ElfFile\x00"
    assert struct.unpack_from("<IHHH", raw, 32) == (128, 1, 3, FILE_HEADER_SIZE)
    assert struct.unpack_from("<I", raw, 124)[0] == zlib.crc32(raw[:120])
    chunk = raw[FILE_HEADER_SIZE:]
    assert chunk[:8] == b"ElfChnk\x00"
    last_record, free = struct.unpack_from("<II", chunk, 44)
    assert chunk[512:516] == b"**\x00\x00" and chunk[last_record : last_record + 4] == b"**\x00\x00"
    assert struct.unpack_from("<I", chunk, 52)[0] == zlib.crc32(chunk[512:free])
    assert struct.unpack_from("<I", chunk, 124)[0] == zlib.crc32(chunk[:120] + chunk[128:512])
    # Each record: magic, size, identifier, FILETIME, Binary XML fragment, size again.
    size = struct.unpack_from("<I", chunk, 516)[0]
    assert struct.unpack_from("<I", chunk, 512 + size - 4)[0] == size
    assert struct.unpack_from("<Q", chunk, 520)[0] == 1
    assert struct.unpack_from("<Q", chunk, 528)[0] == filetime(event(0, ()).time)
    assert chunk[536:540] == b"\x0f\x01\x01\x00"
    # A changed byte in the records is caught by both parsers' checksum verification.
    damaged = bytearray(raw)
    damaged[FILE_HEADER_SIZE + free - 20] ^= 0xFF
    path = tmp_path / "damaged.evtx"
    path.write_bytes(bytes(damaged))
    with python_evtx.Evtx(str(path)) as log:
        assert not next(log.chunks()).verify()
    with pytest.raises(RuntimeError, match="CRC32"):
        list(PyEvtxParser(str(path), validate_checksums=True).records_json())


def test_names_and_templates_are_stored_once_per_chunk(tmp_path: Path) -> None:
    events = [event(n, ("Get-Mailbox", f"-Identity u{n}")) for n in range(40)]
    events.append(event(50, ("only one value",)))
    raw = encode_evtx(events)
    chunk = raw[FILE_HEADER_SIZE:]
    # Names are written inline the first time and referenced by offset afterwards.
    assert chunk.count("EventRecordID".encode("utf-16-le")) == 1
    assert chunk.count("Data".encode("utf-16-le")) == 2  # "Data" and "EventData"
    path = tmp_path / "shared.evtx"
    path.write_bytes(raw)
    with python_evtx.Evtx(str(path)) as log:
        first = next(log.chunks())
        # The chunk's common string table and template table (read before any record is parsed).
        names = {node.string() for node in first.strings().values()}
        assert {"Event", "System", "Provider", "Name", "EventID", "Qualifiers", "Data", "Computer"} <= names
        assert len(first.templates()) == 2  # two shapes: two Data values, one Data value


def test_times_keep_microseconds_and_must_be_aware() -> None:
    assert filetime(datetime(1970, 1, 1, tzinfo=UTC)) == 116444736000000000
    assert filetime(datetime(1601, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == 10
    with pytest.raises(ValueError, match="timezone-aware"):
        filetime(datetime(2021, 3, 3))
    assert parse_time("2021-08-10T22:30:08.4890000Z") == datetime(2021, 8, 10, 22, 30, 8, 489000, tzinfo=UTC)
    assert parse_time("2021-08-10T22:30:08Z") == datetime(2021, 8, 10, 22, 30, 8, tzinfo=UTC)


def test_values_that_cannot_be_stored_are_refused() -> None:
    with pytest.raises(ValueError, match="65535 bytes"):
        encode_evtx([event(0, ("x" * 40000,))])
    with pytest.raises(ValueError, match="does not fit"):
        encode_evtx([event(0, tuple("y" * 20000 for _ in range(4)))])


def test_jsonl_events_convert_to_evtx_from_the_command_line(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(
        '{"TimeCreated":"2021-08-10T22:30:08.4890000Z","Id":1,"ProviderName":"MSExchange CmdletLogs",'
        '"LevelDisplayName":"Information","Message":"Cmdlet succeeded.","Properties":["New-MailboxExportRequest",'
        '"-Mailbox \\"administrator@contoso.com\\""]}\n\n'
        '{"TimeCreated":"2021-08-10T22:31:00.0000000Z","Id":6,"ProviderName":"MSExchange CmdletLogs",'
        '"LevelDisplayName":"Error","Message":"Cmdlet failed.","Properties":[7, null]}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.evtx"
    assert main([str(source), str(out), "--channel", CHANNEL, "--computer", COMPUTER]) == 0
    read = with_rust_evtx(out)
    assert [r["data"] for r in read] == [
        ("New-MailboxExportRequest", '-Mailbox "administrator@contoso.com"'),
        ("7", ""),
    ]
    assert [(r["event_id"], r["level"]) for r in read] == [(1, 4), (6, 2)]
    assert events_from_jsonl(source.read_text().splitlines(), CHANNEL, COMPUTER)[0].time == datetime(
        2021, 8, 10, 22, 30, 8, 489000, tzinfo=UTC
    )
