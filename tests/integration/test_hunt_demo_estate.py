"""hunt.yml over the bundled demo estate, checked against the stories in inventories/demo/README.md."""

from __future__ import annotations

import json

import jsonschema
import pytest
from conftest import REPO, PlaybookRun, run_playbook

DEMO = REPO / "inventories" / "demo" / "hosts.yml"
EX = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"
REQUIRED_MAILBOX_STREAMS = {"HttpProxy", "ECP", "OABGenerator", "Application", "MSExchangeManagement", "WebFolders"}


@pytest.fixture(scope="module")
def hunt_run(tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    return run_playbook("hunt.yml", DEMO, tmp_path_factory.mktemp("hunt-reports"))


def _rules(host: dict, *, serious_only: bool = False) -> set[str]:
    return {f["rule"] for f in host["indicators"]
            if not serious_only or (f["severity"] in ("critical", "high") and not f["attempt"])}


def test_hunt_run_succeeds_and_the_report_follows_its_schema(hunt_run: PlaybookRun, report_schema: dict) -> None:
    assert hunt_run.returncode == 0, hunt_run.stdout[-3000:] + hunt_run.stderr[-2000:]
    report = hunt_run.report()
    jsonschema.validate(report, report_schema)
    assert "exchange_hunt: [1/12]" in hunt_run.stdout  # progress per host while the estate is hunted
    hunt_file = REPO / "evidence" / "pytest" / "hunt.json"
    assert json.loads(hunt_file.read_text(encoding="utf-8"))["hosts"].keys() == report["hosts"].keys()


def test_ex16_legacy_shows_the_proxylogon_intrusion(hunt_run: PlaybookRun) -> None:
    legacy = hunt_run.report()["hosts"]["ex16-legacy"]
    assert legacy["verdict"]["compromised"] == "yes"
    assert {"PL-26855-HTTPPROXY", "PL-27065-ECPSERVER", "PL-27065-RESETVDIR", "PL-26858-OABGEN"} <= _rules(
        legacy, serious_only=True)
    session = [f for f in legacy["indicators"]
               if f["rule"] == "PL-26855-HTTPPROXY" and "proxyLogon.ecp" in f["evidence"]]
    assert session and session[0]["severity"] == "critical"
    assert session[0]["source"] == EX + "Logging\\HttpProxy\\Ecp\\HttpProxy_2021030306-1.LOG"
    assert session[0]["time"].startswith("2021-03-03T06:49:46")
    assert isinstance(session[0]["line"], int) and session[0]["line"] > 1
    assert session[0]["cve"] == "CVE-2021-26855"
    planted = "\\aspnet_client\\system_web\\4betnm9k.aspx"
    shell = [f for f in legacy["indicators"] if f["source"].lower().endswith(planted)]
    assert shell and {f["severity"] for f in shell} == {"critical"}


def test_exclusions_hold_on_ex16_legacy(hunt_run: PlaybookRun) -> None:
    legacy = hunt_run.report()["hosts"]["ex16-legacy"]
    for finding in legacy["indicators"]:
        if finding["rule"] in ("PL-26855-HTTPPROXY", "PL-26855-STATIC-PATHS"):
            assert "ServerInfo~localhost" not in finding["evidence"]  # the admin's nmap check is PROBE only
        if finding["rule"] == "PL-26858-OABGEN":
            assert "ClientAccess\\OAB\\Temp" not in finding["evidence"]
        if finding["rule"] == "PL-27065-ECPSERVER":
            assert "https://mail.contoso.com/OAB" not in finding["evidence"]
    assert legacy["hunt"]["excluded"].get("PL-26855-HTTPPROXY", 0) >= 1
    probe = [f for f in legacy["indicators"] if f["rule"] == "PL-26855-PROBE"]
    assert probe and {f["severity"] for f in probe} == {"low"}
    legit = ("errorfe.aspx", "expiredpassword.aspx", "frowny.aspx", "logoff.aspx", "logon.aspx", "outlookcn.aspx",
             "redirsuiteserviceproxy.aspx", "signout.aspx", "timeoutlogoff.aspx")
    assert not [f for f in legacy["indicators"] if f["source"].lower().endswith(legit)]


def test_benign_servers_have_no_serious_findings(hunt_run: PlaybookRun) -> None:
    hosts = hunt_run.report()["hosts"]
    for name in ("ex19-dag1", "ex19-dag2", "ex19-dag3", "ex16-mitigated", "ex13", "exse01", "ex10", "edge01",
                 "ex19-unknown"):
        assert not _rules(hosts[name], serious_only=True), (name, hosts[name]["indicators"][:3])
        assert hosts[name]["verdict"]["compromised"] in ("no", "unknown"), name


def test_attempts_against_the_patched_server_are_not_a_compromise(hunt_run: PlaybookRun) -> None:
    patched = hunt_run.report()["hosts"]["ex16-patched"]
    autodiscover = [f for f in patched["indicators"] if "autodiscover.json" in f["evidence"].lower()]
    assert autodiscover, patched["indicators"]
    assert all(f["attempt"] for f in autodiscover if f["attack"] in ("ProxyShell", "ProxyNotShell"))
    assert patched["verdict"]["compromised"] != "yes"


def test_sources_are_reported_and_old_windows_are_not_covered(hunt_run: PlaybookRun) -> None:
    hosts = hunt_run.report()["hosts"]
    dag1 = hosts["ex19-dag1"]["hunt"]
    assert {name for name, s in dag1["sources"].items() if s["required"]} >= REQUIRED_MAILBOX_STREAMS
    for name in REQUIRED_MAILBOX_STREAMS:
        assert dag1["sources"][name]["present"], name
    assert dag1["sources"]["HttpProxy"]["files"] > 0 and dag1["sources"]["HttpProxy"]["lines"] > 0
    assert dag1["sources"]["HttpProxy"]["first"].startswith("2026-10")
    # Thirty days of 2026 logs cannot clear a server that was open to ProxyLogon in 2021.
    assert hosts["ex19-dag1"]["verdict"]["compromised"] == "unknown"
    assert any("ProxyLogon exposure window" in reason for reason in dag1["reasons"])
    # Installed in 2025 with SE: never open to any campaign, every source read.
    assert hosts["exse01"]["verdict"]["compromised"] == "no", hosts["exse01"]["hunt"]["reasons"]
    assert hosts["exse01"]["hunt"]["coverage_percent"] == 100.0


def test_damaged_bundle_is_hunted_but_never_clean(hunt_run: PlaybookRun) -> None:
    damaged = hunt_run.report()["hosts"]["ex-damaged"]
    assert damaged["status"] == "error"
    assert damaged["hunt"]["status"] == "done"
    assert damaged["hunt"]["sources"]["HttpProxy"]["present"]
    assert damaged["verdict"]["compromised"] == "unknown"


def test_reports_show_findings_with_escaped_evidence(hunt_run: PlaybookRun) -> None:
    html = (hunt_run.report_dir / "report.html").read_text(encoding="utf-8")
    markdown = (hunt_run.report_dir / "summary.md").read_text(encoding="utf-8")
    # The webshell's own markup is evidence: shown, never live.
    assert "&lt;script language=" in html or "&lt;script" in html
    assert '<script language="JScript"' not in html
    assert "PL-27065-ECPSERVER" in html and "PL-27065-ECPSERVER" in markdown
    assert "proxyLogon.ecp" in html and "proxyLogon.ecp" in markdown
