"""assess_server on realistic server.json facts (DESIGN.md evidence bundle, report.json host entry).

References: exchange-builds.md (lookup, support, "SU installed but not effective"), cves.md (status
rules, March 2021 special case, mitigations that justify "mitigated"), mitigations.md §7.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from exchange_remediation.cve_status import MITIGATED, NOT_APPLICABLE, PATCHED, UNKNOWN, VULNERABLE
from exchange_remediation.knowledge_base import KnowledgeBase, load_knowledge
from exchange_remediation.server_assessment import AssessmentContext, assess_server
from exchange_remediation.update_name import update_month

REPO = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 11, 29)
BEFORE_EOL = dt.date(2025, 6, 1)

PROXYLOGON = ("CVE-2021-26855", "CVE-2021-26857", "CVE-2021-26858", "CVE-2021-27065")
PROXYSHELL = ("CVE-2021-34473", "CVE-2021-34523", "CVE-2021-31207")
PROXYNOTSHELL = ("CVE-2022-41040", "CVE-2022-41082", "CVE-2022-41080")

EOMT_NAMES = ["X-AnonResource-Backend Abort - inbound", "X-BEResource Abort - inbound"]
DEFENDER_OK = {"product": "Microsoft Defender Antivirus", "real_time": True, "signature_age_days": 1}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge(str(REPO / "data"))


@pytest.fixture(scope="module")
def ctx(kb: KnowledgeBase) -> AssessmentContext:
    return AssessmentContext(kb.catalog, kb.table, kb.march21, TODAY)


@pytest.fixture(scope="module")
def ctx_before_eol(kb: KnowledgeBase) -> AssessmentContext:
    return AssessmentContext(kb.catalog, kb.table, kb.march21, BEFORE_EOL)


@pytest.fixture(scope="module")
def report_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((REPO / "docs" / "report.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def server(exsetup: Any = "15.1.2176.9", *, drop_exsetup: bool = False, endpoint: Any = DEFENDER_OK,
           **extra: Any) -> dict[str, Any]:
    """A server.json as the live collector or an offline triage folder produces it."""
    exchange: dict[str, Any] = {
        "install_path": "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
        "exsetup_version": exsetup,
        "roles": ["Mailbox"],
        "dag": "DAG01",
        "site": "HQ",
    }
    if drop_exsetup:
        del exchange["exsetup_version"]
    exchange.update(extra.pop("exchange", {}))
    facts: dict[str, Any] = {
        "schema": 1,
        "hostname": "EX01",
        "fqdn": "ex01.contoso.local",
        "collected_at": "2026-11-20T08:00:00Z",
        "exchange": exchange,
        "os": {"caption": "Microsoft Windows Server 2016 Standard", "version": "10.0.14393"},
    }
    if endpoint is not None:
        facts["endpoint_protection"] = endpoint
    facts.update(extra)
    return facts


def packages(*kbs: str) -> list[dict[str, str]]:
    return [{"package": f"Security Update for Exchange Server 2016 ({kb})", "installed": "2021-03-05"} for kb in kbs]


def codes(entry: dict[str, Any]) -> list[str]:
    return [w["code"] for w in entry["warnings"]]


def assert_valid_report_host(validator: jsonschema.Draft7Validator, entry: dict[str, Any]) -> None:
    report = {"schema": 1, "generated_at": "2026-11-29T00:00:00Z", "hosts": {"ex01": entry}}
    assert [e.message for e in validator.iter_errors(report)] == []


def assert_error_entry(entry: dict[str, Any], ctx: AssessmentContext) -> None:
    assert entry["status"] == "error"
    assert isinstance(entry["error"], str) and entry["error"].strip()
    assert set(entry["cves"]) == set(ctx.evaluator.cve_ids)
    assert set(entry["cves"].values()) == {UNKNOWN}
    assert entry["verdict"] == {"vulnerable": None, "compromised": "unknown"}
    assert entry["next_step"]["action"] == "investigate"
    assert entry["exchange"]["build"] is None


# --- build, support and next step -----------------------------------------------------------


def test_2016_cu19_without_su(ctx: AssessmentContext, kb: KnowledgeBase, report_validator) -> None:
    entry = assess_server(server("15.01.2176.002"), ctx)
    assert entry["status"] == "ok" and entry["error"] is None
    exchange = entry["exchange"]
    assert (exchange["product"], exchange["cu"], exchange["su"], exchange["build"]) == (
        "Exchange Server 2016", "CU19", None, "15.1.2176.2")
    assert exchange["su_known"] is True and exchange["build_source"] == "exsetup"
    assert exchange["supported"] is False and exchange["latest"] is False
    assert exchange["support_end"] == "2025-10-14"
    assert (exchange["dag"], exchange["site"], exchange["edge"]) == ("DAG01", "HQ", False)
    newest = kb.catalog.newest_cu(kb.catalog.product_named("2016"))
    assert newest is not None and newest.newest_update is not None
    assert (newest.name, newest.newest_update.name, str(newest.newest_build)) == ("CU23", "Aug26SU", "15.1.2507.72")
    step = entry["next_step"]
    assert step["action"] == "install_cu"
    assert (step["target_cu"], step["target_su"], step["target_build"]) == ("CU23", "Aug26SU", "15.1.2507.72")
    assert "CU23" in step["summary"] and "Aug26SU" in step["summary"]
    assert entry["verdict"] == {"vulnerable": True, "compromised": "unknown"}
    for cve in (*PROXYLOGON, *PROXYSHELL, *PROXYNOTSHELL):
        assert entry["cves"][cve] == VULNERABLE, cve
    assert entry["cve_details"]["CVE-2021-26855"]["fixed_by"] == "Mar21SU"
    assert entry["cve_details"]["CVE-2021-34473"]["fixed_by"] == "Apr21SU"
    assert entry["cves"]["CVE-2020-0688"] == PATCHED and "CVE-2020-0688" not in entry["cve_details"]
    assert "product_out_of_support" in codes(entry)
    assert entry["indicators"] == []
    assert_valid_report_host(report_validator, entry)


def test_2016_cu19_before_end_of_life_is_still_unsupported(ctx_before_eol: AssessmentContext) -> None:
    entry = assess_server(server("15.1.2176.2"), ctx_before_eol)
    # Lifecycle fine, but CU19 is neither the latest nor the previous CU.
    assert entry["exchange"]["supported"] is False
    assert "product_out_of_support" not in codes(entry)
    assert entry["next_step"]["action"] == "install_cu"


def test_2019_cu15_newest_su_after_end_of_support(ctx: AssessmentContext, report_validator) -> None:
    entry = assess_server(server("15.02.1748.049"), ctx)
    exchange = entry["exchange"]
    assert (exchange["product"], exchange["cu"], exchange["su"]) == ("Exchange Server 2019", "CU15", "Aug26SU")
    assert exchange["latest"] is True
    assert exchange["supported"] is False  # extended support ended 2025-10-14
    step = entry["next_step"]
    assert step["action"] == "upgrade_product"
    assert re.search(r"Exchange Server SE|Subscription Edition", step["summary"])
    assert entry["verdict"]["vulnerable"] is False
    assert "product_out_of_support" in codes(entry)
    assert_valid_report_host(report_validator, entry)


def test_2019_cu15_newest_su_before_end_of_support(ctx_before_eol: AssessmentContext) -> None:
    entry = assess_server(server("15.2.1748.49"), ctx_before_eol)
    assert entry["exchange"]["supported"] is True
    assert entry["exchange"]["latest"] is True
    assert entry["next_step"]["action"] == "none"
    assert "product_out_of_support" not in codes(entry)


def test_2019_cu14_is_supported_as_previous_cu(ctx_before_eol: AssessmentContext) -> None:
    entry = assess_server(server("15.2.1544.14"), ctx_before_eol)
    assert entry["exchange"]["su"] == "Nov24SUv2"
    assert entry["exchange"]["supported"] is True and entry["exchange"]["latest"] is False
    # CU14 still gets SUs: stay on it and install its newest SU.
    assert entry["next_step"]["action"] == "install_su"
    assert entry["next_step"]["target_cu"] == "CU14"


def test_se_rtm_newest(ctx: AssessmentContext, report_validator) -> None:
    entry = assess_server(server("15.2.2562.46"), ctx)
    exchange = entry["exchange"]
    assert (exchange["product"], exchange["cu"], exchange["su"]) == ("Exchange Server SE", "RTM", "Aug26SU")
    assert exchange["supported"] is True and exchange["latest"] is True
    assert exchange["support_end"] is None
    assert entry["next_step"]["action"] == "none"
    assert entry["verdict"]["vulnerable"] is False
    for cve in (*PROXYLOGON, *PROXYSHELL, *PROXYNOTSHELL):
        assert entry["cves"][cve] == NOT_APPLICABLE
    assert "product_out_of_support" not in codes(entry)
    assert_valid_report_host(report_validator, entry)


def test_se_rtm_without_su(ctx: AssessmentContext) -> None:
    entry = assess_server(server("15.2.2562.17"), ctx)
    assert entry["exchange"]["su"] is None and entry["exchange"]["latest"] is False
    assert entry["exchange"]["supported"] is True
    assert entry["cves"]["CVE-2025-59249"] == VULNERABLE
    assert entry["next_step"]["action"] == "install_su"
    assert entry["next_step"]["target_su"] == "Aug26SU"


def test_exchange_2010(ctx: AssessmentContext, report_validator) -> None:
    sp3 = assess_server(server("14.03.0123.004"), ctx)
    assert sp3["status"] == "ok"
    assert sp3["exchange"]["product"] == "Exchange Server 2010"
    assert sp3["exchange"]["supported"] is False
    assert {c for c, s in sp3["cves"].items() if s != NOT_APPLICABLE} == {"CVE-2021-26857"}
    assert sp3["cves"]["CVE-2021-26857"] == VULNERABLE
    assert sp3["next_step"]["target_build"] == "14.3.513.0"
    ru32 = assess_server(server("14.3.513.0"), ctx)
    assert ru32["cves"]["CVE-2021-26857"] == PATCHED
    assert ru32["verdict"]["vulnerable"] is False
    assert ru32["next_step"]["action"] == "upgrade_product"
    assert_valid_report_host(report_validator, sp3)


def test_edge_transport_role(ctx: AssessmentContext) -> None:
    for roles in (["Edge Transport"], ["EdgeTransport"]):
        entry = assess_server(server("15.1.2507.6", exchange={"roles": roles}), ctx)
        assert entry["exchange"]["edge"] is True and entry["exchange"]["roles"] == roles


# --- CU-level versions only -----------------------------------------------------------------


@pytest.mark.parametrize("exchange", [
    {"exsetup_version": None, "admin_display_version": "Version 15.1 (Build 2176.2)"},
    {"exsetup_version": "", "setup_registry": {"MsiProductMajor": 15, "MsiProductMinor": 1, "MsiBuildMajor": 2176,
                                               "MsiBuildMinor": 2}},
    {"exsetup_version": "unreadable", "admin_display_version": "Version 15.1 (Build 2176.2)"},
], ids=["admin_display_version", "setup_registry", "garbage_exsetup"])
def test_cu_level_version_only(ctx: AssessmentContext, exchange: dict[str, Any], report_validator) -> None:
    entry = assess_server(server(exchange=exchange), ctx)
    by_exsetup = assess_server(server("15.1.2176.2"), ctx)
    assert entry["status"] == "ok"
    assert entry["exchange"]["build"] == "15.1.2176.2" and entry["exchange"]["cu"] == "CU19"
    assert entry["exchange"]["su"] is None
    assert entry["exchange"]["su_known"] is False
    assert entry["exchange"]["build_source"] in ("admin_display_version", "setup_registry")
    # Whatever the exact build would call vulnerable is unknown now (an SU may be installed).
    vulnerable_by_build = {c for c, s in by_exsetup["cves"].items() if s == VULNERABLE}
    assert vulnerable_by_build
    assert {c for c in vulnerable_by_build if entry["cves"][c] != UNKNOWN} == set()
    assert VULNERABLE not in entry["cves"].values()
    assert entry["cves"]["CVE-2020-0688"] == PATCHED  # contained in the CU itself
    assert "su_level_unknown" in codes(entry)
    assert entry["verdict"]["compromised"] == "unknown"
    assert_valid_report_host(report_validator, entry)


def test_cu_level_version_on_newest_cu_does_not_claim_latest(ctx_before_eol: AssessmentContext) -> None:
    entry = assess_server(server(exchange={"exsetup_version": None,
                                           "admin_display_version": "Version 15.1 (Build 2507.6)"}), ctx_before_eol)
    assert entry["exchange"]["cu"] == "CU23" and entry["exchange"]["su"] is None
    assert entry["exchange"]["supported"] is True
    assert entry["exchange"]["latest"] is None  # cannot tell without the SU level


# --- March 2021 SU on out-of-support CUs (cves.md special case) -----------------------------

CU17_SPECIAL = "15.1.2044.13"
CU17_KBS = ("KB4577352", "KB4581424", "KB4588741", "KB4593465")
CU17_CVES = {
    "Sep20SU": ("CVE-2020-16875",),
    "Oct20SU": ("CVE-2020-16969",),
    "Nov20SU": ("CVE-2020-17083", "CVE-2020-17084", "CVE-2020-17085"),
    "Dec20SU": ("CVE-2020-17117", "CVE-2020-17132", "CVE-2020-17141", "CVE-2020-17142", "CVE-2020-17143"),
}


def _cu17(entry: dict[str, Any]) -> dict[str, str]:
    return {cve: entry["cves"][cve] for cves in CU17_CVES.values() for cve in cves}


def test_march21_special_with_all_packages(ctx: AssessmentContext) -> None:
    entry = assess_server(server(CU17_SPECIAL, exchange={"installed_updates": packages("KB5000871", *CU17_KBS)}), ctx)
    assert entry["exchange"]["su"] == "Mar21SU"
    assert set(_cu17(entry).values()) == {PATCHED}
    assert all(entry["cves"][c] == PATCHED for c in PROXYLOGON)


def test_march21_special_with_empty_package_list(ctx: AssessmentContext) -> None:
    entry = assess_server(server(CU17_SPECIAL, exchange={"installed_updates": []}), ctx)
    assert _cu17(entry) == {cve: VULNERABLE for cve in _cu17(entry)}
    assert all(entry["cves"][c] == PATCHED for c in PROXYLOGON)
    assert entry["verdict"]["vulnerable"] is True


def test_march21_special_without_package_data(ctx: AssessmentContext) -> None:
    facts = server(CU17_SPECIAL)
    assert "installed_updates" not in facts["exchange"]
    entry = assess_server(facts, ctx)
    assert _cu17(entry) == {cve: UNKNOWN for cve in _cu17(entry)}
    assert all(entry["cves"][c] == PATCHED for c in PROXYLOGON)


def test_march21_special_with_some_packages(ctx: AssessmentContext) -> None:
    entry = assess_server(server(CU17_SPECIAL, exchange={"installed_updates": packages("KB4581424", "KB4593465")}),
                          ctx)
    statuses = _cu17(entry)
    assert statuses["CVE-2020-16969"] == PATCHED and statuses["CVE-2020-17117"] == PATCHED
    assert statuses["CVE-2020-16875"] == VULNERABLE and statuses["CVE-2020-17083"] == VULNERABLE


def test_march21_special_packages_as_plain_strings(ctx: AssessmentContext) -> None:
    names = [f"Security Update for Exchange Server 2016 Cumulative Update 17 ({kb})" for kb in CU17_KBS]
    entry = assess_server(server(CU17_SPECIAL, exchange={"installed_updates": names}), ctx)
    assert set(_cu17(entry).values()) == {PATCHED}


def test_march21_rule_does_not_touch_other_builds(ctx: AssessmentContext) -> None:
    # One build below the special package: the Dec20SU build of CU17 carries its older SUs.
    dec20 = assess_server(server("15.1.2044.12", exchange={"installed_updates": []}), ctx)
    assert set(_cu17(dec20).values()) == {PATCHED}
    assert dec20["cves"]["CVE-2021-26855"] == VULNERABLE
    # A CU that was supported in March 2021 got a normal, cumulative Mar21SU.
    cu19 = assess_server(server("15.1.2176.9", exchange={"installed_updates": []}), ctx)
    assert cu19["cves"]["CVE-2021-24085"] == PATCHED


def _special_cases(kb: KnowledgeBase) -> list[tuple[str, str, str, list[str]]]:
    """(product code, CU, Mar21SU build, required SUs) for every CU of the special table."""
    cases = []
    for code, cus in kb.march21.required_updates.items():
        product = kb.catalog.product_named(code)
        assert product is not None
        for cu in kb.catalog.cus_of(product):
            if cu.name in cus:
                build = next(u.build for u in cu.updates if u.name == "Mar21SU")
                cases.append((code, cu.name, str(build), list(cus[cu.name])))
    return cases


def _mismatches(kb: KnowledgeBase, ctx: AssessmentContext, mode: str) -> list[str]:
    wrong = []
    for code, cu, build, required in _special_cases(kb):
        exchange: dict[str, Any] = {}
        if mode == "all":
            exchange["installed_updates"] = packages(*(kb.march21.update_kbs[su] for su in required))
        elif mode == "empty":
            exchange["installed_updates"] = []
        entry = assess_server(server(build, exchange=exchange), ctx)
        expected = {"all": PATCHED, "empty": VULNERABLE, "absent": UNKNOWN}[mode]
        for su in required:
            for fix in kb.table.fixes:
                if fix.update == su and code in fix.products:
                    wrong += [f"{code} {cu} {su} {cve}: {entry['cves'][cve]}" for cve in fix.cves
                              if entry["cves"][cve] != expected]
    return wrong


@pytest.mark.parametrize("mode", ["all", "empty", "absent"])
def test_march21_special_every_cu_of_the_table(kb: KnowledgeBase, ctx: AssessmentContext, mode: str) -> None:
    """cves.md: KB present => patched, KB absent => vulnerable, no package data => unknown, for
    every SU the table lists for the CU."""
    assert len(_special_cases(kb)) == 18
    assert _mismatches(kb, ctx, mode) == []


@pytest.mark.parametrize(("code", "cu", "build"), [("2013", "CU4", "15.0.847.64"), ("2019", "RTM", "15.2.221.18")],
                         ids=["2013-SP1", "2019-RTM"])
def test_march21_not_covered_cus_without_package_data(kb: KnowledgeBase, ctx: AssessmentContext, code: str, cu: str,
                                                      build: str) -> None:
    """cves.md: "2013 SP1 and 2019 RTM with Mar21SU are not covered by the source analyzer: report
    their older CVEs as unknown unless packages prove otherwise"."""
    assert cu in kb.march21.not_covered[code]
    entry = assess_server(server(build), ctx)
    assert (entry["exchange"]["cu"], entry["exchange"]["su"]) == (cu, "Mar21SU")
    march = update_month("Mar21SU")
    older = {cve for fix in kb.table.fixes if code in fix.products and update_month(fix.update) < march
             for cve in fix.cves}
    assert older
    assert {cve: entry["cves"][cve] for cve in older if entry["cves"][cve] != UNKNOWN} == {}
    assert all(entry["cves"][c] == PATCHED for c in PROXYLOGON)


