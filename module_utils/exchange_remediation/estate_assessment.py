"""Assess a whole estate in one call: every host's evidence bundle, one shared catalog."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .compromise_verdict import judge
from .estate_report import summarise
from .evidence_bundle import read_bundle_facts
from .exposure_window import load_families
from .knowledge_base import load_knowledge
from .server_assessment import AssessmentContext, assess_server, error_entry
from .web_config import DEFAULT_SITE_WEB_CONFIG, WebConfigError, rewrite_rules_from_web_config

# Keys of a host entry that later roles need as facts; the full entries go to the file.
COMPACT_KEYS = ("status", "error", "exchange", "verdict", "next_step")


@dataclass(frozen=True)
class EstateAssessment:
    hosts: dict[str, dict[str, Any]]
    summary: dict[str, int]

    def compact(self) -> dict[str, dict[str, Any]]:
        return {name: {key: entry.get(key) for key in COMPACT_KEYS} for name, entry in self.hosts.items()}


def _assess_host(name: str, spec: Any, context: AssessmentContext) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        return error_entry(f"no evidence described for {name}", context)
    evidence_dir = spec.get("evidence_dir")
    source = spec.get("source") or "evidence"
    if spec.get("error"):
        return error_entry(str(spec["error"]), context, source=source, evidence_dir=evidence_dir)
    bundle = read_bundle_facts(str(evidence_dir or ""))
    if bundle.server is None:
        return error_entry(bundle.error or "no facts", context, source=source, evidence_dir=evidence_dir)
    entry = assess_server(_with_site_rules(bundle.server, str(evidence_dir)), context)
    entry["source"] = source
    entry["evidence_dir"] = evidence_dir
    return entry


def _find_case_insensitive(root: str, parts: tuple[str, ...]) -> str | None:
    """Windows paths are case-insensitive; bundles copied off a server keep whatever case it had."""
    current = root
    for part in parts:
        try:
            names = os.listdir(current)
        except OSError:
            return None
        found = next((name for name in names if name.lower() == part.lower()), None)
        if found is None:
            return None
        current = os.path.join(current, found)
    return current


def _with_site_rules(server: dict[str, Any], evidence_dir: str) -> dict[str, Any]:
    """Replace rule names with the rules themselves when the bundle holds the site's web.config,
    so a mitigation is compared with its published definition rather than trusted by name."""
    files = _find_case_insensitive(evidence_dir, ("files",))
    drives = sorted(os.listdir(files)) if files and os.path.isdir(files) else []
    for drive in drives:
        path = _find_case_insensitive(os.path.join(files, drive), DEFAULT_SITE_WEB_CONFIG)
        if path is None or not os.path.isfile(path):
            continue
        iis = dict(server.get("iis") or {})
        try:
            with open(path, encoding="utf-8-sig", errors="strict") as handle:
                iis["rewrite_rules"] = rewrite_rules_from_web_config(handle.read())
        except (OSError, UnicodeDecodeError, WebConfigError) as exc:
            iis["rewrite_rules_unreadable"] = f"{path}: {exc}"
        return {**server, "iis": iis}
    return server


def assess_estate(specs: Mapping[str, Any], data_dir: str, today: dt.date | None = None,
                  signature_max_age_days: int = 7, hunt: Mapping[str, Any] | None = None,
                  min_coverage_percent: float = 90.0) -> EstateAssessment:
    """Assess every host; a host's own fault becomes its error entry, never the estate's.

    hunt: per-host hunt results (estate_hunt.hunt_estate); without them every host's
    compromise verdict stays "unknown". Raises KnowledgeError/CatalogError/ExposureDataError
    only when the shared data itself cannot be loaded.
    """
    knowledge = load_knowledge(data_dir)
    context = AssessmentContext(knowledge.catalog, knowledge.table, knowledge.march21,
                                today or dt.datetime.now(dt.UTC).date(), signature_max_age_days,
                                load_families(data_dir))
    hosts: dict[str, dict[str, Any]] = {}
    for name in sorted(specs):
        try:
            hosts[name] = _assess_host(name, specs[name], context)
        except Exception as exc:
            hosts[name] = error_entry(f"internal error while assessing: {type(exc).__name__}: {exc}", context)
        _judge_compromise(hosts[name], (hunt or {}).get(name) if hunt is not None else None, min_coverage_percent)
    return EstateAssessment(hosts, summarise(hosts))


def _judge_compromise(entry: dict[str, Any], hunt: Mapping[str, Any] | None, min_coverage_percent: float) -> None:
    exposure = list((entry.get("hunt") or {}).get("exposure") or [])
    compromised, indicators, block = judge(hunt, exposure, min_coverage_percent, entry.get("status") == "ok",
                                             entry.get("collected_at"))
    entry["indicators"] = indicators
    entry["hunt"] = block
    entry["verdict"] = {**entry["verdict"], "compromised": compromised}


def write_assessment(assessment: EstateAssessment, path: str) -> None:
    """Hand the full entries to the report step through a file, not through Ansible variables:
    a 200-host estate is megabytes of CVE tables that templating would copy several times."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"hosts": assessment.hosts}, handle)
    os.replace(temporary, path)


def read_assessment(path: str) -> dict[str, dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    hosts = data.get("hosts") if isinstance(data, dict) else None
    if not isinstance(hosts, dict):
        raise ValueError(f"{path} holds no host assessments")
    return hosts
