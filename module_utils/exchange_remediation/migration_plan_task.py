"""What the m365_migration_plan task does, given validated arguments: read the mailbox
inventory and the run's assessment, check readiness (on premises, and in Microsoft Graph when
app credentials are given), plan the batches, and write one CSV per batch, plan.json and plan.md.

Nothing here changes anything anywhere. Every failed check is a finding that names the object
and the fix; blockers carry an id (``<check>:<object>``) the operator can accept by name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .estate_assessment import read_assessment
from .knowledge_base import load_knowledge
from .mailbox_inventory import Inventory, read_inventory
from .migration_batch_files import batch_csv, plan_dict, plan_markdown
from .migration_batches import GB, BatchLimits, BatchOptions, plan_batches
from .migration_readiness import (
    EwsVdir,
    ReadinessInput,
    SourceServer,
    check_readiness,
    choose_migration_type,
    load_migration_rules,
)
from .report_markdown import escape_md

MIGRATION_PLAN_ARGUMENTS: dict[str, Any] = {
    "inventory_file": {"type": "path", "required": True},
    "assessment_file": {"type": "path"},
    "data_dir": {"type": "path", "required": True},
    "output_dir": {"type": "path", "required": True},
    "tenant": {"type": "str", "required": True},
    "service_accounts": {"type": "list", "elements": "str", "default": []},
    "max_mailboxes": {"type": "int", "default": 100},
    "max_gb": {"type": "int", "default": 1000},
    "order_by": {"type": "str", "choices": ["database", "department", "list"], "default": "database"},
    "order": {"type": "list", "elements": "str", "default": []},
    "batch_prefix": {"type": "str", "default": "Batch"},
    "hybrid_servers": {"type": "list", "elements": "str"},
    "exo_accepted_domains": {"type": "list", "elements": "str"},
    "override_blockers": {"type": "list", "elements": "str", "default": []},
    "graph": {"type": "dict", "no_log": True},
}


class MigrationPlanError(ValueError):
    """The plan cannot be made from these inputs; the message names the input."""


def _servers(assessment: Mapping[str, Any], inventory: Inventory) -> list[SourceServer]:
    """On-premises Exchange servers from the assessment, each with its EWS virtual directories."""
    vdirs: dict[str, list[EwsVdir]] = {}
    for vdir in inventory.ews_vdirs:
        vdirs.setdefault(vdir.server.casefold(), []).append(
            EwsVdir(vdir.identity, vdir.mrs_proxy_enabled, vdir.external_url))
    servers = []
    for name in sorted(assessment):
        entry = assessment[name]
        exchange = entry.get("exchange") or {}
        if entry.get("status") != "ok" or not exchange.get("build"):
            continue
        hostname = str(entry.get("hostname") or name)
        servers.append(SourceServer(hostname, str(exchange["build"]), tuple(exchange.get("roles") or ()),
                                    tuple(vdirs.get(hostname.casefold(), ()))))
    return servers


def _graph_report(params: Mapping[str, Any], inventory: Inventory, tenant: str) -> dict[str, Any]:
    """Graph checks when app credentials are given; otherwise say plainly that they did not run."""
    graph = params.get("graph") or {}
    if not graph:
        return {"checked": False, "ready": None,
                "unavailable_reason": "Microsoft Graph not checked: no app credentials given "
                                      "(m365_migration_stage_graph); target users and licences are unverified",
                "findings": []}
    # Imported here: the network client and MSAL are needed only when Graph is checked.
    from m365_graph.graph_client import GraphSettings, check_tenant_readiness

    from .graph_readiness import MigrationMailbox

    try:
        settings = GraphSettings(**graph)
    except TypeError as exc:
        raise MigrationPlanError(f"graph: {exc}") from exc
    mailboxes = [MigrationMailbox(m.email, m.email, tuple(inventory.addresses.get(m.id, ())))
                 for m in inventory.mailboxes if m.email]
    report = check_tenant_readiness(settings, mailboxes, tenant).as_dict()
    return {"checked": True, **report}


def _findings(readiness: Sequence[Any], graph: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = [{"id": f"{f.check}:{f.object}", "source": "on-premises", "check": f.check, "object": f.object,
              "severity": f.severity, "reason": f.reason, "fix": f.fix} for f in readiness]
    for finding in graph.get("findings") or []:
        severity = "blocker" if finding.get("severity") == "error" else "warning"
        found.append({"id": f"{finding['code']}:{finding['object']}", "source": "graph", "check": finding["code"],
                      "object": finding["object"], "severity": severity, "reason": finding["message"],
                      "fix": finding["fix"]})
    if graph.get("checked") and graph.get("unavailable_reason"):
        found.append({"id": "graph:unavailable", "source": "graph", "check": "graph", "object": "Microsoft Graph",
                      "severity": "blocker", "reason": graph["unavailable_reason"],
                      "fix": "make Graph reachable from the controller and check the app's permissions"})
    return found


def _readiness_markdown(plan: Mapping[str, Any]) -> str:
    """Migration type, blockers and every finding, before the batches: what must be fixed first."""
    lines = ["", "## Readiness", "", f"Migration type: **{escape_md(plan['migration_type']['type'])}**", ""]
    lines += [f"- {escape_md(reason)}" for reason in plan["migration_type"]["reasons"]]
    blockers = plan["blockers"]
    lines += ["", f"Blockers standing: {len(blockers)}" + (" (nothing is staged until each is fixed or "
                                                           "accepted by name)" if blockers else ""), ""]
    if plan["graph"].get("unavailable_reason") and not plan["graph"].get("checked"):
        lines += [f"- {escape_md(plan['graph']['unavailable_reason'])}", ""]
    if plan["findings"]:
        lines += ["| Id | Severity | Reason | Fix |", "| --- | --- | --- | --- |"]
        lines += [f"| {escape_md(f['id'])} | {escape_md(f['severity'])} | {escape_md(f['reason'])} | "
                  f"{escape_md(f['fix'])} |" for f in plan["findings"]]
    return "\n".join(lines) + "\n"


def _write(path: str, text: str, newline: str | None = None) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8", newline=newline) as handle:
        handle.write(text)
    os.replace(temporary, path)


def run_migration_plan(params: Mapping[str, Any]) -> dict[str, Any]:
    loaded = read_inventory(params["inventory_file"])
    if loaded.inventory is None:
        raise MigrationPlanError(f"cannot use the mailbox inventory: {loaded.error}")
    inventory = loaded.inventory
    assessment: Mapping[str, Any] = {}
    if params.get("assessment_file"):
        try:
            assessment = read_assessment(params["assessment_file"])
        except (OSError, ValueError) as exc:
            raise MigrationPlanError(f"cannot read the assessment {params['assessment_file']}: {exc}") from exc
    if params["max_mailboxes"] < 1 or params["max_gb"] < 1:
        raise MigrationPlanError("max_mailboxes and max_gb must be at least 1")
    try:
        rules = load_migration_rules(params["data_dir"])
        catalog = load_knowledge(params["data_dir"]).catalog
    except ValueError as exc:
        raise MigrationPlanError(f"cannot load the migration data: {exc}") from exc
    tenant = params["tenant"]
    servers = _servers(assessment, inventory)
    choice = choose_migration_type(servers, len(inventory.mailboxes), rules, catalog)
    readiness = check_readiness(ReadinessInput(
        servers, inventory.mailboxes, inventory.addresses, [d.domain_name for d in inventory.accepted_domains],
        tenant, params.get("exo_accepted_domains"), params.get("hybrid_servers")), catalog, rules)
    graph = _graph_report(params, inventory, tenant)
    try:
        batches = plan_batches(inventory.mailboxes, inventory.links,
                               BatchLimits(params["max_mailboxes"], params["max_gb"] * GB),
                               BatchOptions(frozenset(params.get("service_accounts") or ()), params["order_by"],
                                            tuple(params.get("order") or ()), params["batch_prefix"]))
    except ValueError as exc:
        raise MigrationPlanError(str(exc)) from exc
    findings = _findings(readiness, graph)
    overrides = set(params.get("override_blockers") or ())
    blockers = [f["id"] for f in findings if f["severity"] == "blocker"]
    unknown_overrides = sorted(overrides - set(blockers))
    standing = [blocker for blocker in blockers if blocker not in overrides]
    if choice.type != "hybrid":
        standing.insert(0, "migration-type:none")
    plan = {"schema": 1, "tenant": tenant, "target_delivery_domain": f"{tenant}.mail.onmicrosoft.com",
            "migration_type": {"type": choice.type, "reasons": list(choice.reasons)},
            "inventory": {"file": params["inventory_file"], "mailboxes": len(inventory.mailboxes),
                          "links": len(inventory.links), "problems": [
                              {"object": p.object, "reason": p.reason} for p in inventory.problems],
                          "collection_errors": list(inventory.collection_errors)},
            "findings": findings, "graph": {k: v for k, v in graph.items() if k != "findings"},
            "blockers": standing, "overridden": sorted(overrides & set(blockers)),
            "unknown_overrides": unknown_overrides, **plan_dict(batches, inventory.mailboxes)}
    output_dir = params["output_dir"]
    by_id = {mailbox.id: mailbox for mailbox in inventory.mailboxes}
    try:
        os.makedirs(os.path.join(output_dir, "batches"), exist_ok=True)
        for batch, entry in zip(batches.batches, plan["batches"], strict=True):
            entry["csv_file"] = os.path.join(output_dir, "batches", entry["csv"])
            # CRLF exactly as batch_csv wrote it: the migration service reads the bytes.
            _write(entry["csv_file"], batch_csv(batch, by_id), newline="")
        _write(os.path.join(output_dir, "plan.json"), json.dumps(plan, indent=2) + "\n")
        _write(os.path.join(output_dir, "plan.md"), plan_markdown(plan) + _readiness_markdown(plan))
    except ValueError as exc:
        raise MigrationPlanError(str(exc)) from exc
    except OSError as exc:
        raise MigrationPlanError(f"cannot write the plan to {output_dir}: {exc.strerror or exc}") from exc
    return {"changed": False, "plan_file": os.path.join(output_dir, "plan.json"),
            "markdown_file": os.path.join(output_dir, "plan.md"), "migration_type": choice.type,
            "summary": plan["summary"], "blockers": standing, "unknown_overrides": unknown_overrides,
            "batches": [{"name": b["name"], "csv_file": b["csv_file"], "count": b["count"]} for b in plan["batches"]],
            "findings": len(findings)}
