"""Which URL Rewrite mitigations each server needs, from its assessment entry (mitigations.md §2, §3, §6, §9).

The exchange_mitigation role applies what this plans and validates what it reads back with
``readback_verdict``. Rule sets are the ``rewrite_rules`` mitigations of data/cves.yml; the rules
written on a server are built from that data here and handed to the PowerShell, so neither the
role nor the script holds a rule of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .build_catalog import BuildCatalog
from .cve_status import MITIGATED, NOT_APPLICABLE, PATCHED, UNKNOWN, VULNERABLE
from .cve_table import CveTable, Mitigation
from .mitigation_check import check_mitigations

PRESENT = "present"
ABSENT = "absent"
STATES = (PRESENT, ABSENT)

APPLY = "apply"
SKIP = "skip"
REMOVE = "remove"

REWRITE_KIND = "rewrite_rules"
OFFLINE_REASON = "offline evidence bundle: cannot change a server"
EDGE_REASON = "Edge Transport server: no IIS rewrite for Exchange (the rules guard the Client Access front end)"

# mitigations.md §9: the Emergency Mitigation Service ships with the September 2021 CUs (Exchange
# 2016 CU22, Exchange 2019 CU11) and with every Exchange Server SE build, on Mailbox servers only.
EEMS_FIRST_CU: Mapping[str, int] = {"2016": 22, "2019": 11, "SE": 0}

# The attributes every published EOMT/EOMTv2 rule has (mitigations.md §2, §3 and the criteria of
# §7); the per-rule name, input, pattern and action come from data/cves.yml.
RULE_MATCH_URL = ".*"
RULE_PATTERN_SYNTAX = "ECMAScript"
CONDITION_MATCH_TYPE = "Pattern"

_CU_NUMBER = re.compile(r"^CU(\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class MitigationOptions:
    """What the operator asked for: the role variables exchange_mitigation_state, _sets, _enable_service."""

    state: str = PRESENT
    sets: tuple[str, ...] = ()
    enable_service: bool = False


@dataclass(frozen=True)
class EemsExpectation:
    """Whether the Emergency Mitigation Service exists on this server's build."""

    expected: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"expected": self.expected, "reason": self.reason}


@dataclass
class HostMitigationPlan:
    host: str
    action: str
    reason: str
    state: str
    live: bool
    product: str | None = None
    apply: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    remove_rules: list[str] = field(default_factory=list)
    # Rule names of every set in apply or remove, to tell later which set a removed rule belonged to.
    set_rules: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cves: dict[str, str] = field(default_factory=dict)
    eems: EemsExpectation = field(default_factory=lambda: EemsExpectation(False, "not assessed"))
    enable_service: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "action": self.action,
            "reason": self.reason,
            "state": self.state,
            "live": self.live,
            "product": self.product,
            "apply": list(self.apply),
            "remove": list(self.remove),
            "rules": [dict(rule) for rule in self.rules],
            "remove_rules": list(self.remove_rules),
            "set_rules": {key: list(names) for key, names in self.set_rules.items()},
            "notes": list(self.notes),
            "cves": dict(self.cves),
            "eems": self.eems.to_dict(),
            "enable_service": self.enable_service,
        }


@dataclass(frozen=True)
class ReadbackVerdict:
    """Whether the rules read back after the change are what the plan asked for."""

    ok: bool
    problems: tuple[str, ...]
    mitigations: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": list(self.problems), "mitigations": [dict(m) for m in self.mitigations]}


def rewrite_mitigations(table: CveTable) -> tuple[Mitigation, ...]:
    """The rule sets this role manages: the URL Rewrite mitigations of data/cves.yml."""
    return tuple(m for m in table.mitigations if m.kind == REWRITE_KIND)


def validate_options(options: MitigationOptions, table: CveTable) -> None:
    """Raise ValueError naming the role variable when the request cannot be planned."""
    if options.state not in STATES:
        raise ValueError(f"exchange_mitigation_state must be present or absent, not {options.state!r}")
    known = [m.id for m in rewrite_mitigations(table)]
    unknown = [name for name in options.sets if name not in known]
    if unknown:
        raise ValueError(f"exchange_mitigation_sets: unknown rule set(s) {', '.join(unknown)}; "
                         f"known: {', '.join(known)}")