# --- mitigations ----------------------------------------------------------------------------


def eomt_rules() -> list[dict[str, Any]]:
    """The two EOMT rules as mitigations.md §2 defines them."""
    return [
        {"name": "X-AnonResource-Backend Abort - inbound", "enabled": True, "match_url": ".*",
         "pattern_syntax": "ECMAScript", "stop_processing": False, "action_type": "AbortRequest",
         "conditions": [{"input": "{HTTP_COOKIE}", "pattern": "(.*)X-AnonResource-Backend(.*)",
                         "match_type": "Pattern", "ignore_case": True, "negate": False}]},
        {"name": "X-BEResource Abort - inbound", "enabled": True, "match_url": ".*",
         "pattern_syntax": "ECMAScript", "stop_processing": True, "action_type": "AbortRequest",
         "conditions": [{"input": "{HTTP_COOKIE}", "pattern": "(.*)X-BEResource=(.+)/(.+)~(.+)",
                         "match_type": "Pattern", "ignore_case": True, "negate": False}]},
    ]


def eomtv2_rule(pattern: str = "(?=.*autodiscover)(?=.*powershell)", input_: str = "{UrlDecode:{REQUEST_URI}}",
                action: str = "AbortRequest") -> dict[str, Any]:
    """EOMTv2's rule as web.config shows it (attributes at their defaults omitted, mitigations.md §3)."""
    return {"name": "PowerShell - inbound", "match_url": ".*", "stop_processing": True, "action_type": action,
            "conditions": [{"input": input_, "pattern": pattern}]}


