"""Reports of two nights of the demo estate, for the nightly run's tests (policy, drift, retention).

The first night is the real demo estate, hunted and assessed in-process exactly as assess.yml
does it. The second is that report one night later: ex19-dag1 got the Aug26SU of 2019 CU14
(15.2.1544.44, KB5121575), ex13 was decommissioned, and ex16-patched logged one more ProxyShell
autodiscover request in its HttpProxy log, from the scanner address already in its logs.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from pathlib import Path
from typing import Any

from exchange_remediation.estate_assessment import assess_estate
from exchange_remediation.estate_hunt import hunt_estate
from exchange_remediation.estate_report import build_report

REPO = Path(__file__).resolve().parents[2]
DATA = str(REPO / "data")
DEMO = REPO / "inventories" / "demo" / "evidence"
SCHEMA = str(REPO / "docs" / "report.schema.json")

NEW_HTTPPROXY_LOG = ("C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Logging\\HttpProxy\\Autodiscover\\"
                     "HttpProxy_2026112903-1.LOG")
NEW_TIME = "2026-11-29T03:41:12.514Z"


@functools.lru_cache(maxsize=1)
def _demo_report() -> dict[str, Any]:
    specs = {folder.name: {"evidence_dir": str(folder), "source": "evidence"}
             for folder in sorted(DEMO.iterdir()) if folder.is_dir()}
    hunt = hunt_estate(specs, DATA)
    hosts = assess_estate(specs, DATA, dt.date(2026, 11, 28), hunt=hunt).hosts
    return build_report(hosts, "2026-11-28T02:00:00Z", {"playbook": "playbooks/nightly.yml"})


def demo_report() -> dict[str, Any]:
    """The demo estate's report.json of the first night (a fresh copy each call)."""
    return copy.deepcopy(_demo_report())


def demo_hosts() -> dict[str, dict[str, Any]]:
    """The per-host entries the exchange_report module reads from the assessment file."""
    return demo_report()["hosts"]


def next_night(report: dict[str, Any]) -> dict[str, Any]:
    """The same estate one night later (see the module docstring)."""
    report = copy.deepcopy(report)
    report["generated_at"] = "2026-11-29T02:00:00Z"
    dag1 = report["hosts"]["ex19-dag1"]
    dag1["exchange"].update(build="15.2.1544.44", su="Aug26SU", latest=True)
    for cve, status in list(dag1["cves"].items()):
        if status == "vulnerable":
            dag1["cves"][cve] = "patched"
            dag1["cve_details"][cve]["status"] = "patched"
    dag1["verdict"]["vulnerable"] = False
    del report["hosts"]["ex13"]
    patched = report["hosts"]["ex16-patched"]
    seen = next(i for i in patched["indicators"] if i["rule"] == "PS-HTTPPROXY-AUTODISCOVER")
    evidence = seen["evidence"].replace("2026-11-12T03:17:41.208Z", NEW_TIME).replace(
        "3bd9f45e-93ae-45d4-8887-43a1802b9163", "8f0c2b7e-5d1a-4c59-9a63-1e2f7d40b9c4")
    patched["indicators"].append({**seen, "source": NEW_HTTPPROXY_LOG, "line": 5, "time": NEW_TIME,
                                  "evidence": evidence})
    return report


def vulnerable_cves(host: dict[str, Any]) -> list[str]:
    return sorted(cve for cve, status in host["cves"].items() if status == "vulnerable")


PREVIOUS_PATH = "/srv/exchange/reports/acme/20261128T020000Z/report.json"
NIGHTLY_POLICY = ("compromised", "vulnerable", "unknown", "unpatched_after_window", "new_indicators")
HOSTILE_HOST = "ex19-<script>alert(1)</script>|`x`\x1b[31m"


@functools.lru_cache(maxsize=1)
def _nightly_report() -> dict[str, Any]:
    from exchange_remediation.report_files import NightlyOptions, extend_report

    first = demo_report()
    options = NightlyOptions(fail_when=NIGHTLY_POLICY, patch_window={"applied": False, "opens_at": None,
                                                                     "closes_at": None},
                             previous=first, previous_path=PREVIOUS_PATH, min_log_days=30)
    return extend_report(next_night(first), options)


def nightly_report() -> dict[str, Any]:
    """The second night's report as the exchange_report module writes it for nightly.yml: 30 days
    of logs required, no patching (window not applied), drift against the first night, the
    nightly policy with new_indicators enforced (a fresh copy each call)."""
    return copy.deepcopy(_nightly_report())