def rule_definitions(mitigation: Mitigation) -> list[dict[str, Any]]:
    """The rules of one set in the RULE shape, in the order they are added.

    Only the last rule of a set stops processing (EOMT: the X-AnonResource-Backend rule does
    not, the X-BEResource rule does; EOMTv2's single rule does), which is §7 criterion 5. The
    first listed action is the one written; the others are only accepted when found.
    """
    last = len(mitigation.rewrite_rules) - 1
    return [
        {
            "name": spec.name,
            "enabled": True,
            "pattern_syntax": RULE_PATTERN_SYNTAX,
            "stop_processing": position == last,
            "match_url": RULE_MATCH_URL,
            "conditions": [
                {
                    "input": spec.input,
                    "pattern": spec.pattern,
                    "negate": False,
                    "ignore_case": True,
                    "match_type": CONDITION_MATCH_TYPE,
                }
            ],
            "action_type": spec.actions[0],
        }
        for position, spec in enumerate(mitigation.rewrite_rules)
    ]


def eems_expectation(product_code: str | None, cu: str | None, edge: bool) -> EemsExpectation:
    """Whether the server's build carries the Emergency Mitigation Service (mitigations.md §9)."""
    if edge:
        return EemsExpectation(False, "Edge Transport server: the Emergency Mitigation Service runs on Mailbox "
                                      "servers only")
    if product_code is None:
        return EemsExpectation(False, "product unknown")
    if product_code not in EEMS_FIRST_CU:
        return EemsExpectation(False, f"Exchange {product_code} has no Emergency Mitigation Service")
    first = EEMS_FIRST_CU[product_code]
    if first == 0:
        return EemsExpectation(True, f"every Exchange {product_code} build has the Emergency Mitigation Service")
    match = _CU_NUMBER.match(cu or "")
    if match is None:
        return EemsExpectation(False, f"CU {cu!r} cannot be compared with CU{first}")
    if int(match.group(1)) >= first:
        return EemsExpectation(True, f"Exchange {product_code} CU{match.group(1)} has it (CU{first} and later)")
    return EemsExpectation(False, f"Exchange {product_code} CU{match.group(1)} predates it (CU{first} and later)")


def present_rule_names(facts: Mapping[str, Any] | None) -> set[str] | None:
    """Names of the site's rewrite rules in the collected facts (names or RULE objects); None when unknown."""
    iis = facts.get("iis") if isinstance(facts, Mapping) else None
    recorded = iis.get("rewrite_rules") if isinstance(iis, Mapping) else None
    if not isinstance(recorded, list):
        return None
    names = set()
    for rule in recorded:
        name = rule.get("name") if isinstance(rule, Mapping) else rule
        if isinstance(name, str) and name.strip():
            names.add(name.strip())
    return names


def _service_needs_enabling(facts: Mapping[str, Any] | None) -> bool:
    """True unless the collected facts show both switches on and the service automatic and running."""
    service = facts.get("mitigation_service") if isinstance(facts, Mapping) else None
    if not isinstance(service, Mapping):
        return True
    return not (
        service.get("organization_enabled") is True
        and service.get("server_enabled") is True
        and str(service.get("service_status") or "").lower() == "running"
        and str(service.get("service_start_mode") or "").lower() in ("auto", "automatic")
    )


def _statuses(entry: Mapping[str, Any], mitigation: Mitigation) -> dict[str, str]:
    cves = entry.get("cves") if isinstance(entry.get("cves"), Mapping) else {}
    return {cve: str(cves.get(cve) or UNKNOWN) for cve in mitigation.cves}


def _describe(statuses: Mapping[str, str]) -> str:
    return ", ".join(f"{cve} {status.replace('_', ' ')}" for cve, status in statuses.items())