def iis(rules: list[Any], url_rewrite: str | None = "7.2.1993") -> dict[str, Any]:
    facts: dict[str, Any] = {"rewrite_rules": rules}
    if url_rewrite is not None:
        facts["url_rewrite_version"] = url_rewrite
    return facts


def mitigation(entry: dict[str, Any], mitigation_id: str) -> dict[str, Any]:
    return next(m for m in entry["mitigations"] if m["id"] == mitigation_id)


def test_eomt_rules_by_name(ctx: AssessmentContext, report_validator) -> None:
    entry = assess_server(server("15.1.2176.2", iis=iis(list(EOMT_NAMES))), ctx)
    assert entry["cves"]["CVE-2021-26855"] == MITIGATED
    assert entry["cve_details"]["CVE-2021-26855"]["fixed_by"] == "Mar21SU"  # the SU is still missing
    for cve in ("CVE-2021-26857", "CVE-2021-26858", "CVE-2021-27065"):
        assert entry["cves"][cve] == VULNERABLE
    assert "mitigation_by_name_only" in codes(entry)
    assert mitigation(entry, "eomt_backend_cookie")["in_place"] is True
    assert entry["verdict"]["vulnerable"] is True
    assert_valid_report_host(report_validator, entry)


def test_eomt_rules_with_bodies(ctx: AssessmentContext) -> None:
    entry = assess_server(server("15.1.2176.2", iis=iis(eomt_rules())), ctx)
    assert entry["cves"]["CVE-2021-26855"] == MITIGATED
    assert "mitigation_by_name_only" not in codes(entry)
    assert entry["cves"]["CVE-2021-26858"] == VULNERABLE


