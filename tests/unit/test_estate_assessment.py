"""assess_estate over a mix of good and broken evidence bundles, the hand-off file, and the
report.json built from the result (validated against docs/report.schema.json)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from exchange_remediation import estate_assessment
from exchange_remediation.estate_assessment import (
    COMPACT_KEYS,
    EstateAssessment,
    assess_estate,
    read_assessment,
    write_assessment,
)
from exchange_remediation.estate_report import REPORT_SCHEMA, build_report, summarise, summarise_report
from exchange_remediation.knowledge_base import KnowledgeError
from exchange_remediation.report_files import load_schema_validator

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = str(REPO / "data")
SCHEMA_PATH = REPO / "docs" / "report.schema.json"
FIXTURE_EVIDENCE = REPO / "tests" / "fixtures" / "estate" / "evidence"
TODAY = dt.date(2026, 11, 29)
RUN = {"playbook": "playbooks/assess.yml", "check_mode": True, "ansible_version": "2.16.3"}


def facts(hostname: str, exsetup: Any, **exchange: Any) -> dict[str, Any]:
    return {
        "schema": 1,
        "hostname": hostname,
        "fqdn": f"{hostname.lower()}.contoso.local",
        "collected_at": "2026-11-20T08:00:00Z",
        "exchange": {"exsetup_version": exsetup, "roles": ["Mailbox"], "dag": None, "site": "HQ",
                     "installed_updates": [], **exchange},
        "endpoint_protection": {"product": "Microsoft Defender Antivirus", "real_time": True, "signature_age_days": 0},
    }


def write_bundle(root: Path, name: str, content: Any) -> str:
    folder = root / name
    folder.mkdir(parents=True)
    if content is not None:
        text = content if isinstance(content, str) else json.dumps(content, indent=2)
        (folder / "server.json").write_text(text, encoding="utf-8")
    return str(folder)


# host -> (expected status, expected vulnerable, expected supported)
EXPECTED = {
    "ex16-unpatched": ("ok", True, False),
    "ex19-current": ("ok", False, False),
    "ex13-mar23": ("ok", False, False),
    "exse-current": ("ok", False, True),
    "ex19-admin-display": ("ok", False, False),
    "broken-truncated": ("error", None, None),
    "broken-missing-folder": ("error", None, None),
    "broken-no-server-json": ("error", None, None),
    "broken-schema-2": ("error", None, None),
    "broken-unknown-build": ("error", None, None),
    "broken-no-spec": ("error", None, None),
    "broken-collection-failed": ("error", None, None),
}


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], EstateAssessment]:
    root = tmp_path_factory.mktemp("evidence")
    good_text = json.dumps(facts("EX99", "15.1.2176.9"))
    specs: dict[str, Any] = {
        "ex16-unpatched": {"evidence_dir": write_bundle(root, "ex16", facts("EX16", "15.01.2176.002")),
                           "source": "evidence"},
        "ex19-current": {"evidence_dir": write_bundle(root, "ex19", facts("EX19", "15.2.1748.49"))},
        "ex13-mar23": {"evidence_dir": write_bundle(root, "ex13", facts("EX13", "15.0.1497.48"))},
        "exse-current": {"evidence_dir": write_bundle(root, "exse", facts("EXSE", "15.02.2562.046")),
                         "source": "live"},
        "ex19-admin-display": {"evidence_dir": write_bundle(root, "ex19a", facts(
            "EX19A", None, admin_display_version="Version 15.2 (Build 1544.4)"))},
        "broken-truncated": {"evidence_dir": write_bundle(root, "truncated", good_text[:40])},
        "broken-missing-folder": {"evidence_dir": str(root / "never-collected")},
        "broken-no-server-json": {"evidence_dir": write_bundle(root, "empty", None)},
        "broken-schema-2": {"evidence_dir": write_bundle(root, "schema2", {**facts("EX2", "15.1.2176.9"),
                                                                           "schema": 2})},
        "broken-unknown-build": {"evidence_dir": write_bundle(root, "unknown", facts("EXU", "16.0.1.1"))},
        "broken-no-spec": None,
        "broken-collection-failed": {"error": "WinRM: connection refused", "source": "live"},
    }
    return specs, assess_estate(specs, DATA_DIR, today=TODAY)


@pytest.fixture(scope="module")
def report_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_one_entry_per_host(estate) -> None:
    specs, result = estate
    assert set(result.hosts) == set(specs) == set(EXPECTED)
    assert list(result.hosts) == sorted(specs)


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_host_status(estate, host: str) -> None:
    _, result = estate
    entry = result.hosts[host]
    status, vulnerable, supported = EXPECTED[host]
    assert entry["status"] == status
    assert entry["verdict"]["vulnerable"] is vulnerable
    assert entry["exchange"]["supported"] is supported
    assert entry["verdict"]["compromised"] == "unknown"
    if status == "error":
        assert isinstance(entry["error"], str) and entry["error"]
        assert set(entry["cves"].values()) == {"unknown"}
        assert entry["next_step"]["action"] == "investigate"
    else:
        assert entry["error"] is None


def test_error_reasons(estate) -> None:
    _, result = estate
    errors = {name: entry["error"] for name, entry in result.hosts.items() if entry["status"] == "error"}
    assert "not valid JSON" in errors["broken-truncated"]
    assert "does not exist" in errors["broken-missing-folder"]
    assert "missing" in errors["broken-no-server-json"]
    assert "schema 2" in errors["broken-schema-2"]
    assert "16.0.1.1" in errors["broken-unknown-build"]
    assert "broken-no-spec" in errors["broken-no-spec"]
    assert errors["broken-collection-failed"] == "WinRM: connection refused"


def test_good_hosts_detail(estate) -> None:
    _, result = estate
    ex16 = result.hosts["ex16-unpatched"]
    assert (ex16["exchange"]["cu"], ex16["exchange"]["su"], ex16["exchange"]["build"]) == ("CU19", None, "15.1.2176.2")
    assert ex16["cves"]["CVE-2021-26855"] == "vulnerable"
    assert ex16["hostname"] == "EX16" and ex16["source"] == "evidence"
    assert ex16["evidence_dir"].endswith("ex16")
    se = result.hosts["exse-current"]
    assert (se["exchange"]["product"], se["exchange"]["su"], se["exchange"]["build"]) == (
        "Exchange Server SE", "Aug26SU", "15.2.2562.46")
    assert se["source"] == "live"
    ex13 = result.hosts["ex13-mar23"]
    assert ex13["exchange"]["su"] == "Mar23SU" and ex13["cves"]["CVE-2023-21707"] == "patched"
    admin = result.hosts["ex19-admin-display"]
    assert admin["exchange"]["su_known"] is False and admin["exchange"]["su"] is None
    assert "su_level_unknown" in [w["code"] for w in admin["warnings"]]
    assert result.hosts["broken-collection-failed"]["source"] == "live"


def test_summary_counts_match_hosts(estate) -> None:
    _, result = estate
    entries = list(result.hosts.values())
    assert result.summary == {
        "hosts": len(entries),
        "ok": sum(e["status"] == "ok" for e in entries),
        "error": sum(e["status"] == "error" for e in entries),
        "vulnerable": sum(e["verdict"]["vulnerable"] is True for e in entries),
        "compromised": sum(e["verdict"]["compromised"] == "yes" for e in entries),
        "compromised_unknown": sum(e["verdict"]["compromised"] == "unknown" for e in entries),
        "unsupported": sum(e["exchange"]["supported"] is False for e in entries),
    }
    assert result.summary == {"hosts": 12, "ok": 5, "error": 7, "vulnerable": 1, "compromised": 0,
                              "compromised_unknown": 12, "unsupported": 4}
    assert result.summary == summarise(result.hosts)


def test_compact_keeps_the_keys_later_roles_need(estate) -> None:
    _, result = estate
    compact = result.compact()
    assert set(compact) == set(result.hosts)
    for name, entry in compact.items():
        assert tuple(entry) == COMPACT_KEYS
        assert entry["exchange"] == result.hosts[name]["exchange"]


def test_write_read_round_trip(estate, tmp_path: Path) -> None:
    _, result = estate
    path = tmp_path / "run" / "nested" / "assessment.json"
    write_assessment(result, str(path))
    assert read_assessment(str(path)) == json.loads(json.dumps(result.hosts))
    assert [p.name for p in path.parent.iterdir()] == ["assessment.json"]  # no temporary left
    # Writing again replaces the file.
    smaller = EstateAssessment({"ex16-unpatched": result.hosts["ex16-unpatched"]}, {})
    write_assessment(smaller, str(path))
    assert list(read_assessment(str(path))) == ["ex16-unpatched"]


def test_write_to_a_bare_file_name(estate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, result = estate
    monkeypatch.chdir(tmp_path)
    write_assessment(result, "assessment.json")
    assert set(read_assessment("assessment.json")) == set(result.hosts)


@pytest.mark.parametrize("content", ['{"hosts": []}', "[]", '{"other": {}}'])
def test_read_assessment_rejects_files_without_hosts(tmp_path: Path, content: str) -> None:
    path = tmp_path / "assessment.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="no host assessments"):
        read_assessment(str(path))


def test_report_validates_against_schema(estate, report_validator: jsonschema.Draft7Validator) -> None:
    _, result = estate
    report = build_report(result.hosts, "2026-11-29T06:00:00Z", RUN)
    assert [f"{list(e.absolute_path)}: {e.message}" for e in report_validator.iter_errors(report)] == []
    assert report["schema"] == REPORT_SCHEMA == 1
    assert report["run"] == RUN
    assert report["summary"] == summarise_report(result.hosts)
    assert result.summary.items() <= report["summary"].items()
    assert list(report["hosts"]) == sorted(result.hosts)
    # The same report passes the writer's compiled validator.
    load_schema_validator(str(SCHEMA_PATH))(report)


def test_report_after_round_trip_validates(estate, tmp_path: Path, report_validator) -> None:
    _, result = estate
    path = tmp_path / "assessment.json"
    write_assessment(result, str(path))
    report = build_report(read_assessment(str(path)), "2026-11-29T06:00:00Z", RUN)
    assert report_validator.is_valid(report)


def test_fixture_estate(report_validator: jsonschema.Draft7Validator) -> None:
    names = ["fx-unpatched", "fx-mitigated", "fx-current", "fx-damaged", "fx-unknown-build", "fx-admin-display",
             "fx-missing"]
    specs = {name: {"evidence_dir": str(FIXTURE_EVIDENCE / name)} for name in names}
    result = assess_estate(specs, DATA_DIR, today=TODAY)
    statuses = {name: entry["status"] for name, entry in result.hosts.items()}
    assert statuses == {"fx-unpatched": "ok", "fx-mitigated": "ok", "fx-current": "ok", "fx-damaged": "error",
                        "fx-unknown-build": "error", "fx-admin-display": "ok", "fx-missing": "error"}
    assert result.hosts["fx-unpatched"]["verdict"]["vulnerable"] is True
    assert result.hosts["fx-mitigated"]["cves"]["CVE-2021-26855"] == "mitigated"
    assert result.hosts["fx-current"]["verdict"]["vulnerable"] is False
    assert result.hosts["fx-admin-display"]["exchange"]["su_known"] is False
    warnings = [w["code"] for w in result.hosts["fx-unpatched"]["warnings"]]
    assert "endpoint_protection_realtime_off" in warnings and "endpoint_protection_signatures_old" in warnings
    assert result.summary["hosts"] == 7 and result.summary["error"] == 3 and result.summary["ok"] == 4
    report = build_report(result.hosts, "2026-11-29T06:00:00Z", RUN)
    assert report_validator.is_valid(report)


def test_one_hosts_fault_does_not_lose_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = estate_assessment.assess_server

    def flaky(server: Any, context: Any) -> dict[str, Any]:
        if server.get("hostname") == "BOOM":
            raise RuntimeError("collector bug")
        return real(server, context)

    monkeypatch.setattr(estate_assessment, "assess_server", flaky)
    specs = {
        "boom": {"evidence_dir": write_bundle(tmp_path, "boom", facts("BOOM", "15.1.2176.9"))},
        "fine": {"evidence_dir": write_bundle(tmp_path, "fine", facts("FINE", "15.1.2176.9"))},
    }
    result = assess_estate(specs, DATA_DIR, today=TODAY)
    assert result.hosts["boom"]["status"] == "error"
    assert "RuntimeError" in result.hosts["boom"]["error"] and "collector bug" in result.hosts["boom"]["error"]
    assert result.hosts["fine"]["status"] == "ok"
    assert result.summary["ok"] == 1 and result.summary["error"] == 1


def test_empty_estate() -> None:
    result = assess_estate({}, DATA_DIR, today=TODAY)
    assert result.hosts == {}
    assert result.summary == {"hosts": 0, "ok": 0, "error": 0, "vulnerable": 0, "compromised": 0,
                              "compromised_unknown": 0, "unsupported": 0}


def test_missing_catalog_fails_the_run(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError):
        assess_estate({"ex": {"evidence_dir": str(tmp_path)}}, str(tmp_path), today=TODAY)


def test_today_decides_support(tmp_path: Path) -> None:
    specs = {"ex19": {"evidence_dir": write_bundle(tmp_path, "ex19", facts("EX19", "15.2.1748.49"))}}
    before = assess_estate(specs, DATA_DIR, today=dt.date(2025, 6, 1)).hosts["ex19"]
    after = assess_estate(specs, DATA_DIR, today=TODAY).hosts["ex19"]
    assert before["exchange"]["supported"] is True and before["next_step"]["action"] == "none"
    assert after["exchange"]["supported"] is False and after["next_step"]["action"] == "upgrade_product"