def _decide_present(
    mitigation: Mitigation, statuses: Mapping[str, str], forced: bool, present: set[str] | None, product: str
) -> tuple[str | None, str]:
    """(APPLY | REMOVE | None, why) for one rule set when the state is present."""
    values = set(statuses.values())
    names = [spec.name for spec in mitigation.rewrite_rules]
    if values == {NOT_APPLICABLE}:
        return None, f"{mitigation.id}: {_describe(statuses)} to {product}"
    if values & {VULNERABLE, MITIGATED}:
        if MITIGATED in values and VULNERABLE not in values:
            return APPLY, f"{mitigation.id}: {_describe(statuses)}: keep the rules and verify them"
        return APPLY, f"{mitigation.id}: {_describe(statuses)}: add the rules until the SU is installed"
    if forced:
        return APPLY, f"{mitigation.id}: listed in exchange_mitigation_sets ({_describe(statuses)})"
    if values <= {PATCHED, NOT_APPLICABLE}:
        if present is not None and not present.intersection(names):
            return None, f"{mitigation.id}: {_describe(statuses)}, no rules present"
        which = "the interim rules, if any" if present is None else "the interim rules still present"
        return REMOVE, f"{mitigation.id}: {_describe(statuses)}: the SU fixes it, remove {which}"
    return None, (f"{mitigation.id}: {_describe(statuses)}: not applied (list it in exchange_mitigation_sets "
                  "to apply it anyway)")


def _decide_absent(mitigation: Mitigation, present: set[str] | None) -> tuple[str | None, str]:
    names = [spec.name for spec in mitigation.rewrite_rules]
    if present is not None and not present.intersection(names):
        return None, f"{mitigation.id}: no rules present"
    which = "its rules, if any" if present is None else "its rules"
    return REMOVE, f"{mitigation.id}: exchange_mitigation_state=absent: remove {which}"


def plan_host(
    name: str,
    entry: Mapping[str, Any] | None,
    facts: Mapping[str, Any] | None,
    table: CveTable,
    catalog: BuildCatalog | None,
    options: MitigationOptions,
) -> HostMitigationPlan:
    """Plan one host. Never raises on a bad entry: such a host is skipped with the reason."""
    if not isinstance(entry, Mapping):
        return HostMitigationPlan(name, SKIP, "no assessment entry for this host", options.state, live=False)
    live = entry.get("source") == "live"
    exchange = entry.get("exchange") if isinstance(entry.get("exchange"), Mapping) else {}
    product_name = exchange.get("product") if isinstance(exchange.get("product"), str) else None
    product = catalog.product_named(product_name) if catalog is not None and product_name else None
    edge = exchange.get("edge") is True
    plan = HostMitigationPlan(name, SKIP, "", options.state, live=live, product=product_name)
    plan.eems = eems_expectation(product.code if product else None, exchange.get("cu"), edge)
    sets = rewrite_mitigations(table)
    plan.cves = {cve: status for m in sets for cve, status in _statuses(entry, m).items()}
    if entry.get("status") != "ok":
        plan.reason = f"not assessed: {entry.get('error') or 'no facts'}"
        if not live:
            plan.reason = f"{OFFLINE_REASON}; {plan.reason}"
        return plan
    if edge:
        plan.reason = EDGE_REASON if live else f"{OFFLINE_REASON}; {EDGE_REASON}"
        return plan
    present = present_rule_names(facts)
    for mitigation in sets:
        if options.state == ABSENT:
            if options.sets and mitigation.id not in options.sets:
                continue
            decision, note = _decide_absent(mitigation, present)
        else:
            decision, note = _decide_present(mitigation, _statuses(entry, mitigation), mitigation.id in options.sets,
                                             present, product_name or "this product")
        plan.notes.append(note)
        if decision in (APPLY, REMOVE):
            plan.set_rules[mitigation.id] = [spec.name for spec in mitigation.rewrite_rules]
        if decision == APPLY:
            plan.apply.append(mitigation.id)
            plan.rules.extend(rule_definitions(mitigation))
        elif decision == REMOVE:
            plan.remove.append(mitigation.id)
            plan.remove_rules.extend(spec.name for spec in mitigation.rewrite_rules)
    if options.enable_service and options.state == PRESENT:
        if plan.eems.expected and _service_needs_enabling(facts):
            plan.enable_service = True
            plan.notes.append("Emergency Mitigation Service: enable it (exchange_mitigation_enable_service)")
        elif plan.eems.expected:
            plan.notes.append("Emergency Mitigation Service: already enabled and running")
        else:
            plan.notes.append(f"Emergency Mitigation Service: {plan.eems.reason}")
    work = bool(plan.apply or plan.remove or plan.enable_service)
    if not live:
        plan.reason = OFFLINE_REASON
    elif not work:
        plan.reason = "nothing to do: " + "; ".join(plan.notes) if plan.notes else "nothing to do"
    else:
        plan.action = APPLY
        plan.reason = "; ".join(plan.notes)
    return plan