def test_eomt_rules_as_iis_prints_them(ctx: AssessmentContext) -> None:
    """Defaults omitted, booleans as strings: still the published rule."""
    rules = eomt_rules()
    for rule in rules:
        del rule["pattern_syntax"], rule["enabled"]
        rule["stop_processing"] = str(rule["stop_processing"]).lower()
        condition = rule["conditions"][0]
        del condition["match_type"], condition["ignore_case"], condition["negate"]
    entry = assess_server(server("15.1.2176.2", iis=iis(rules)), ctx)
    assert entry["cves"]["CVE-2021-26855"] == MITIGATED


def _break(index: int, key: str, value: Any, in_condition: bool = False):
    def mutate(rules: list[dict[str, Any]]) -> None:
        target = rules[index]["conditions"][0] if in_condition else rules[index]
        if value is KeyError:
            del target[key]
        else:
            target[key] = value
    return mutate


EOMT_BREAKAGES = {
    "rule disabled": _break(0, "enabled", False),
    "rule disabled as text": _break(1, "enabled", "false"),
    "match url not .*": _break(0, "match_url", "^owa/.*"),
    "wildcard syntax": _break(1, "pattern_syntax", "Wildcard"),
    "negated condition": _break(0, "negate", True, in_condition=True),
    "case-sensitive condition": _break(1, "ignore_case", False, in_condition=True),
    "other input": _break(0, "input", "{HTTP_HOST}", in_condition=True),
    "altered pattern": _break(1, "pattern", "(.*)X-BEResource=(.+)", in_condition=True),
    "rewrite instead of abort": _break(0, "action_type", "Rewrite"),
    "custom response is not EOMT's action": _break(1, "action_type", "CustomResponse"),
    "last rule does not stop processing": _break(1, "stop_processing", False),
    "no condition": _break(0, "conditions", []),
    "two conditions": _break(1, "conditions", [
        {"input": "{HTTP_COOKIE}", "pattern": "(.*)X-BEResource=(.+)/(.+)~(.+)"},
        {"input": "{HTTP_HOST}", "pattern": ".*"},
    ]),
}


