"""read_bundle_facts: server.json of an evidence bundle (DESIGN.md, format version 1), or why not.

Only `schema`, `hostname` and `exchange.exsetup_version` are required; the reader never raises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exchange_remediation.evidence_bundle import (
    MAX_SERVER_JSON_BYTES,
    SERVER_JSON,
    read_bundle_facts,
    validate_server_facts,
)

GOOD: dict[str, Any] = {
    "schema": 1,
    "hostname": "EX01",
    "fqdn": "ex01.contoso.local",
    "collected_at": "2021-03-08T10:00:00Z",
    "exchange": {
        "install_path": "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
        "exsetup_version": "15.01.2176.009",
        "roles": ["Mailbox"],
        "dag": "DAG01",
        "site": "HQ",
        "installed_updates": [{"package": "Security Update For Exchange Server 2016 CU19 (KB5000871)",
                               "installed": "2021-03-05"}],
    },
    "os": {"caption": "Microsoft Windows Server 2016 Standard", "version": "10.0.14393"},
    "dotnet_release": 528049,
    "iis": {"url_rewrite_version": "7.2.1993", "rewrite_rules": []},
    "mitigation_service": {"enabled": True, "applied": []},
    "endpoint_protection": {"product": "Microsoft Defender Antivirus", "real_time": True, "signature_age_days": 1},
}


def bundle(tmp_path: Path, content: bytes | str | None, name: str = "EX01") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    if content is not None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        (folder / SERVER_JSON).write_bytes(data)
    return folder


def good_text(**changes: Any) -> str:
    facts = json.loads(json.dumps(GOOD))
    facts.update(changes)
    return json.dumps(facts, indent=2)


def test_good_bundle(tmp_path: Path) -> None:
    facts = read_bundle_facts(str(bundle(tmp_path, good_text())))
    assert facts.error is None
    assert facts.server == GOOD


def test_good_bundle_with_other_evidence(tmp_path: Path) -> None:
    folder = bundle(tmp_path, good_text())
    (folder / "files" / "C" / "inetpub" / "wwwroot").mkdir(parents=True)
    (folder / "eventlogs").mkdir()
    (folder / "eventlogs" / "Application.jsonl").write_text('{"Id": 1}\n', encoding="utf-8")
    assert read_bundle_facts(str(folder)).server == GOOD


def test_minimal_bundle(tmp_path: Path) -> None:
    minimal = {"schema": 1, "hostname": "EX02", "exchange": {"exsetup_version": "15.2.986.5"}}
    facts = read_bundle_facts(str(bundle(tmp_path, json.dumps(minimal))))
    assert facts.error is None and facts.server == minimal


def test_exsetup_version_null_is_allowed(tmp_path: Path) -> None:
    """The key must be there; a null value (ExSetup unreadable) is assessed from the fallbacks."""
    facts = {"schema": 1, "hostname": "EX03",
             "exchange": {"exsetup_version": None, "admin_display_version": "Version 15.2 (Build 1544.4)"}}
    assert read_bundle_facts(str(bundle(tmp_path, json.dumps(facts)))).server == facts


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    """Windows PowerShell 5.1 `Out-File -Encoding utf8` writes a BOM."""
    facts = read_bundle_facts(str(bundle(tmp_path, b"\xef\xbb\xbf" + good_text().encode("utf-8"))))
    assert facts.error is None and facts.server == GOOD


def test_non_ascii_text_is_kept(tmp_path: Path) -> None:
    text = good_text(os={"caption": "Microsoft Windows Server 2019 Datacenter – Français", "version": "10.0.17763"})
    facts = read_bundle_facts(str(bundle(tmp_path, text)))
    assert facts.server is not None and "Français" in facts.server["os"]["caption"]


@pytest.mark.parametrize("folder", ["", None])
def test_no_folder_given(folder: Any) -> None:
    facts = read_bundle_facts(folder)
    assert facts.server is None and facts.error


def test_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    facts = read_bundle_facts(str(missing))
    assert facts.server is None
    assert facts.error is not None and "does not exist" in facts.error and str(missing) in facts.error


def test_folder_path_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"PK\x03\x04")
    facts = read_bundle_facts(str(path))
    assert facts.server is None and facts.error


def test_missing_server_json(tmp_path: Path) -> None:
    facts = read_bundle_facts(str(bundle(tmp_path, None)))
    assert facts.server is None
    assert facts.error is not None and "server.json" in facts.error and "missing" in facts.error


def test_server_json_is_a_directory(tmp_path: Path) -> None:
    folder = bundle(tmp_path, None)
    (folder / SERVER_JSON).mkdir()
    facts = read_bundle_facts(str(folder))
    assert facts.server is None
    assert facts.error is not None and "server.json" in facts.error


def test_truncated_json(tmp_path: Path) -> None:
    text = good_text()
    facts = read_bundle_facts(str(bundle(tmp_path, text[: len(text) // 2])))
    assert facts.server is None
    assert facts.error is not None and "not valid JSON" in facts.error and "line" in facts.error


@pytest.mark.parametrize("content", [b"", b"   \n", b"{", b"{'schema': 1}", b"schema: 1\nhostname: EX01\n",
                                     b"\xef\xbb\xbf"],
                         ids=["empty", "blank", "brace", "single-quotes", "yaml", "bom-only"])
def test_not_json(tmp_path: Path, content: bytes) -> None:
    facts = read_bundle_facts(str(bundle(tmp_path, content)))
    assert facts.server is None and facts.error and "JSON" in facts.error


@pytest.mark.parametrize("content", [
    b'{"schema": 1, "hostname": "EX\xe9", "exchange": {"exsetup_version": "15.1.2176.9"}}',  # cp1252
    b"\xff\xfe{\x00}\x00",  # UTF-16 LE with BOM (Windows PowerShell `Out-File` default)
    bytes(range(128, 256)),
], ids=["latin-1", "utf-16", "binary"])
def test_non_utf8_bytes(tmp_path: Path, content: bytes) -> None:
    facts = read_bundle_facts(str(bundle(tmp_path, content)))
    assert facts.server is None
    assert facts.error is not None and "UTF-8" in facts.error


@pytest.mark.parametrize("schema", [2, 0, "1", None, 1.5, True])
def test_unsupported_schema(tmp_path: Path, schema: Any) -> None:
    facts = read_bundle_facts(str(bundle(tmp_path, good_text(schema=schema))))
    assert facts.server is None
    assert facts.error is not None and "schema" in facts.error


def test_schema_missing(tmp_path: Path) -> None:
    facts_dict = json.loads(good_text())
    del facts_dict["schema"]
    facts = read_bundle_facts(str(bundle(tmp_path, json.dumps(facts_dict))))
    assert facts.server is None and facts.error and "schema" in facts.error


@pytest.mark.parametrize("hostname", [None, "", "   ", 42, ["EX01"]])
def test_no_hostname(tmp_path: Path, hostname: Any) -> None:
    facts = read_bundle_facts(str(bundle(tmp_path, good_text(hostname=hostname))))
    assert facts.server is None
    assert facts.error is not None and "hostname" in facts.error


def test_hostname_key_absent(tmp_path: Path) -> None:
    facts_dict = json.loads(good_text())
    del facts_dict["hostname"]
    facts = read_bundle_facts(str(bundle(tmp_path, json.dumps(facts_dict))))
    assert facts.server is None and facts.error and "hostname" in facts.error


def test_no_exsetup_version(tmp_path: Path) -> None:
    facts_dict = json.loads(good_text())
    del facts_dict["exchange"]["exsetup_version"]
    facts = read_bundle_facts(str(bundle(tmp_path, json.dumps(facts_dict))))
    assert facts.server is None
    assert facts.error is not None and "exchange.exsetup_version" in facts.error


@pytest.mark.parametrize("exchange", [None, [], "15.1.2176.9"])
def test_no_exchange_object(tmp_path: Path, exchange: Any) -> None:
    facts = read_bundle_facts(str(bundle(tmp_path, good_text(exchange=exchange))))
    assert facts.server is None and facts.error and "exchange" in facts.error


@pytest.mark.parametrize("document", ["[]", "null", "42", '"server"', "[{\"schema\": 1}]"])
def test_not_an_object(tmp_path: Path, document: str) -> None:
    facts = read_bundle_facts(str(bundle(tmp_path, document)))
    assert facts.server is None
    assert facts.error is not None and "JSON object" in facts.error


def test_oversized_server_json_is_not_read(tmp_path: Path) -> None:
    folder = bundle(tmp_path, None)
    with (folder / SERVER_JSON).open("wb") as handle:
        handle.truncate(MAX_SERVER_JSON_BYTES + 1)  # sparse: no real disk use
    facts = read_bundle_facts(str(folder))
    assert facts.server is None and facts.error and "too large" in facts.error


def test_validate_server_facts_names_the_source() -> None:
    server, error = validate_server_facts({"schema": 2}, "bundle/server.json")
    assert server is None and error is not None and error.startswith("bundle/server.json")
    server, error = validate_server_facts(GOOD, "x")
    assert server is GOOD and error is None


def test_fixture_estate_bundles() -> None:
    evidence = Path(__file__).resolve().parents[1] / "fixtures" / "estate" / "evidence"
    for name in ("fx-admin-display", "fx-current", "fx-damaged", "fx-mitigated", "fx-unknown-build", "fx-unpatched"):
        folder = evidence / name
        facts = read_bundle_facts(str(folder))
        if name == "fx-damaged":
            assert facts.server is None and facts.error and "not valid JSON" in facts.error
        else:
            assert facts.error is None, name
            assert facts.server is not None and facts.server["hostname"] == name.upper()