def plan_mitigations(
    entries: Mapping[str, Any],
    hosts: Iterable[str],
    facts: Mapping[str, Mapping[str, Any] | None],
    table: CveTable,
    catalog: BuildCatalog | None,
    options: MitigationOptions,
) -> dict[str, dict[str, Any]]:
    """Plan every host; ``facts`` holds the live hosts' collected server.json (rule names, EEMS state)."""
    validate_options(options, table)
    return {
        name: plan_host(name, entries.get(name), facts.get(name), table, catalog, options).to_dict()
        for name in hosts
    }


def readback_verdict(
    rules: Any, url_rewrite_version: str | None, applied: Sequence[str], removed: Sequence[str], table: CveTable
) -> ReadbackVerdict:
    """Check the rules read back after the change with the assessment's own criteria (mitigations.md §7).

    Every applied set must be in place (published names, input, final pattern, action, stop
    processing); no rule of a removed set may remain.
    """
    if not isinstance(rules, list):
        return ReadbackVerdict(False, ("the mitigation script returned no rewrite rules",), ())
    by_id = {m.id: m for m in rewrite_mitigations(table)}
    unknown = [name for name in [*applied, *removed] if name not in by_id]
    if unknown:
        return ReadbackVerdict(False, (f"unknown rule set(s): {', '.join(unknown)}",), ())
    server = {"iis": {"rewrite_rules": rules, "url_rewrite_version": url_rewrite_version}}
    states = check_mitigations([by_id[name] for name in applied], server, None)
    problems = [f"{s.mitigation.id} not in place: {s.reason}" for s in states if not s.in_place or s.by_name_only]
    names = present_rule_names(server) or set()
    for set_id in removed:
        for spec in by_id[set_id].rewrite_rules:
            if spec.name in names:
                problems.append(f"{set_id}: rule {spec.name!r} still present after removal")
    summary = tuple({"id": s.mitigation.id, "in_place": s.in_place, "reason": s.reason} for s in states)
    return ReadbackVerdict(not problems, tuple(problems), summary)


