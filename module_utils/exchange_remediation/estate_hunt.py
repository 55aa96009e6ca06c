"""Hunt every host's evidence bundle in one call, with one loaded rule set.

The per-host results go to a file (hunt.json) that the assessment reads to decide each host's
compromise verdict; a host's own fault becomes its error entry, never the estate's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from .evidence_bundle import read_bundle_facts
from .hunt_engine import BundleHunt, HuntLimits, hunt_bundle
from .hunt_rule import RuleSet, load_rule_set, severity_rank


def hunt_entry(hunt: BundleHunt) -> dict[str, Any]:
    findings = sorted(hunt.findings, key=lambda f: (-severity_rank(f.severity), f.time or "", f.rule))
    return {
        "status": "done",
        "error": None,
        "rules": hunt.rules,
        "findings": [finding.to_report() for finding in findings],
        "findings_total": len(findings) + hunt.dropped,
        "findings_dropped": hunt.dropped,
        "sources": {name: stats.to_report() for name, stats in sorted(hunt.sources.items())},
        "excluded": dict(sorted(hunt.excluded.items())),
        "warnings": list(hunt.warnings),
    }


def _hunt_host(spec: Any, rule_set: RuleSet, limits: HuntLimits) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        return {"status": "not_run", "error": "no evidence described for this host"}
    if spec.get("error"):
        return {"status": "not_run", "error": f"no evidence to hunt: {spec['error']}"}
    evidence_dir = spec.get("evidence_dir")
    if not evidence_dir or not os.path.isdir(str(evidence_dir)):
        return {"status": "error", "error": f"evidence folder {evidence_dir or '(none)'} not found"}
    # A damaged server.json does not stop the hunt: its logs are still evidence, read with the
    # default install paths.
    server = read_bundle_facts(str(evidence_dir)).server
    entry = hunt_entry(hunt_bundle(str(evidence_dir), rule_set, server, limits))
    if spec.get("hunt_error"):
        # Whatever the bundle holds is still hunted, but it is not everything the server had.
        entry["collection_error"] = str(spec["hunt_error"])
    return entry


def hunt_estate(specs: Mapping[str, Any], data_dir: str, limits: HuntLimits | None = None,
                progress: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Raises RuleError (a ValueError) only when the rules themselves cannot be loaded."""
    rule_set = load_rule_set(data_dir)
    limits = limits or HuntLimits()
    results: dict[str, dict[str, Any]] = {}
    names = sorted(specs)
    for number, name in enumerate(names, 1):
        started = time.monotonic()
        try:
            results[name] = _hunt_host(specs[name], rule_set, limits)
        except Exception as exc:
            results[name] = {"status": "error", "error": f"internal error while hunting: {type(exc).__name__}: {exc}"}
        if progress:
            entry = results[name]
            found = len(entry.get("findings") or [])
            progress(f"[{number}/{len(names)}] {name}: {entry['status']}, {found} findings, "
                     f"{time.monotonic() - started:.1f} s")
    return results


def summarise_hunt(results: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    summary = {"hosts": len(results), "hunted": 0, "not_hunted": 0, "critical": 0, "high": 0, "medium": 0, "low": 0}
    for entry in results.values():
        summary["hunted" if entry.get("status") == "done" else "not_hunted"] += 1
        for finding in entry.get("findings") or []:
            if finding.get("severity") in summary:
                summary[finding["severity"]] += 1
    return summary


def write_hunt(results: Mapping[str, Any], path: str) -> None:
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"schema": 1, "hosts": results}, handle)
    os.replace(temporary, path)


def read_hunt(path: str) -> dict[str, dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    hosts = data.get("hosts") if isinstance(data, dict) else None
    if not isinstance(hosts, dict):
        raise ValueError(f"{path} holds no hunt results")
    return hosts
