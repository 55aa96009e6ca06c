#!/usr/bin/env python3
"""make bench: what the nightly report costs on a large estate, against the report.json every run writes.

The demo estate is hunted and assessed in-process (the real code), then its twelve servers are
cloned into an estate of --servers servers (default 1,200: a hundred demo estates, with the demo's
136 findings per twelve servers). The previous night's report is the same estate with changes a
night brings: a few servers patched, one gone, one added, new findings on another.

Measured, best of --rounds, in this one process:
  reference   report.json alone: build, schema validation, JSON text (what every run already pays)
  nightly     report.json with retention, drift and policy
  html        report.html (the dashboard) and one page per server
  exports     indicators.csv and the STIX 2.1 bundle
Each line prints its ratio to the reference.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "module_utils"))

from exchange_remediation.estate_assessment import assess_estate  # noqa: E402
from exchange_remediation.estate_hunt import hunt_estate  # noqa: E402
from exchange_remediation.estate_report import build_report  # noqa: E402
from exchange_remediation.indicator_export import indicator_rows, indicators_csv  # noqa: E402
from exchange_remediation.nightly_policy import CONDITIONS  # noqa: E402
from exchange_remediation.report_files import NightlyOptions, extend_report, load_schema_validator  # noqa: E402
from exchange_remediation.report_html import render_html, render_server_page  # noqa: E402
from exchange_remediation.stix_export import stix_bundle  # noqa: E402

DATA = str(REPO / "data")
DEMO = REPO / "inventories" / "demo" / "evidence"
SCHEMA = str(REPO / "docs" / "report.schema.json")
GENERATED = "2026-11-29T02:00:00Z"
RUN = {"playbook": "Nightly", "check_mode": False, "ansible_version": "2.19.14", "client": "bench",
       "inventory": "inventories/bench/hosts.yml"}


def demo_hosts() -> dict[str, dict[str, Any]]:
    specs = {folder.name: {"evidence_dir": str(folder), "source": "evidence"}
             for folder in sorted(DEMO.iterdir()) if folder.is_dir()}
    return assess_estate(specs, DATA, dt.date(2026, 11, 29), hunt=hunt_estate(specs, DATA)).hosts


def estate(hosts: dict[str, dict[str, Any]], servers: int) -> dict[str, dict[str, Any]]:
    names = sorted(hosts)
    return {f"{names[index % len(names)]}-{index // len(names):04d}": copy.deepcopy(hosts[names[index % len(names)]])
            for index in range(servers)}


def previous_night(report: dict[str, Any]) -> dict[str, Any]:
    """Last night: before a few servers were patched, with one server since retired, one not yet added,
    and without the latest finding of each compromised server."""
    previous = copy.deepcopy(report)
    hosts = previous["hosts"]
    names = sorted(hosts)
    for name in names[::50]:
        exchange = hosts[name].get("exchange") or {}
        if exchange.get("build"):
            exchange["build"] = "15.2.1544.14"  # 2019 CU14 Nov24SUv2: before that night's Aug26SU
    hosts[f"{names[0]}-retired"] = copy.deepcopy(hosts[names[0]])
    del hosts[names[-1]]
    for name in names:
        if hosts.get(name, {}).get("indicators"):
            hosts[name]["indicators"] = hosts[name]["indicators"][:-1]
    return previous


def best(rounds: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    hosts = estate(demo_hosts(), args.servers)
    validate = load_schema_validator(SCHEMA)
    base = build_report(hosts, GENERATED, RUN)
    previous = previous_night(base)
    findings = sum(len(host.get("indicators") or []) for host in base["hosts"].values())
    print(f"estate: {args.servers} servers, {findings} findings (demo hunted and assessed in "
          f"{time.perf_counter() - started:.1f} s)")
    options = NightlyOptions(fail_when=CONDITIONS, drift=True, previous=previous,
                             previous_path="reports/bench/20261128T020000Z/report.json", min_log_days=30)

    def reference() -> str:
        report = build_report(hosts, GENERATED, RUN)
        validate(report)
        return json.dumps(report)

    def nightly() -> str:
        report = extend_report(build_report(hosts, GENERATED, RUN), options)
        validate(report)
        return json.dumps(report)

    report = extend_report(build_report(hosts, GENERATED, RUN), options)
    drift = report["drift"]
    print(f"drift: {drift['summary']}; policy: {report['policy']['summary'][:100]}")

    def html() -> None:
        render_html(report)
        for name in report["hosts"]:
            render_server_page(report, name)

    def exports() -> None:
        indicators_csv(indicator_rows(report, include_hostnames=False))
        stix_bundle(report, include_hostnames=False)

    with tempfile.TemporaryDirectory():
        timings = {"reference (report.json alone)": best(args.rounds, reference),
                   "report.json with retention, drift, policy": best(args.rounds, nightly),
                   "report.html + a page per server": best(args.rounds, html),
                   "indicators.csv + STIX bundle": best(args.rounds, exports)}
    reference_time = timings["reference (report.json alone)"]
    width = max(len(name) for name in timings)
    for name, seconds in timings.items():
        print(f"  {name:<{width}}  {seconds:7.3f} s   ratio {seconds / reference_time:5.2f}")
    total = sum(seconds for name, seconds in timings.items() if not name.startswith("reference"))
    print(f"  {'nightly reports in all (sequential)':<{width}}  {total:7.3f} s   ratio {total / reference_time:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