def _names(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _change_summary(changes: Mapping[str, list[str]], check_mode: bool) -> str:
    verbs = (("added", "add"), ("replaced", "replace"), ("removed", "remove"))
    parts = [f"{verb if check_mode else done} {', '.join(changes[done])}" for done, verb in verbs if changes.get(done)]
    return "; ".join(parts)


def mitigation_record(plan: Mapping[str, Any], observed: Mapping[str, Any]) -> dict[str, Any]:
    """The evidence/<run>/mitigation/<host>.json record: what was planned, done and read back.

    ``observed`` holds what the role's tasks returned: check_mode, url_rewrite (the detection),
    url_rewrite_installed, script (Set-ExchangeRewriteMitigation's result), readback (verdict of
    ``readback_verdict``), eems (the service state read last), eems_changed, facts_service (the
    collected server.json mitigation_service, for hosts the role did not contact), notes, error.
    """
    check_mode = observed.get("check_mode") is True
    script = observed.get("script") if isinstance(observed.get("script"), Mapping) else None
    readback = observed.get("readback") if isinstance(observed.get("readback"), Mapping) else None
    url_rewrite = observed.get("url_rewrite") if isinstance(observed.get("url_rewrite"), Mapping) else None
    eems = observed.get("eems") if isinstance(observed.get("eems"), Mapping) else None
    error = observed.get("error") or None
    notes = [str(note) for note in observed.get("notes") or () if note]
    changes = {key: _names(script.get(key)) for key in ("added", "replaced", "unchanged", "removed", "not_present")} \
        if script else None
    removed_names = set(changes["removed"]) if changes and not check_mode else set()
    installed = observed.get("url_rewrite_installed") is True
    eems_changed = observed.get("eems_changed") is True
    changed = bool(script and script.get("changed") is True) or installed or eems_changed
    record: dict[str, Any] = {
        "host": plan.get("host"),
        "state": plan.get("state"),
        "action": "",
        "reason": "",
        "check_mode": check_mode,
        "live": plan.get("live") is True,
        "planned": {"apply": list(plan.get("apply") or ()), "remove": list(plan.get("remove") or ()),
                    "enable_service": plan.get("enable_service") is True, "notes": list(plan.get("notes") or ())},
        "applied": [],
        "removed": [],
        "changes": changes,
        "url_rewrite_version": (url_rewrite or {}).get("version"),
        "url_rewrite": dict(url_rewrite) if url_rewrite else None,
        "rewrite_rules": script.get("rewrite_rules") if script else None,
        "validation": dict(readback) if readback else None,
        "mitigation_service": dict(eems) if eems else observed.get("facts_service"),
        "eems": plan.get("eems"),
        "changed": changed,
        "error": None,
    }
    if plan.get("action") != APPLY:
        record.update(action="skipped", reason=str(plan.get("reason") or "nothing planned"), changed=False)
        return record
    if error:
        record.update(action="failed", reason=str(error), error=str(error))
        return record
    done = [_change_summary(changes, check_mode)] if changes else []
    if installed:
        done.insert(0, "install IIS URL Rewrite" if check_mode else "installed IIS URL Rewrite")
    if eems_changed:
        done.append("turn on the Emergency Mitigation Service" if check_mode
                    else "turned on the Emergency Mitigation Service")
    done = [part for part in done if part]
    if check_mode:
        record.update(action="check", reason="check mode: would " + "; ".join(done) if done
                      else "check mode: nothing would change")
    else:
        record["applied"] = list(plan.get("apply") or ()) if readback is None or readback.get("ok") else []
        set_rules = plan.get("set_rules") if isinstance(plan.get("set_rules"), Mapping) else {}
        by_rule = {str(rule): str(set_id) for set_id, rules in set_rules.items() for rule in rules or ()}
        record["removed"] = sorted({by_rule[name] for name in removed_names if name in by_rule})
        verified = " (read back and verified in place)" if readback and readback.get("ok") and record["applied"] else ""
        record.update(action="changed" if changed else "unchanged",
                      reason=("; ".join(done) + verified) if done else f"already as planned{verified}")
    if notes:
        record["reason"] = f"{record['reason']}; {'; '.join(notes)}"
    return record


def summary_lines(records: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
    """One line per host (action and reason) and, for hosts that were not changed, what they would need."""
    lines = []
    width = max((len(name) for name in records), default=0)
    for name in sorted(records):
        record = records[name]
        if not isinstance(record, Mapping):
            lines.append(f"{name:<{width}}  no record  (the host failed before its record was written)")
            continue
        lines.append(f"{name:<{width}}  {record.get('action', ''):<9}  {record.get('reason', '')}")
        planned = record.get("planned") if isinstance(record.get("planned"), Mapping) else {}
        if record.get("action") == "skipped" and record.get("live") is not True:
            for note in planned.get("notes") or ():
                lines.append(f"{'':<{width}}  {'':<9}  if live: {note}")
    return lines


def plan_lines(plans: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per host of the plan: apply or skip, and why."""
    width = max((len(name) for name in plans), default=0)
    return [f"{name:<{width}}  {plans[name].get('action', ''):<5}  {plans[name].get('reason', '')}"
            for name in sorted(plans)]