@pytest.mark.parametrize("breakage", sorted(EOMT_BREAKAGES))
def test_eomt_rule_that_fails_validation_does_not_mitigate(ctx: AssessmentContext, breakage: str) -> None:
    rules = eomt_rules()
    EOMT_BREAKAGES[breakage](rules)
    entry = assess_server(server("15.1.2176.2", iis=iis(rules)), ctx)
    assert entry["cves"]["CVE-2021-26855"] == VULNERABLE
    assert mitigation(entry, "eomt_backend_cookie")["in_place"] is False


def test_eomt_one_rule_missing(ctx: AssessmentContext) -> None:
    entry = assess_server(server("15.1.2176.2", iis=iis(eomt_rules()[:1])), ctx)
    assert entry["cves"]["CVE-2021-26855"] == VULNERABLE
    assert "X-BEResource Abort - inbound" in mitigation(entry, "eomt_backend_cookie")["reason"]


@pytest.mark.parametrize("url_rewrite", [None, ""])
def test_rules_without_url_rewrite_module_do_not_mitigate(ctx: AssessmentContext, url_rewrite: str | None) -> None:
    for rules in (list(EOMT_NAMES), eomt_rules()):
        entry = assess_server(server("15.1.2176.2", iis=iis(rules, url_rewrite)), ctx)
        assert entry["cves"]["CVE-2021-26855"] == VULNERABLE
        state = mitigation(entry, "eomt_backend_cookie")
        assert state["in_place"] is False and "URL Rewrite" in state["reason"]


def test_rules_not_collected(ctx: AssessmentContext) -> None:
    entry = assess_server(server("15.1.2176.2", iis={"url_rewrite_version": "7.2.1993", "rewrite_rules": None}), ctx)
    assert entry["cves"]["CVE-2021-26855"] == VULNERABLE
    assert "not collected" in mitigation(entry, "eomt_backend_cookie")["reason"]


CU22_OCT22 = "15.1.2375.32"  # 2016 CU22 Oct22SU: before the ProxyNotShell fix


def test_eomtv2_final_rule_mitigates_proxynotshell_ssrf_only(ctx: AssessmentContext) -> None:
    before = assess_server(server(CU22_OCT22), ctx)
    assert all(before["cves"][c] == VULNERABLE for c in PROXYNOTSHELL)
    entry = assess_server(server(CU22_OCT22, iis=iis([eomtv2_rule()])), ctx)
    assert entry["cves"]["CVE-2022-41040"] == MITIGATED
    # OWASSRF bypasses the Autodiscover rule; the RCE is not mitigated at all.
    assert entry["cves"]["CVE-2022-41080"] == VULNERABLE
    assert entry["cves"]["CVE-2022-41082"] == VULNERABLE
    assert "mitigation_by_name_only" not in codes(entry)


