"""Assess one server from its facts (server.json): build, support, CVEs, next step, warnings.

Produces the per-host entry of report.json (format version 1, extended). Never raises on bad
facts: whatever cannot be told is reported as unknown, and a server whose build cannot be read
is reported with status "error", never as patched.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .build_assessment import BuildAssessor
from .build_catalog import BuildCatalog, Product
from .build_identity import BuildIdentity
from .build_number import best_version
from .cve_status import MITIGATED, NOT_APPLICABLE, PATCHED, UNKNOWN, VULNERABLE, CveVerdict
from .cve_table import CveTable, March21Special
from .exposure_window import ExploitationFamily, exposure_window
from .fix_dates import fix_date_finder, parse_day
from .mitigation_check import check_mitigations
from .update_name import update_month

_KB = re.compile(r"KB(\d{7})", re.IGNORECASE)
SPECIAL_MARCH_UPDATE = "Mar21SU"


@dataclass
class AssessmentContext:
    """Everything the assessment needs besides the server: loaded once per run."""

    catalog: BuildCatalog
    table: CveTable
    march21: March21Special
    today: dt.date
    signature_max_age_days: int = 7
    families: tuple[ExploitationFamily, ...] = ()

    def __post_init__(self) -> None:
        self.builds = BuildAssessor(self.catalog, self.table, self.today)
        self.evaluator = self.builds.evaluator


def error_entry(reason: str, context: AssessmentContext, **extra: Any) -> dict[str, Any]:
    """A host that could not be assessed: every CVE unknown, never clean."""
    entry: dict[str, Any] = {
        "status": "error",
        "error": reason,
        "exchange": {"product": None, "cu": None, "su": None, "build": None, "supported": None, "latest": None},
        "cves": {cve: UNKNOWN for cve in context.evaluator.cve_ids},
        "cve_details": {},
        "indicators": [],
        "verdict": {"vulnerable": None, "compromised": "unknown"},
        "next_step": {
            "action": "investigate", "target_cu": None, "target_su": None, "target_build": None,
            "summary": f"Not assessed: {reason}. Collect the server's facts again; until then treat it as exposed.",
        },
        "warnings": [],
    }
    entry.update(extra)
    return entry


def _installed_kbs(exchange: Mapping[str, Any]) -> set[str] | None:
    """KB numbers of the installed update packages; None when the list was not collected."""
    packages = exchange.get("installed_updates")
    if not isinstance(packages, list):
        return None
    kbs = set()
    for package in packages:
        name = package.get("package") if isinstance(package, Mapping) else package
        if isinstance(name, str):
            kbs.update(f"KB{m}" for m in _KB.findall(name))
    return kbs


def _march21_special(context: AssessmentContext, identity: BuildIdentity, kbs: set[str] | None,
                     verdicts: dict[str, CveVerdict]) -> None:
    """Decide the older SUs of an out-of-support CU carrying only the March 2021 package (cves.md).

    Such a build is numerically above every older SU of its CU, so the build proves nothing about
    them: for the CUs in the table, each listed SU is decided by its package (KB present =>
    patched, absent => vulnerable, no package list => unknown); for the CUs the source does not
    cover (2013 SP1, 2019 RTM), every older SU is unknown unless its package is present.
    """
    product, cu = identity.product, identity.cu
    if product is None or cu is None or identity.su_name != SPECIAL_MARCH_UPDATE:
        return
    special = context.march21
    if not special.covers(product.code, cu.name):
        return
    march = update_month(SPECIAL_MARCH_UPDATE)
    not_covered = cu.name in special.not_covered.get(product.code, ())
    required = special.required_updates.get(product.code, {}).get(cu.name, ())
    for cve, verdict in list(verdicts.items()):
        if verdict.status not in (PATCHED, VULNERABLE):
            continue
        older = [f.update for f in context.table.fixes_for(cve, product.code)
                 if (month := update_month(f.update)) is not None and march is not None and month < march]
        decided = older if not_covered else [update for update in older if update in required]
        if not decided or (verdict.status == VULNERABLE and verdict.fixed_by not in decided):
            continue  # decided by the build: a later CU contains it, or another update is missing
        missing = [u for u in decided if not (kbs is not None and special.update_kbs.get(u) in kbs)]
        if not missing:
            verdicts[cve] = CveVerdict(PATCHED, decided[-1], f"{decided[-1]} package "
                                       f"{special.update_kbs.get(decided[-1])} installed")
        elif kbs is None or not_covered or not special.update_kbs.get(missing[-1]):
            verdicts[cve] = CveVerdict(UNKNOWN, missing[-1], f"{missing[-1]} cannot be told from the build on a CU "
                                       "with the special March 2021 package; installed packages needed")
        else:
            verdicts[cve] = CveVerdict(VULNERABLE, missing[-1], f"{missing[-1]} package "
                                       f"{special.update_kbs[missing[-1]]} not installed (the March 2021 package "
                                       "for this CU carries only the March fixes)")


def _apply_mitigations(context: AssessmentContext, server: Mapping[str, Any], product: Product,
                       verdicts: dict[str, CveVerdict], warnings: list[dict[str, str]]) -> list[dict[str, Any]]:
    applied = []
    for state in check_mitigations(context.table.mitigations, server, product.code):
        applied.append({"id": state.mitigation.id, "in_place": state.in_place, "reason": state.reason,
                        "cves": list(state.mitigation.cves)})
        if state.undecided:
            for cve in state.mitigation.cves:
                verdict = verdicts.get(cve)
                if verdict and verdict.status == VULNERABLE:
                    verdicts[cve] = CveVerdict(UNKNOWN, verdict.fixed_by,
                                               f"{verdict.reason}; whether {state.mitigation.title} is in place "
                                               f"cannot be told: {state.reason}")
        if not state.in_place:
            continue
        if state.by_name_only:
            warnings.append({"code": "mitigation_by_name_only",
                             "message": f"{state.mitigation.title}: {state.reason}."})
        for cve in state.mitigation.cves:
            verdict = verdicts.get(cve)
            if verdict and verdict.status == VULNERABLE:
                verdicts[cve] = CveVerdict(MITIGATED, verdict.fixed_by,
                                           f"{verdict.reason}; mitigated by {state.mitigation.title}")
    return applied


def _endpoint_warnings(server: Mapping[str, Any], max_age: int) -> list[dict[str, str]]:
    protection = server.get("endpoint_protection")
    advice = ("Antivirus/EDR with real-time protection and current signatures is the other half of the "
              "post-ProxyLogon advice.")
    if not isinstance(protection, Mapping):
        return [{"code": "endpoint_protection_unknown",
                 "message": f"Endpoint protection state was not collected. {advice}"}]
    product = protection.get("product")
    if not product:
        return [{"code": "endpoint_protection_missing", "message": f"No endpoint protection was found. {advice}"}]
    warnings = []
    if protection.get("real_time") is False:
        warnings.append({"code": "endpoint_protection_realtime_off",
                         "message": f"{product}: real-time protection is off. {advice}"})
    elif protection.get("real_time") is None:
        warnings.append({"code": "endpoint_protection_unknown",
                         "message": f"{product}: real-time protection state unknown. {advice}"})
    age = protection.get("signature_age_days")
    if isinstance(age, (int, float)) and not isinstance(age, bool) and math.isfinite(age) and age > max_age:
        warnings.append({"code": "endpoint_protection_signatures_old",
                         "message": f"{product}: signatures are {int(age)} days old (limit {max_age}). {advice}"})
    return warnings


def _not_effective_updates(context: AssessmentContext, identity: BuildIdentity,
                           kbs: set[str] | None) -> list[dict[str, str]]:
    """An update package registered whose build is above the binaries (interrupted .msp install)."""
    if not kbs or identity.cu is None or not identity.su_level_known:
        return []
    warnings = []
    for update in identity.cu.updates:
        if update.kb and update.kb in kbs and update.build > identity.build:
            warnings.append({"code": "su_installed_not_effective",
                             "message": f"{update.name} ({update.kb}) is registered as installed but ExSetup.exe is "
                                        f"{identity.build}, below {update.build}: the binaries were not updated "
                                        "(non-elevated or interrupted install). Re-run the SU elevated."})
    return warnings


def assess_server(server: Any, context: AssessmentContext) -> dict[str, Any]:
    """The report.json entry of one server. Bad facts give status "error", never an exception."""
    if not isinstance(server, Mapping):
        return error_entry("server.json is not a JSON object", context)
    exchange = server.get("exchange")
    # Copied into the report as text or null whatever the bundle holds, so one odd value can
    # never make the estate's report fail its schema.
    facts = {key: (str(server[key]) if server.get(key) is not None else None)
             for key in ("hostname", "fqdn", "collected_at")}
    if not isinstance(exchange, Mapping):
        return error_entry("server.json has no 'exchange' object", context, **facts)
    version = best_version(exchange)
    if version.build is None:
        return error_entry(version.error or "no usable Exchange build", context, **facts)
    judged = context.builds.assess(version.build, version.su_level_known)
    identity = judged.identity
    raw_roles = exchange.get("roles")
    roles = [r for r in raw_roles if isinstance(r, str)] if isinstance(raw_roles, list) else []
    edge = any(r.replace(" ", "").lower() in ("edgetransport", "edge") for r in roles)
    if not judged.known or identity.product is None:
        return error_entry(f"unknown build {version.build}: {identity.note}", context, **facts)
    product = identity.product
    warnings: list[dict[str, str]] = []
    kbs = _installed_kbs(exchange)
    verdicts = dict(judged.verdicts)
    _march21_special(context, identity, kbs, verdicts)
    if not version.su_level_known:
        warnings.append({"code": "su_level_unknown",
                         "message": f"ExSetup.exe version unavailable ({version.error}); build {version.build} from "
                                    f"{version.source} is CU level only, so the SU is unknown."})
    if identity.note == "build not in catalog":
        warnings.append({"code": "build_not_in_catalog",
                         "message": f"Build {identity.build} is above {identity.cu.name if identity.cu else '?'} but "
                                    "matches no known SU (private fix, newer release or disputed build); CVE status "
                                    "is decided numerically."})
    mitigations = _apply_mitigations(context, server, product, verdicts, warnings)
    warnings.extend(_not_effective_updates(context, identity, kbs))
    warnings.extend(_endpoint_warnings(server, context.signature_max_age_days))
    supported, latest = judged.supported, judged.latest
    if not product.lifecycle_ok(context.today):
        warnings.append({"code": "product_out_of_support",
                         "message": f"{product.name} is out of support since {product.extended_support_end}."})
    vulnerable = any(v.status == VULNERABLE for v in verdicts.values())
    collected_on = parse_day(server.get("collected_at")) or context.today
    find_fix = fix_date_finder(identity, exchange)
    statuses = {cve: (v.status, v.fixed_by) for cve, v in verdicts.items()}
    exposure = [exposure_window(family, statuses, find_fix, parse_day(exchange.get("installed_on")),
                                collected_on).to_report(None) for family in context.families]
    su_name: str | None = identity.su_name
    return {
        "status": "ok",
        "error": None,
        **facts,
        "exchange": {
            "product": product.name,
            "cu": identity.cu.name if identity.cu else identity.note,
            "su": su_name if version.su_level_known else None,
            "su_known": version.su_level_known,
            "build": str(identity.build),
            "build_source": version.source,
            "supported": supported,
            "latest": latest,
            "support_end": str(product.extended_support_end) if product.extended_support_end else None,
            "roles": roles,
            "edge": edge,
            "dag": exchange.get("dag") if isinstance(exchange.get("dag"), str) else None,
            "site": exchange.get("site") if isinstance(exchange.get("site"), str) else None,
            "build_note": identity.note,
        },
        "cves": {cve: v.status for cve, v in verdicts.items()},
        # Details only where there is something to act on; patched and not-applicable need none.
        "cve_details": {cve: {"status": v.status, "fixed_by": v.fixed_by, "reason": v.reason}
                        for cve, v in verdicts.items() if v.status not in (PATCHED, NOT_APPLICABLE)},
        "mitigations": mitigations,
        "indicators": [],
        # Replaced by the hunt's findings and verdict (compromise_verdict.judge) in assess_estate.
        "hunt": {"status": "not_run", "exposure": exposure},
        "verdict": {"vulnerable": vulnerable, "compromised": "unknown"},
        "next_step": (dict(judged.next_step) if vulnerable == judged.vulnerable
                      else context.builds.next_step(identity, vulnerable)),
        "warnings": warnings,
    }
