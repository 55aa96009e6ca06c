#!/usr/bin/env python3
"""make bench: what the wave plan buys, and what planning costs.

1. The modelled estate of issue #4 (4 DAGs of 4 members and 8 standalone servers): the wave
   plan and its modelled maintenance window, against patching one server at a time, as a ratio.
2. The planner on 5,000 servers (300 DAGs of 2 to 16 members and standalone servers over 20
   sites, with and without limits), against assessing the same 5,000 servers in the same
   process: planning should cost a fraction of the assessment that every run already does.

Every server is a server.json assessed by the real assessment code; builds come from the catalog.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "module_utils"))

from exchange_remediation.knowledge_base import load_knowledge  # noqa: E402
from exchange_remediation.patch_knowledge import load_patch_knowledge  # noqa: E402
from exchange_remediation.patch_plan import PlanOptions, plan_estate  # noqa: E402
from exchange_remediation.server_assessment import AssessmentContext, assess_server  # noqa: E402

DATA = str(REPO / "data")
TODAY = dt.date(2026, 11, 29)
# (ExSetup version, .NET release, OS version): real catalog builds an estate runs today.
BUILDS = {
    "2019 CU14 Nov24SUv2 (SU due)": ("15.02.1544.014", 533325, "10.0.20348"),
    "2019 CU15 Feb26SU (SU due)": ("15.02.1748.043", 533325, "10.0.20348"),
    "2016 CU23 Nov24SUv2 (SU due)": ("15.01.2507.044", 528449, "10.0.14393"),
    "2016 CU22 Mar22SU (CU and SU due)": ("15.01.2375.024", 528449, "10.0.14393"),
    "2019 CU13 (CU and SU due)": ("15.02.1258.012", 528449, "10.0.17763"),
}


def server(name: str, build: str, dag: str | None, site: str) -> dict[str, Any]:
    exsetup, dotnet, os_version = BUILDS[build]
    return {"schema": 1, "hostname": name.upper(), "fqdn": f"{name}.corp.example",
            "collected_at": "2026-11-28T22:00:00Z",
            "exchange": {"install_path": "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
                         "exsetup_version": exsetup, "roles": ["Mailbox"], "dag": dag, "site": site,
                         "installed_updates": []},
            "os": {"caption": "Microsoft Windows Server", "version": os_version},
            "dotnet_release": dotnet, "iis": {"url_rewrite_version": "7.2.1993", "rewrite_rules": []},
            "mitigation_service": {"enabled": True, "applied": []}}


def assess(servers: dict[str, dict[str, Any]], context: AssessmentContext) -> dict[str, dict[str, Any]]:
    entries = {}
    for name, facts in servers.items():
        entry = assess_server(facts, context)
        entry["source"] = "live"
        entries[name] = entry
    return entries


def modelled_estate() -> dict[str, dict[str, Any]]:
    servers = {}
    builds = list(BUILDS)
    for dag in range(1, 5):
        for member in range(1, 5):
            name = f"dag{dag}-ex{member}"
            # A DAG runs one CU, so its members share a target and a duration.
            servers[name] = server(name, builds[dag % len(builds)], f"DAG{dag:02}", "HQ" if dag <= 2 else "DR")
    for number in range(1, 9):
        name = f"solo-ex{number}"
        servers[name] = server(name, builds[number % len(builds)], None, "BRANCH")
    return servers


def large_estate(count: int, seed: int) -> dict[str, dict[str, Any]]:
    rng = random.Random(seed)
    builds = list(BUILDS)
    servers: dict[str, dict[str, Any]] = {}
    dag = 0
    while len(servers) < count * 0.85:
        dag += 1
        build = rng.choice(builds)  # a DAG runs one CU; its members are patched to the same target
        site = f"SITE{rng.randrange(20):02}"
        for member in range(rng.randint(2, 16)):
            name = f"d{dag:03}-m{member:02}"
            servers[name] = server(name, build, f"DAG{dag:03}", site)
    while len(servers) < count:
        name = f"solo-{len(servers):05}"
        servers[name] = server(name, rng.choice(builds), None, f"SITE{rng.randrange(20):02}")
    return servers


def timed(work: Any, rounds: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base = load_knowledge(DATA)
    context = AssessmentContext(base.catalog, base.table, base.march21, TODAY)
    knowledge = load_patch_knowledge(DATA)

    print("== Wave plan: 4 DAGs of 4 members + 8 standalone servers ==")
    servers = modelled_estate()
    plan = plan_estate(assess(servers, context), servers, knowledge, PlanOptions(), "2026-11-29T00:00:00Z")
    for wave in plan["waves"]:
        print(f"  wave {wave['number']}: {len(wave['servers']):2} servers, ~{wave['modelled_minutes']} min: "
              + ", ".join(wave["servers"]))
    summary = plan["summary"]
    print(f"  waves: {summary['waves']} (lower bound {summary['lower_bound']}: {summary['limited_by']}); target 4")
    print(f"  modelled window: {summary['modelled_window_minutes']} min in waves against "
          f"{summary['serial_window_minutes']} min one server at a time: "
          f"ratio {summary['modelled_window_minutes'] / summary['serial_window_minutes']:.2f} "
          f"({summary['serial_window_minutes'] / summary['modelled_window_minutes']:.1f}x shorter)")
    limited = plan_estate(assess(servers, context), servers, knowledge, PlanOptions(max_per_site=2),
                          "2026-11-29T00:00:00Z")["summary"]
    print(f"  with max_per_site 2: {limited['waves']} waves ({limited['limited_by']}), "
          f"{limited['modelled_window_minutes']} min, ratio "
          f"{limited['modelled_window_minutes'] / limited['serial_window_minutes']:.2f}")

    print(f"== Planner on {args.servers} servers (median of {args.rounds}, one process) ==")
    estate = large_estate(args.servers, seed=4)
    # A fresh context per round: the assessment memoises builds, the way a real run starts cold.
    assess_seconds, entries = timed(lambda: assess(estate, AssessmentContext(base.catalog, base.table, base.march21,
                                                                             TODAY)), args.rounds)
    print(f"  reference: assessing the same servers        {assess_seconds:6.3f} s")
    for label, options in (("no limits", PlanOptions()), ("max_per_site 3", PlanOptions(max_per_site=3)),
                           ("max_per_wave 200, max_per_site 5", PlanOptions(max_per_wave=200, max_per_site=5))):
        seconds, big = timed(lambda options=options: plan_estate(entries, estate, knowledge, options,
                                                                 "2026-11-29T00:00:00Z"), args.rounds)
        print(f"  plan, {label:33} {seconds:6.3f} s  ratio to assessment {seconds / assess_seconds:4.2f}  "
              f"waves {big['summary']['waves']} (lower bound {big['summary']['lower_bound']}), "
              f"target < 1 s: {'met' if seconds < 1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