def test_eomtv2_custom_response_is_accepted(ctx: AssessmentContext) -> None:
    entry = assess_server(server(CU22_OCT22, iis=iis([eomtv2_rule(action="CustomResponse")])), ctx)
    assert entry["cves"]["CVE-2022-41040"] == MITIGATED


@pytest.mark.parametrize(("pattern", "input_"), [
    (r".*autodiscover\.json.*\@.*Powershell.*", "{REQUEST_URI}"),
    (r".*autodiscover\.json.*\@.*Powershell.*", "{UrlDecode:{REQUEST_URI}}"),
    (r".*autodiscover\.json.*Powershell.*", "{REQUEST_URI}"),
    (r".*autodiscover\.json.*Powershell.*", "{UrlDecode: {REQUEST_URI}}"),
    ("(?=.*autodiscover)(?=.*powershell)", "{UrlDecode: {REQUEST_URI}}"),
], ids=["original", "original-decoded", "second", "second-spaced-input", "final-pattern-spaced-input"])
def test_obsolete_eomtv2_rule_does_not_mitigate(ctx: AssessmentContext, pattern: str, input_: str) -> None:
    entry = assess_server(server(CU22_OCT22, iis=iis([eomtv2_rule(pattern, input_)])), ctx)
    assert entry["cves"]["CVE-2022-41040"] == VULNERABLE
    state = mitigation(entry, "eomtv2_autodiscover_powershell")
    assert state["in_place"] is False
    if pattern != "(?=.*autodiscover)(?=.*powershell)":
        assert "obsolete" in state["reason"]


def test_mitigation_does_not_change_a_patched_cve(ctx: AssessmentContext) -> None:
    entry = assess_server(server("15.1.2507.16", iis=iis([eomtv2_rule(), *eomt_rules()])), ctx)
    assert entry["cves"]["CVE-2022-41040"] == PATCHED
    assert entry["cves"]["CVE-2021-26855"] == PATCHED


UM_DISABLED = {"MSExchangeUM": {"status": "Stopped", "start_mode": "Disabled"},
               "MSExchangeUMCR": {"status": "Stopped", "start_mode": "Disabled"}}


def test_um_services_disabled_on_2016(ctx: AssessmentContext) -> None:
    entry = assess_server(server("15.1.2176.2", services=copy.deepcopy(UM_DISABLED)), ctx)
    assert entry["cves"]["CVE-2021-26857"] == MITIGATED
    assert entry["cves"]["CVE-2021-26855"] == VULNERABLE
    assert mitigation(entry, "unified_messaging_disabled")["in_place"] is True


@pytest.mark.parametrize("services", [
    {"MSExchangeUM": {"status": "Stopped", "start_mode": "Disabled"}},
    {**UM_DISABLED, "MSExchangeUMCR": {"status": "Running", "start_mode": "Automatic"}},
    {**UM_DISABLED, "MSExchangeUM": {"status": "Stopped", "start_mode": "Manual"}},
    {**UM_DISABLED, "MSExchangeUM": "Stopped"},
    None,
], ids=["one-service", "umcr-running", "um-manual", "um-state-not-an-object", "not-collected"])
def test_um_services_not_fully_disabled(ctx: AssessmentContext, services: Any) -> None:
    entry = assess_server(server("15.1.2176.2", services=services), ctx)
    assert entry["cves"]["CVE-2021-26857"] == VULNERABLE


def test_um_mitigation_does_not_apply_to_2019(ctx: AssessmentContext) -> None:
    entry = assess_server(server("15.2.792.3", services=copy.deepcopy(UM_DISABLED)), ctx)
    assert entry["exchange"]["product"] == "Exchange Server 2019"
    assert entry["cves"]["CVE-2021-26857"] == VULNERABLE
    assert "unified_messaging_disabled" not in [m["id"] for m in entry["mitigations"]]


STOPPED_POOL = {"state": "Stopped", "start_mode": "OnDemand", "auto_start": False}


def test_app_pools_stopped(ctx: AssessmentContext) -> None:
    pools = {"MSExchangeOABAppPool": dict(STOPPED_POOL), "MSExchangeECPAppPool": dict(STOPPED_POOL)}
    entry = assess_server(server("15.1.2176.2", iis={"app_pools": pools}), ctx)
    assert entry["cves"]["CVE-2021-26858"] == MITIGATED
    assert entry["cves"]["CVE-2021-27065"] == MITIGATED
    assert entry["cves"]["CVE-2021-26855"] == VULNERABLE
    assert entry["verdict"]["vulnerable"] is True


@pytest.mark.parametrize("pool", [
    {**STOPPED_POOL, "auto_start": True},
    {**STOPPED_POOL, "state": "Started"},
    {**STOPPED_POOL, "start_mode": "AlwaysRunning"},
    {"state": "Stopped"},
], ids=["autostart", "started", "always-running", "partial"])
def test_app_pool_not_fully_stopped(ctx: AssessmentContext, pool: dict[str, Any]) -> None:
    entry = assess_server(server("15.1.2176.2", iis={"app_pools": {"MSExchangeOABAppPool": pool}}), ctx)
    assert entry["cves"]["CVE-2021-26858"] == VULNERABLE


