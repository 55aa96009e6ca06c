"""make demo's job: assess.yml over the bundled demo estate, checked against inventories/demo/README.md."""

from __future__ import annotations

import pytest
from conftest import REPO, PlaybookRun, run_playbook

DEMO = REPO / "inventories" / "demo" / "hosts.yml"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> PlaybookRun:
    return run_playbook("assess.yml", DEMO, tmp_path_factory.mktemp("demo-reports"))


def test_demo_run_succeeds_with_a_summary_per_server(demo_run: PlaybookRun) -> None:
    assert demo_run.returncode == 0, demo_run.stdout[-3000:] + demo_run.stderr[-2000:]
    report = demo_run.report()
    assert len(report["hosts"]) >= 8
    for name in report["hosts"]:
        assert f"\n        {name} " in demo_run.stdout, name  # a table row per server


@pytest.mark.parametrize(("host", "product", "cu", "su", "build"), [
    ("ex19-dag1", "Exchange Server 2019", "CU14", "Nov24SUv2", "15.2.1544.14"),
    ("ex19-dag2", "Exchange Server 2019", "CU14", "Aug26SU", "15.2.1544.44"),
    ("ex19-dag3", "Exchange Server 2019", "CU15", "Aug26SU", "15.2.1748.49"),
    ("ex16-legacy", "Exchange Server 2016", "CU19", None, "15.1.2176.2"),
    ("ex16-patched", "Exchange Server 2016", "CU23", "Aug26SU", "15.1.2507.72"),
    ("ex16-mitigated", "Exchange Server 2016", "CU18", None, "15.1.2106.2"),
    ("ex13", "Exchange Server 2013", "CU23", "Mar23SU", "15.0.1497.48"),
    ("exse01", "Exchange Server SE", "RTM", "Aug26SU", "15.2.2562.46"),
    ("edge01", "Exchange Server 2019", "CU15", "Feb26SU", "15.2.1748.43"),
])
def test_demo_builds_are_identified(demo_run: PlaybookRun, host: str, product: str, cu: str, su: str | None,
                                    build: str) -> None:
    exchange = demo_run.report()["hosts"][host]["exchange"]
    assert (exchange["product"], exchange["cu"], exchange["su"], exchange["build"]) == (product, cu, su, build)


def test_demo_verdicts_match_the_story(demo_run: PlaybookRun) -> None:
    hosts = demo_run.report()["hosts"]
    legacy = hosts["ex16-legacy"]
    assert legacy["cves"]["CVE-2021-26855"] == "vulnerable"
    assert legacy["verdict"]["vulnerable"] is True
    assert {"endpoint_protection_realtime_off", "endpoint_protection_signatures_old"} <= {
        w["code"] for w in legacy["warnings"]}
    assert hosts["ex16-mitigated"]["cves"]["CVE-2021-26855"] == "mitigated"
    assert hosts["exse01"]["exchange"]["supported"] is True
    assert hosts["exse01"]["next_step"]["action"] == "none"
    assert hosts["ex19-dag3"]["exchange"]["latest"] is True
    assert hosts["ex19-dag3"]["next_step"]["action"] == "upgrade_product"
    assert "Exchange Server SE" in hosts["ex19-dag3"]["next_step"]["summary"]
    assert hosts["ex16-patched"]["next_step"]["action"] == "upgrade_product"
    assert hosts["edge01"]["exchange"]["edge"] is True
    assert hosts["ex10"]["exchange"]["product"] == "Exchange Server 2010"
    assert hosts["ex10"]["cves"]["CVE-2021-26857"] == "patched"
    assert hosts["ex19-unknown"]["exchange"]["build_note"] == "build not in catalog"
    damaged = hosts["ex-damaged"]
    assert damaged["status"] == "error" and "not valid JSON" in damaged["error"]
    assert damaged["verdict"]["compromised"] == "unknown"
