"""read_channel: one event channel of an evidence bundle from eventlogs/<Channel>.jsonl and/or .evtx,
always in the collector's .jsonl shape; bad content gives warnings, never an exception."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from evtx_writer import EvtxEvent, encode_evtx

from exchange_remediation.event_log import EventRead, event_from_evtx_json, iso_time, read_channel

CHANNEL = "MSExchange Management"
# log-formats.md §8: the ProxyShell mailbox export written as a web page (constructed row).
EXPORT_PARAMS = (
    '-Mailbox "administrator@contoso.com" -FilePath "\\\\127.0.0.1\\c$\\inetpub\\wwwroot\\aspnet_client\\tkevsn.aspx"'
)
EXPORT_JSONL = (
    '{"TimeCreated":"2021-08-10T22:30:08.4890000Z","Id":1,"ProviderName":"MSExchange CmdletLogs",'
    '"LevelDisplayName":"Information","Message":"Cmdlet succeeded. Cmdlet New-MailboxExportRequest, parameters '
    '-Mailbox \\"administrator@contoso.com\\" -FilePath \\"\\\\\\\\127.0.0.1\\\\c$\\\\inetpub\\\\wwwroot\\\\'
    'aspnet_client\\\\tkevsn.aspx\\".","Properties":["New-MailboxExportRequest","-Mailbox \\"administrator@'
    'contoso.com\\" -FilePath \\"\\\\\\\\127.0.0.1\\\\c$\\\\inetpub\\\\wwwroot\\\\aspnet_client\\\\tkevsn.aspx\\""]}'
)
CLEANUP_JSONL = (
    '{"TimeCreated":"2021-08-10T22:30:18.4570000Z","Id":1,"ProviderName":"MSExchange CmdletLogs",'
    '"LevelDisplayName":"Information","Message":"Cmdlet succeeded. Cmdlet Remove-MailboxExportRequest, '
    'parameters -Identity \\"contoso.local/Users/Administrator\\\\MailboxExport\\" -Confirm \\"False\\".",'
    '"Properties":["Remove-MailboxExportRequest","-Identity \\"contoso.local/Users/Administrator\\\\'
    'MailboxExport\\" -Confirm \\"False\\""]}'
)


def cmdlet_event(time: datetime, cmdlet: str, params: str, ok: bool = True) -> EvtxEvent:
    return EvtxEvent(
        time=time,
        event_id=1 if ok else 6,
        provider="MSExchange CmdletLogs",
        channel=CHANNEL,
        computer="EX01.contoso.local",
        level=4 if ok else 2,
        data=(cmdlet, params, "contoso.local/Users/Administrator", "Remote-PowerShell"),
        qualifiers=16388 if ok else 49156,
    )


EXPORT_EVENT = cmdlet_event(
    datetime(2021, 8, 10, 22, 30, 8, 489000, tzinfo=UTC), "New-MailboxExportRequest", EXPORT_PARAMS
)
CLEANUP_EVENT = cmdlet_event(
    datetime(2021, 8, 10, 22, 30, 18, 457000, tzinfo=UTC),
    "Remove-MailboxExportRequest",
    '-Identity "contoso.local/Users/Administrator\\MailboxExport" -Confirm "False"',
)


def bundle(tmp_path: Path, files: dict[str, bytes | str]) -> str:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return str(tmp_path)


def read(directory: str, channel: str = CHANNEL) -> EventRead:
    result = read_channel(directory, channel)
    assert result is not None
    return result


def test_proxyshell_export_event_from_an_evtx(tmp_path: Path) -> None:
    directory = bundle(tmp_path, {"eventlogs/MSExchange Management.evtx": encode_evtx([EXPORT_EVENT, CLEANUP_EVENT])})
    result = read(directory)
    assert result.files == ["eventlogs/MSExchange Management.evtx"]
    assert result.warnings == [] and result.count == 2
    export = result.events[0]
    assert export["Properties"][0] == "New-MailboxExportRequest"
    assert export["Properties"][1] == EXPORT_PARAMS
    # The same event as the collector's .jsonl holds it (log-formats.md §8), plus the record number.
    from_jsonl = json.loads(EXPORT_JSONL)
    assert {key: export[key] for key in from_jsonl} | {"Properties": from_jsonl["Properties"]} == from_jsonl
    assert export["Level"] == 4 and export["RecordId"] == 1
    assert (result.first, result.last) == ("2021-08-10T22:30:08.4890000Z", "2021-08-10T22:30:18.4570000Z")


def test_jsonl_lines_with_bom_blank_and_broken_lines(tmp_path: Path) -> None:
    text = "\ufeff" + EXPORT_JSONL + "\n\n{not json\n[1, 2]\n" + CLEANUP_JSONL + "\n"
    directory = bundle(tmp_path, {"eventlogs/MSExchange Management.jsonl": text})
    result = read(directory)
    assert [e["Properties"][0] for e in result.events] == ["New-MailboxExportRequest", "Remove-MailboxExportRequest"]
    assert result.count == 2
    assert result.warnings == [
        "eventlogs/MSExchange Management.jsonl: line 3: not valid JSON (Expecting property name enclosed in "
        "double quotes at column 2); line skipped",
        "eventlogs/MSExchange Management.jsonl: line 4: not a JSON object; line skipped",
    ]
    assert result.events[0]["Level"] == 4 and result.events[0]["LevelDisplayName"] == "Information"
    assert (result.first, result.last) == ("2021-08-10T22:30:08.4890000Z", "2021-08-10T22:30:18.4570000Z")


def test_jsonl_shapes_of_other_exporters_are_normalised(tmp_path: Path) -> None:
    lines = [
        # Windows PowerShell 5.1 ConvertTo-Json of Get-WinEvent output.
        {
            "TimeCreated": "/Date(1615290000000)/",
            "Id": "1000",
            "ProviderName": "MSExchange Unified Messaging",
            "Level": 2,
            "Message": None,
            "Properties": [{"Value": "x"}, {"Value": 5}],
        },
        {"TimeCreated": "2021-03-09T15:00:00.123+01:00", "Id": 5, "LevelDisplayName": "Warning", "Properties": "one"},
        {"TimeCreated": "yesterday", "Id": 7},
    ]
    directory = bundle(tmp_path, {"eventlogs/Application.jsonl": "\n".join(json.dumps(x) for x in lines)})
    result = read(directory, "Application")
    first, second, third = result.events
    assert first["TimeCreated"] == "2021-03-09T11:40:00.0000000Z"
    assert (first["Id"], first["LevelDisplayName"], first["Message"]) == (1000, "Error", "")
    assert first["Properties"] == ["x", 5]
    assert second["TimeCreated"] == "2021-03-09T14:00:00.1230000Z"
    assert (second["Level"], second["Properties"], second["ProviderName"]) == (3, ["one"], "")
    assert third["TimeCreated"] == "yesterday"
    assert result.warnings == [
        "eventlogs/Application.jsonl: line 3: TimeCreated 'yesterday' is not a date; event kept untimed"
    ]
    assert (result.first, result.last, result.count) == (first["TimeCreated"], second["TimeCreated"], 3)


def test_evtx_values_levels_and_messages(tmp_path: Path) -> None:
    moment = datetime(2026, 11, 20, 5, 2, 33, 117000, tzinfo=UTC)
    events = [
        cmdlet_event(moment, "Set-Mailbox", '-Identity "a"', ok=False),
        *[
            EvtxEvent(moment, 106 + level, "MSExchange Common", "Application", "EX01", level, ("a b", "c"))
            for level in (0, 1, 2, 3, 5)
        ],
        EvtxEvent(moment, 9, "MSExchange CmdletLogs", "Application", "EX01", 4, ("only the cmdlet",)),
    ]
    directory = bundle(tmp_path, {"eventlogs/Application.evtx": encode_evtx(events, first_record_id=77)})
    result = read(directory, "Application")
    failed, *levels, short = result.events
    assert failed["Message"] == 'Cmdlet failed. Cmdlet Set-Mailbox, parameters -Identity "a".'
    assert (failed["Id"], failed["Level"], failed["LevelDisplayName"]) == (6, 2, "Error")
    assert [(e["Level"], e["LevelDisplayName"]) for e in levels] == [
        (0, "Information"),  # LogAlways
        (1, "Critical"),
        (2, "Error"),
        (3, "Warning"),
        (5, "Verbose"),
    ]
    # No rendered message in an .evtx: the Data values joined by a space.
    assert levels[0]["Message"] == "a b c" and levels[0]["Properties"] == ["a b", "c"]
    assert short["Message"] == "only the cmdlet"
    assert [e["RecordId"] for e in result.events] == list(range(77, 84))
    assert {e["TimeCreated"] for e in result.events} == {"2026-11-20T05:02:33.1170000Z"}
    assert set(failed) == {
        "TimeCreated",
        "Id",
        "ProviderName",
        "Level",
        "LevelDisplayName",
        "Message",
        "Properties",
        "RecordId",
    }


def test_both_files_are_read_and_shared_events_kept_once(tmp_path: Path) -> None:
    later = cmdlet_event(datetime(2021, 8, 11, 1, 0, tzinfo=UTC), "Get-Mailbox", '-Identity "x"')
    # The collector's line for the export, with all four properties the event log holds.
    collected = json.loads(EXPORT_JSONL)
    collected["TimeCreated"] = "2021-08-10T22:30:08.4890003Z"  # Get-WinEvent keeps the 7th digit
    collected["Properties"] = list(EXPORT_EVENT.data)
    directory = bundle(
        tmp_path,
        {
            "eventlogs/MSExchange Management.jsonl": json.dumps(collected) + "\n",
            "eventlogs/MSExchange Management.evtx": encode_evtx([EXPORT_EVENT, later]),
        },
    )
    result = read(directory)
    assert result.files == ["eventlogs/MSExchange Management.jsonl", "eventlogs/MSExchange Management.evtx"]
    # The export is in both files with the same time, Id, provider and properties: kept once.
    assert [e["Properties"][0] for e in result.events] == ["New-MailboxExportRequest", "Get-Mailbox"]
    assert result.count == 2
    assert result.warnings == ["eventlogs/MSExchange Management.evtx: 1 events also in the .jsonl were kept once"]
    assert (result.first, result.last) == ("2021-08-10T22:30:08.4890003Z", "2021-08-11T01:00:00.0000000Z")


def test_file_names_are_case_insensitive_and_slash_becomes_percent_4(tmp_path: Path) -> None:
    directory = bundle(
        tmp_path,
        {
            "EventLogs/microsoft-windows-windows defender%4OPERATIONAL.EVTX": encode_evtx(
                [
                    EvtxEvent(
                        datetime(2021, 2, 7, 10, 14, 52, tzinfo=UTC),
                        5001,
                        "Microsoft-Windows-Windows Defender",
                        "Microsoft-Windows-Windows Defender/Operational",
                        "EX01",
                        3,
                    )
                ]
            )
        },
    )
    result = read(directory, "Microsoft-Windows-Windows Defender/Operational")
    assert result.files == ["EventLogs/microsoft-windows-windows defender%4OPERATIONAL.EVTX"]
    assert result.events[0]["Id"] == 5001 and result.events[0]["Properties"] == []


def test_missing_channel_or_bundle_is_none(tmp_path: Path) -> None:
    directory = bundle(tmp_path, {"eventlogs/Application.jsonl": EXPORT_JSONL + "\n", "server.json": "{}"})
    assert read_channel(directory, CHANNEL) is None
    assert read_channel(str(tmp_path / "nowhere"), CHANNEL) is None
    assert read_channel(bundle(tmp_path / "empty", {"server.json": "{}"}), "Application") is None


def test_corrupt_evtx_files_give_warnings_not_exceptions(tmp_path: Path) -> None:
    good = encode_evtx([EXPORT_EVENT, CLEANUP_EVENT])
    garbage = read(bundle(tmp_path / "a", {"eventlogs/MSExchange Management.evtx": b"MZ" + bytes(500)}))
    assert garbage.events == [] and garbage.count == 0 and garbage.first is None
    assert garbage.warnings == ["eventlogs/MSExchange Management.evtx: not an EVTX file (no ElfFile header); not read"]

    cut = read(bundle(tmp_path / "b", {"eventlogs/MSExchange Management.evtx": good[:5000]}))
    assert cut.events == []
    assert "chunk 0 is cut off (904 of 65536 bytes)" in cut.warnings[0]

    flipped = bytearray(good)
    flipped[4096 + 700] ^= 0x01  # inside the first record's template: read anyway, flagged
    damaged = read(bundle(tmp_path / "c", {"eventlogs/MSExchange Management.evtx": bytes(flipped)}))
    assert damaged.warnings[0] == (
        "eventlogs/MSExchange Management.evtx: chunk 0: event records checksum mismatch; "
        "its records were read as far as possible"
    )

    smashed = bytearray(good)
    smashed[4096 + 560 : 4096 + 900] = b"\xff" * 340
    broken = read(
        bundle(
            tmp_path / "d",
            {
                "eventlogs/MSExchange Management.evtx": bytes(smashed),
                "eventlogs/MSExchange Management.jsonl": EXPORT_JSONL,
            },
        )
    )
    # The .jsonl still counts; the .evtx only adds warnings.
    assert broken.count == 1 and broken.events[0]["Properties"][0] == "New-MailboxExportRequest"
    assert any("checksum mismatch" in w for w in broken.warnings)
    assert any(w.startswith("eventlogs/MSExchange Management.evtx: records skipped:") for w in broken.warnings)


def test_missing_evtx_package_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "evtx", None)  # import evtx -> ImportError
    directory = bundle(
        tmp_path,
        {
            "eventlogs/MSExchange Management.evtx": encode_evtx([EXPORT_EVENT]),
            "eventlogs/MSExchange Management.jsonl": "",
        },
    )
    result = read(directory)
    assert result.events == [] and result.count == 0
    assert result.warnings == [
        "eventlogs/MSExchange Management.evtx: not read: the Python package 'evtx' is not installed (pip install evtx)"
    ]


def test_many_bad_lines_are_summarised(tmp_path: Path) -> None:
    directory = bundle(tmp_path, {"eventlogs/Application.jsonl": "x\n" * 30 + EXPORT_JSONL + "\n"})
    result = read(directory, "Application")
    assert result.count == 1
    assert len(result.warnings) == 21
    assert result.warnings[-1] == "eventlogs/Application.jsonl: 10 more warnings like these"


def test_evtx_json_shapes_of_other_providers() -> None:
    document: dict[str, Any] = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing", "Guid": "54849625"}},
                "EventID": 4624,
                "Level": 0,
                "TimeCreated": {"#attributes": {"SystemTime": "2026-11-20T05:02:33.117000Z"}},
            },
            "EventData": {"SubjectUserSid": "S-1-5-18", "LogonType": 3, "Binary": "00AA", "IpAddress": None},
        }
    }
    event = event_from_evtx_json(document, 12)
    assert event["Properties"] == ["S-1-5-18", "3", ""]
    assert (event["Id"], event["Level"], event["LevelDisplayName"], event["RecordId"]) == (4624, 0, "Information", 12)
    assert event["Message"] == "S-1-5-18 3 "
    user_data = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "P"}},
                "EventID": {"#attributes": {"Qualifiers": 0}, "#text": 7},
            },
            "UserData": {"RuleAndFileData": {"#attributes": {"xmlns": "x"}, "PolicyName": "EXE", "FilePath": "C:\\a"}},
        }
    }
    event = event_from_evtx_json(user_data)
    assert (event["Id"], event["Properties"], event["TimeCreated"]) == (7, ["EXE", "C:\\a"], None)
    assert "RecordId" not in event


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2021-03-03T06:49:53.7900000Z", "2021-03-03T06:49:53.7900000Z"),
        ("2021-03-03T06:49:53.790000Z", "2021-03-03T06:49:53.7900000Z"),
        ("2021-03-03 06:49:53", "2021-03-03T06:49:53.0000000Z"),
        ("2021-03-03T06:49:53.123456789Z", "2021-03-03T06:49:53.1234567Z"),
        ("2021-03-03T00:30:00.5-02:30", "2021-03-03T03:00:00.5000000Z"),
        ("/Date(0)/", "1970-01-01T00:00:00.0000000Z"),
        ("2021-02-30T00:00:00Z", None),
        ("03/03/2021 06:49", None),
        (1614754193, None),
    ],
)
def test_time_forms(text: Any, iso: str | None) -> None:
    assert iso_time(text) == iso


def test_invalid_utf8_is_replaced_with_a_warning(tmp_path: Path) -> None:
    line = b'{"TimeCreated":"2021-03-03T06:49:53Z","Id":1,"ProviderName":"P","Message":"caf\xe9","Properties":[]}\n'
    result = read(bundle(tmp_path, {"eventlogs/Application.jsonl": line}), "Application")
    assert result.events[0]["Message"] == "caf\ufffd"
    assert result.warnings == ["eventlogs/Application.jsonl: line 1: not UTF-8 (byte 78); invalid bytes replaced"]