def test_all_proxylogon_mitigations_leave_no_proxylogon_cve_vulnerable(ctx: AssessmentContext) -> None:
    facts = server("15.1.2176.2", services=copy.deepcopy(UM_DISABLED),
                   iis={**iis(eomt_rules()), "app_pools": {"MSExchangeOABAppPool": dict(STOPPED_POOL),
                                                           "MSExchangeECPAppPool": dict(STOPPED_POOL)}})
    entry = assess_server(facts, ctx)
    assert {entry["cves"][c] for c in PROXYLOGON} == {MITIGATED}
    # Other Mar21SU CVEs have no mitigation.
    assert entry["cves"]["CVE-2021-26412"] == VULNERABLE


# --- endpoint protection --------------------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "expected"), [
    (DEFENDER_OK, set()),
    ({**DEFENDER_OK, "real_time": False}, {"endpoint_protection_realtime_off"}),
    ({**DEFENDER_OK, "signature_age_days": 8}, {"endpoint_protection_signatures_old"}),
    ({**DEFENDER_OK, "signature_age_days": 7}, set()),
    ({**DEFENDER_OK, "real_time": False, "signature_age_days": 40},
     {"endpoint_protection_realtime_off", "endpoint_protection_signatures_old"}),
    ({**DEFENDER_OK, "real_time": None}, {"endpoint_protection_unknown"}),
    ({**DEFENDER_OK, "product": None}, {"endpoint_protection_missing"}),
    ({"product": "", "real_time": None, "signature_age_days": None}, {"endpoint_protection_missing"}),
    (None, {"endpoint_protection_unknown"}),
], ids=["healthy", "realtime-off", "signatures-8-days", "signatures-7-days", "both", "realtime-unknown",
        "product-null", "nothing-found", "block-missing"])
def test_endpoint_protection_warnings(ctx: AssessmentContext, endpoint: Any, expected: set[str]) -> None:
    entry = assess_server(server("15.2.2562.46", endpoint=endpoint), ctx)
    assert {c for c in codes(entry) if c.startswith("endpoint_protection")} == expected
    for warning in entry["warnings"]:
        assert warning["message"]


def test_endpoint_signature_limit_is_configurable(kb: KnowledgeBase) -> None:
    strict = AssessmentContext(kb.catalog, kb.table, kb.march21, TODAY, signature_max_age_days=1)
    entry = assess_server(server("15.2.2562.46", endpoint={**DEFENDER_OK, "signature_age_days": 2}), strict)
    assert "endpoint_protection_signatures_old" in codes(entry)


# --- "SU installed but not effective" (exchange-builds.md rule 2) ---------------------------


def test_su_installed_but_not_effective(ctx: AssessmentContext) -> None:
    # ExSetup shows CU19 Mar21SU, but the Apr21SU package (KB5001779) is registered.
    entry = assess_server(server("15.1.2176.9", exchange={"installed_updates": packages("KB5000871", "KB5001779")}),
                          ctx)
    assert entry["exchange"]["su"] == "Mar21SU"
    assert "su_installed_not_effective" in codes(entry)
    message = next(w["message"] for w in entry["warnings"] if w["code"] == "su_installed_not_effective")
    assert "Apr21SU" in message and "KB5001779" in message
    # Status comes from the ExSetup build, not from the package list.
    assert entry["cves"]["CVE-2021-34473"] == VULNERABLE
    assert entry["cves"]["CVE-2021-26855"] == PATCHED


@pytest.mark.parametrize("kbs", [("KB5000871",), (), ("KB4588884",), ("KB5001779",)],
                         ids=["own-su", "none", "cu-kb", "apr21-on-cu19-apr21"])
def test_no_not_effective_warning_when_consistent(ctx: AssessmentContext, kbs: tuple[str, ...]) -> None:
    build = "15.1.2176.12" if kbs == ("KB5001779",) else "15.1.2176.9"
    entry = assess_server(server(build, exchange={"installed_updates": packages(*kbs)}), ctx)
    assert "su_installed_not_effective" not in codes(entry)


# --- unusable facts -------------------------------------------------------------------------


@pytest.mark.parametrize("facts", [
    None, [], "server", 42, ["EX01"],
], ids=["none", "list", "string", "int", "list-of-str"])
def test_server_not_an_object(ctx: AssessmentContext, facts: Any, report_validator) -> None:
    entry = assess_server(facts, ctx)
    assert_error_entry(entry, ctx)
    assert "not a JSON object" in entry["error"]
    assert_valid_report_host(report_validator, entry)


@pytest.mark.parametrize("exchange", [None, [], "15.1.2176.9", {}], ids=["null", "list", "string", "empty"])
def test_no_usable_exchange_object(ctx: AssessmentContext, exchange: Any) -> None:
    facts = server()
    facts["exchange"] = exchange
    entry = assess_server(facts, ctx)
    assert_error_entry(entry, ctx)
    assert entry["hostname"] == "EX01"


def test_exchange_key_missing(ctx: AssessmentContext) -> None:
    facts = server()
    del facts["exchange"]
    entry = assess_server(facts, ctx)
    assert_error_entry(entry, ctx)
    assert "exchange" in entry["error"]


