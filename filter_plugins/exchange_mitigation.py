"""Jinja filters of the exchange_mitigation role: plan the URL Rewrite mitigations, check what a server read back.

The decisions live in the pure core (module_utils/exchange_remediation/mitigation_plan.py); these
filters only load the data files and the run's assessment and hand them over.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

# The pure core lives in ../module_utils; Ansible only makes it importable inside modules.
_CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from exchange_remediation import mitigation_plan as _plan  # noqa: E402
from exchange_remediation.knowledge_base import KnowledgeBase, KnowledgeError, load_knowledge  # noqa: E402


@functools.lru_cache(maxsize=4)
def _knowledge(data_dir: str, stamp: float) -> KnowledgeBase:
    """The data files, read once per run (the stamp makes an edited cves.yml count as new)."""
    return load_knowledge(data_dir)


def _load(data_dir: str) -> KnowledgeBase:
    path = os.path.join(str(data_dir), "cves.yml")
    try:
        stamp = os.stat(path).st_mtime
    except OSError as exc:
        raise AnsibleFilterError(f"exchange_mitigation: cannot read {path}: {exc.strerror}") from exc
    try:
        return _knowledge(str(data_dir), stamp)
    except KnowledgeError as exc:
        raise AnsibleFilterError(f"exchange_mitigation: {exc}") from exc


def _entries(assessment_file: str) -> Mapping[str, Any]:
    """The run's full assessment entries (evidence/<run>/assessment.json), read here rather than
    passed through templating: a large estate's CVE tables are megabytes."""
    try:
        with open(str(assessment_file), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise AnsibleFilterError(f"exchange_mitigation: cannot read the assessment {assessment_file}: {exc}") from exc
    hosts = data.get("hosts") if isinstance(data, Mapping) else None
    if not isinstance(hosts, Mapping):
        raise AnsibleFilterError(f"exchange_mitigation: {assessment_file} holds no host assessments")
    return hosts


def exchange_mitigation_plan(hostvars: Mapping[str, Any], hosts: Sequence[str], assessment_file: str, data_dir: str,
                             state: str = _plan.PRESENT, sets: Sequence[str] | None = None,
                             enable_service: bool = False) -> dict[str, dict[str, Any]]:
    """Per host: apply or skip, why, which rule sets to add or remove and the rules to write.

    A live host's collected facts (server.json built by exchange_facts) say which rules are
    already on the site and what the Emergency Mitigation Service looks like; offline hosts are
    planned from their assessment alone and always skipped.
    """
    knowledge = _load(data_dir)
    facts: dict[str, Mapping[str, Any] | None] = {}
    for name in hosts:
        server = hostvars[name].get("exchange_facts_server")
        facts[name] = server if isinstance(server, Mapping) else None
    options = _plan.MitigationOptions(state=str(state), sets=tuple(str(s) for s in sets or ()),
                                      enable_service=bool(enable_service))
    try:
        return _plan.plan_mitigations(_entries(assessment_file), list(hosts), facts, knowledge.table,
                                      knowledge.catalog, options)
    except ValueError as exc:
        raise AnsibleFilterError(f"exchange_mitigation: {exc}") from exc


def exchange_mitigation_readback(rules: Any, host_plan: Mapping[str, Any], url_rewrite_version: str | None,
                                 data_dir: str) -> dict[str, Any]:
    """{ok, problems, mitigations}: are the planned sets in place, and the removed ones gone, in what
    the server read back after the change (mitigations.md §7, the assessment's own check)."""
    knowledge = _load(data_dir)
    verdict = _plan.readback_verdict(rules, url_rewrite_version, list(host_plan.get("apply") or ()),
                                     list(host_plan.get("remove") or ()), knowledge.table)
    return verdict.to_dict()


def exchange_mitigation_plan_lines(plans: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per host of the plan: apply or skip, and why."""
    return _plan.plan_lines(plans)


def exchange_mitigation_record(host_plan: Mapping[str, Any], observed: Mapping[str, Any]) -> dict[str, Any]:
    """The host's evidence/<run>/mitigation/<host>.json record from its plan and what the tasks returned."""
    return _plan.mitigation_record(host_plan, observed)


def exchange_mitigation_summary(hostvars: Mapping[str, Any], hosts: Sequence[str]) -> list[str]:
    """One line per host: what happened and why (and, for offline hosts, what they would need)."""
    return _plan.summary_lines({name: hostvars[name].get("exchange_mitigation_record") for name in hosts})


def exchange_mitigation_set_ids(data_dir: str) -> list[str]:
    """The rule sets the role can apply (the rewrite_rules mitigations of data/cves.yml), for the preflight check."""
    return [m.id for m in _plan.rewrite_mitigations(_load(data_dir).table)]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "exchange_mitigation_plan": exchange_mitigation_plan,
            "exchange_mitigation_plan_lines": exchange_mitigation_plan_lines,
            "exchange_mitigation_readback": exchange_mitigation_readback,
            "exchange_mitigation_record": exchange_mitigation_record,
            "exchange_mitigation_summary": exchange_mitigation_summary,
            "exchange_mitigation_set_ids": exchange_mitigation_set_ids,
        }
