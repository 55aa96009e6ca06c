#!/usr/bin/env python3
"""make bench: what the assessment costs, measured against references run in the same command.

1. assess.yml over 200 generated offline hosts, with the hunt (the default) and without it
   (``-e exchange_hunt_enabled=false``), beside a play over the same hosts with the same number of
   tasks, each of them ``ansible.builtin.meta: noop`` (a play that does nothing). All three are
   run alternately several times; medians and their ratios are printed.
2. The pure core on 100,000 builds: drawn from the catalog (what estates run) and perturbed
   (revision numbers not in the catalog, so nearly every build is new), beside a reference loop
   that only parses the same build strings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "module_utils"))

from exchange_remediation.build_assessment import BuildAssessor  # noqa: E402
from exchange_remediation.build_number import parse_file_version  # noqa: E402
from exchange_remediation.knowledge_base import load_knowledge  # noqa: E402

BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def _timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"command failed ({done.returncode}): {' '.join(command)}\n{done.stdout[-2000:]}"
                         f"\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def bench_playbook(hosts: int, rounds: int, work: Path) -> dict[str, float]:
    estate = work / "estate"
    print(f"generating {hosts} offline hosts ...", file=sys.stderr)
    subprocess.run([sys.executable, str(REPO / "tools" / "generate_estate.py"), "synthetic", "--hosts", str(hosts),
                    "--out", str(estate)], check=True, cwd=REPO)
    inventory = estate / "hosts.yml"
    assess = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / "assess.yml"),
              "-e", f"report_dir={work / 'reports'}", "-e", "exchange_facts_run_id=bench"]
    # Count the tasks assess.yml really runs (argument-spec checks included) so the reference
    # play has exactly as many.
    _, output = _timed(assess)
    tasks = len(re.findall(r"^TASK \[", output, flags=re.MULTILINE))
    reference = work / "reference.yml"
    reference.write_text(
        "- name: Reference play that does nothing\n  hosts: exchange\n  gather_facts: false\n  tasks:\n"
        + "".join(f"    - name: Do nothing {n}\n      ansible.builtin.meta: noop\n" for n in range(tasks)),
        encoding="utf-8")
    noop = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(reference)]
    without_hunt = [*assess, "-e", "exchange_hunt_enabled=false"]
    assess_times, without_hunt_times, noop_times = [], [], []
    for round_number in range(rounds):
        print(f"round {round_number + 1}/{rounds} ...", file=sys.stderr)
        noop_times.append(_timed(noop)[0])
        without_hunt_times.append(_timed(without_hunt)[0])
        assess_times.append(_timed(assess)[0])
    return {"hosts": hosts, "tasks": tasks, "assess": statistics.median(assess_times),
            "assess_without_hunt": statistics.median(without_hunt_times), "noop": statistics.median(noop_times)}


def _sample_builds(count: int, perturb: bool, seed: int) -> list[str]:
    knowledge = load_knowledge(str(REPO / "data"))
    builds = sorted({cu.build for cus in knowledge.catalog.cus.values() for cu in cus}
                    | {u.build for cus in knowledge.catalog.cus.values() for cu in cus for u in cu.updates})
    rnd = random.Random(seed)
    sample = [rnd.choice(builds) for _ in range(count)]
    if perturb:
        sample = [b._replace(revision=rnd.randrange(0, 1000)) for b in sample]
    # Zero-padded like ExSetup.exe prints them, so parsing is part of the work.
    return [f"{b.major}.{b.minor:02d}.{b.build:04d}.{b.revision:03d}" for b in sample]


def bench_core(count: int) -> dict[str, float]:
    knowledge = load_knowledge(str(REPO / "data"))
    results = {}
    for label, perturb in (("catalog", False), ("perturbed", True)):
        texts = _sample_builds(count, perturb, seed=7)
        start = time.perf_counter()
        parsed = [parse_file_version(text).build for text in texts]
        parse_only = time.perf_counter() - start
        assessor = BuildAssessor(knowledge.catalog, knowledge.table, dt.date(2026, 11, 29))
        start = time.perf_counter()
        for text in texts:
            build = parse_file_version(text).build
            assert build is not None
            assessor.assess(build)
        results[label] = time.perf_counter() - start
        results[f"{label}_parse_only"] = parse_only
        results[f"{label}_distinct"] = float(len(set(parsed)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--builds", type=int, default=100_000)
    parser.add_argument("--skip-playbook", action="store_true", help="only measure the core")
    args = parser.parse_args()
    core = bench_core(args.builds)
    print(f"core: {args.builds:,} builds from the catalog ({core['catalog_distinct']:.0f} distinct): "
          f"{core['catalog']:.3f} s (parsing alone {core['catalog_parse_only']:.3f} s, "
          f"{core['catalog'] / core['catalog_parse_only']:.1f}x)")
    print(f"core: {args.builds:,} perturbed builds ({core['perturbed_distinct']:.0f} distinct): "
          f"{core['perturbed']:.3f} s (parsing alone {core['perturbed_parse_only']:.3f} s, "
          f"{core['perturbed'] / core['perturbed_parse_only']:.1f}x)   target < 1 s")
    if not args.skip_playbook:
        with tempfile.TemporaryDirectory(prefix="exchange-bench-") as work:
            play = bench_playbook(args.hosts, args.rounds, Path(work))
        ratio = play["assess_without_hunt"] / play["noop"]
        print(f"playbook: {play['hosts']:.0f} offline hosts, {play['tasks']:.0f} tasks, median of {args.rounds}: "
              f"assess.yml without the hunt {play['assess_without_hunt']:.2f} s, do-nothing play "
              f"{play['noop']:.2f} s, ratio {ratio:.2f} (+{(ratio - 1) * 100:.0f}%)   target <= 1.50")
        hunt = play["assess"] - play["assess_without_hunt"]
        print(f"playbook: assess.yml with the hunt {play['assess']:.2f} s, ratio {play['assess'] / play['noop']:.2f} "
              f"to the do-nothing play; the hunt itself {hunt:.2f} s, {hunt * 1000 / play['hosts']:.1f} ms per host")
    return 0


if __name__ == "__main__":
    sys.exit(main())