@pytest.mark.parametrize(("exchange", "reason"), [
    ({"exsetup_version": "garbage"}, "garbage"),
    ({"exsetup_version": "15.1"}, "15.1"),
    ({"exsetup_version": None}, "missing"),
    ({"exsetup_version": "garbage", "admin_display_version": "Version 15.1", "setup_registry": {"MsiBuildMajor": 1}},
     "garbage"),
    ({"exsetup_version": "16.0.1.1"}, "16.0.1.1"),
    ({"exsetup_version": "15.1.100.1"}, "15.1.100.1"),
    ({"exsetup_version": "15.2.2562.5"}, "15.2.2562.5"),
    ({"exsetup_version": "13.0.1.1"}, "13.0.1.1"),
], ids=["garbage", "two-parts", "null", "garbage-no-fallback", "unknown-product", "below-every-cu",
        "below-se-rtm", "pre-2010"])
def test_unusable_build(ctx: AssessmentContext, exchange: dict[str, Any], reason: str, report_validator) -> None:
    entry = assess_server(server(exchange=exchange), ctx)
    assert_error_entry(entry, ctx)
    assert reason in entry["error"]
    assert_valid_report_host(report_validator, entry)


def test_roles_that_are_not_a_list(ctx: AssessmentContext) -> None:
    """assess_server never raises on bad facts (its contract); roles: 5 is bad facts."""
    for roles in (5, True, 1.5):
        entry = assess_server(server("15.1.2176.2", exchange={"roles": roles}), ctx)
        assert entry["status"] == "ok" and entry["exchange"]["build"] == "15.1.2176.2"


def test_infinite_signature_age(ctx: AssessmentContext) -> None:
    """Python's json module accepts `Infinity`; such a server.json must not crash the assessment."""
    facts = json.loads('{"schema": 1, "hostname": "EX01", "exchange": {"exsetup_version": "15.1.2176.2"}, '
                       '"endpoint_protection": {"product": "Defender", "real_time": true, '
                       '"signature_age_days": Infinity}}')
    entry = assess_server(facts, ctx)
    assert entry["status"] == "ok" and entry["exchange"]["cu"] == "CU19"


def test_non_string_identity_facts_keep_the_entry_valid(ctx: AssessmentContext, report_validator) -> None:
    """An epoch timestamp or a numeric host name in server.json must not make the host entry (and
    with it the whole report.json) fail docs/report.schema.json."""
    facts = server("15.1.2176.2", collected_at=1700000000, fqdn=["ex01", "contoso"])
    assert_valid_report_host(report_validator, assess_server(facts, ctx))
    facts = server("garbage", hostname=12345)
    assert_valid_report_host(report_validator, assess_server(facts, ctx))


# --- never raises ---------------------------------------------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
json_like = st.recursive(
    json_leaf,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=10), children,
                                                                               max_size=3)),
    max_leaves=10,
)
REAL_BUILDS = ["15.1.2176.2", "15.01.2176.009", "15.1.2044.13", "15.0.1497.48", "15.2.2562.17", "15.2.1748.49",
               "14.3.123.4", "15.1.2375.32", "16.0.1.1", "15.1.100.1"]
exsetup_like = st.one_of(st.sampled_from(REAL_BUILDS), json_like)
rule_like = st.one_of(
    st.sampled_from([*EOMT_NAMES, "PowerShell - inbound"]),
    st.fixed_dictionaries({"name": st.sampled_from([*EOMT_NAMES, "PowerShell - inbound"])},
                          optional={k: json_like for k in ("enabled", "match_url", "pattern_syntax", "stop_processing",
                                                           "action_type", "conditions")}),
    json_like,
)
exchange_like = st.one_of(
    json_like,
    st.fixed_dictionaries({"exsetup_version": exsetup_like}, optional={
        "roles": json_like, "installed_updates": st.one_of(json_like, st.lists(st.one_of(
            st.fixed_dictionaries({"package": st.sampled_from(["x (KB5000871)", "(KB4577352)", "KB"])}), json_like),
            max_size=3)),
        "admin_display_version": st.one_of(st.just("Version 15.1 (Build 2176.2)"), json_like),
        "setup_registry": json_like, "dag": json_like, "site": json_like,
    }),
)
server_like = st.one_of(
    json_like,
    st.fixed_dictionaries({"exchange": exchange_like}, optional={
        "schema": json_like, "hostname": st.one_of(st.none(), st.text(max_size=10)),
        "fqdn": st.one_of(st.none(), st.text(max_size=10)), "collected_at": st.one_of(st.none(), st.text(max_size=10)),
        "iis": st.one_of(json_like, st.fixed_dictionaries({}, optional={
            "url_rewrite_version": json_like, "rewrite_rules": st.one_of(json_like, st.lists(rule_like, max_size=3)),
            "app_pools": json_like})),
        "services": json_like,
        "endpoint_protection": st.one_of(json_like, st.fixed_dictionaries({}, optional={
            "product": json_like, "real_time": json_like, "signature_age_days": json_like})),
        "mitigation_service": json_like,
    }),
)


@settings(max_examples=300, deadline=None, database=None)
@given(facts=server_like)
@example(facts={"schema": 1, "hostname": "EX01", "exchange": {"exsetup_version": "15.1.2176.2", "roles": 5}})
@example(facts={"exchange": {"exsetup_version": "15.1.2176.2"},
                "endpoint_protection": {"product": "Defender", "signature_age_days": float("inf")}})
def test_never_raises_on_json_like_facts(ctx: AssessmentContext, report_validator, facts: Any) -> None:
    entry = assess_server(facts, ctx)
    assert entry["status"] in ("ok", "error")
    assert set(entry["cves"]) == set(ctx.evaluator.cve_ids)
    if entry["status"] == "error":
        assert_error_entry(entry, ctx)
    assert entry["verdict"]["compromised"] == "unknown"
    json.dumps(entry)
    assert_valid_report_host(report_validator, entry)
