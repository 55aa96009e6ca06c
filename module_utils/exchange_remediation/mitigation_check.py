"""Which recorded interim mitigations are verifiably in place on a server (mitigations.md §7)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .cve_table import Mitigation, RewriteRuleSpec


@dataclass(frozen=True)
class MitigationState:
    mitigation: Mitigation
    in_place: bool
    reason: str
    # True when only rule names were recorded, so the rule body could not be compared.
    by_name_only: bool = False
    # True when the configuration that would prove it could not be read (criterion 8): the
    # covered CVEs are then unknown, not vulnerable.
    undecided: bool = False


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _false(value: Any) -> bool:
    return value is False or _text(value).lower() in ("false", "0")


def _rule_problems(rule: Mapping[str, Any], spec: RewriteRuleSpec, last_of_set: bool, alone: bool) -> list[str]:
    """Criteria 1-5 of mitigations.md §7 against a rule recorded with its body."""
    problems = []
    if _false(rule.get("enabled", True)):
        problems.append("rule is disabled")
    if _text(rule.get("match_url", ".*")) != ".*":
        problems.append(f"match url is {rule.get('match_url')!r}, not '.*'")
    if _text(rule.get("pattern_syntax")).lower() == "wildcard":
        problems.append("pattern syntax is Wildcard")
    conditions = rule.get("conditions")
    if not isinstance(conditions, list) or len(conditions) != 1 or not isinstance(conditions[0], Mapping):
        problems.append("rule does not have exactly one condition")
    else:
        condition = conditions[0]
        if _text(condition.get("input")) != spec.input:
            problems.append(f"condition input is {condition.get('input')!r}, expected {spec.input!r}")
        if _text(condition.get("pattern")) != spec.pattern:
            problems.append(f"obsolete or altered pattern {condition.get('pattern')!r}")
        if not _false(condition.get("negate", False)):
            problems.append("condition is negated")
        if _false(condition.get("ignore_case", True)):
            problems.append("condition is case-sensitive")
        if _text(condition.get("match_type", "Pattern")) not in ("Pattern", "0", ""):
            problems.append(f"condition match type is {condition.get('match_type')!r}")
    if _text(rule.get("action_type")) not in spec.actions:
        problems.append(f"action is {rule.get('action_type')!r}, expected {' or '.join(spec.actions)}")
    stops = rule.get("stop_processing") is True or _text(rule.get("stop_processing")).lower() in ("true", "1")
    if last_of_set and not alone and not stops:
        problems.append("last rule of the set does not stop processing")
    return problems


def _check_rewrite(mitigation: Mitigation, iis: Mapping[str, Any]) -> MitigationState:
    if iis.get("rewrite_rules_unreadable"):
        return MitigationState(mitigation, False, f"cannot read the rewrite rules: {iis['rewrite_rules_unreadable']}",
                               undecided=True)
    recorded = iis.get("rewrite_rules")
    if not isinstance(recorded, list):
        return MitigationState(mitigation, False, "URL Rewrite rules were not collected")
    by_name: dict[str, Any] = {}
    for rule in recorded:
        name = rule.get("name") if isinstance(rule, Mapping) else rule
        if isinstance(name, str):
            by_name[name.strip()] = rule
    missing = [spec.name for spec in mitigation.rewrite_rules if spec.name not in by_name]
    if missing:
        return MitigationState(mitigation, False, f"rule {missing[0]!r} not present")
    if not _text(iis.get("url_rewrite_version")):
        # Criterion 7: without the module the rule is inert.
        return MitigationState(mitigation, False, "rules present but the IIS URL Rewrite module is not installed")
    names_only = False
    for position, spec in enumerate(mitigation.rewrite_rules):
        rule = by_name[spec.name]
        if not isinstance(rule, Mapping):
            names_only = True
            continue
        last = position == len(mitigation.rewrite_rules) - 1
        problems = _rule_problems(rule, spec, last, alone=len(mitigation.rewrite_rules) == 1 and len(by_name) == 1)
        if problems:
            return MitigationState(mitigation, False, f"rule {spec.name!r}: {'; '.join(problems)}")
    if names_only:
        return MitigationState(
            mitigation, True, "rules present by name (rule bodies not collected, so not compared)", by_name_only=True
        )
    return MitigationState(mitigation, True, "rules present and match the published definition")


def _check_services(mitigation: Mitigation, server: Mapping[str, Any]) -> MitigationState:
    services = server.get("services")
    if not isinstance(services, Mapping):
        return MitigationState(mitigation, False, "service states were not collected")
    for name in mitigation.services:
        state = services.get(name)
        if not isinstance(state, Mapping):
            return MitigationState(mitigation, False, f"service {name} state not collected")
        if _text(state.get("status")).lower() != "stopped" or _text(state.get("start_mode")).lower() != "disabled":
            return MitigationState(mitigation, False, f"service {name} is not stopped and disabled")
    return MitigationState(mitigation, True, f"{', '.join(mitigation.services)} stopped and disabled")


def _check_app_pool(mitigation: Mitigation, iis: Mapping[str, Any]) -> MitigationState:
    pools = iis.get("app_pools")
    pool = pools.get(mitigation.app_pool) if isinstance(pools, Mapping) else None
    if not isinstance(pool, Mapping):
        return MitigationState(mitigation, False, f"app pool {mitigation.app_pool} state not collected")
    stopped = _text(pool.get("state")).lower() == "stopped"
    on_demand = _text(pool.get("start_mode")).lower() == "ondemand"
    if stopped and on_demand and _false(pool.get("auto_start")):
        return MitigationState(mitigation, True, f"{mitigation.app_pool} stopped, OnDemand, autoStart false")
    return MitigationState(mitigation, False, f"{mitigation.app_pool} is not stopped with autoStart false")


def check_mitigations(
    mitigations: Sequence[Mitigation], server: Mapping[str, Any], product_code: str | None
) -> list[MitigationState]:
    iis = server.get("iis") if isinstance(server.get("iis"), Mapping) else {}
    states = []
    for mitigation in mitigations:
        if mitigation.products and product_code not in mitigation.products:
            continue
        if mitigation.kind == "rewrite_rules":
            states.append(_check_rewrite(mitigation, iis))
        elif mitigation.kind == "services_disabled":
            states.append(_check_services(mitigation, server))
        elif mitigation.kind == "app_pool_stopped":
            states.append(_check_app_pool(mitigation, iis))
    return states
