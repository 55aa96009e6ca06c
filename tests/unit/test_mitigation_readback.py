"""The rules the role writes and reads back count as in place under the assessment's own check.

There is no IIS here, so the PowerShell is tied to the Python statically: the rule definitions
the plan filter hands to Set-ExchangeRewriteMitigation.ps1 are built from data/cves.yml; the
RULE dicts the script emits use the keys mitigation_check reads (and are read by the same
functions as the facts collector's); and those RULE dicts, and the web.config IIS would write
for them, validate as in place. An obsolete EOMTv2 pattern does not.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from exchange_remediation.cve_table import CveTable
from exchange_remediation.knowledge_base import load_knowledge
from exchange_remediation.mitigation_check import check_mitigations
from exchange_remediation.mitigation_plan import readback_verdict, rewrite_mitigations
from exchange_remediation.web_config import rewrite_rules_from_web_config

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = str(REPO / "data")
FILES = REPO / "roles" / "exchange_mitigation" / "files"
SETTER = FILES / "Set-ExchangeRewriteMitigation.ps1"
COLLECTOR = REPO / "roles" / "exchange_facts" / "files" / "Get-ExchangeServerFacts.ps1"
OBSOLETE_EOMTV2_PATTERN = r".*autodiscover\.json.*Powershell.*"
URL_REWRITE = "7.2.1993"
RULE_KEYS = {"name", "enabled", "pattern_syntax", "stop_processing", "match_url", "conditions", "action_type"}
CONDITION_KEYS = {"input", "pattern", "negate", "ignore_case", "match_type"}
# The reader functions the setter shares with the facts collector: both must read a rule alike.
SHARED_READERS = (
    "Get-ObjectPropertyValue",
    "ConvertTo-ConfigurationScalar",
    "ConvertTo-NullableBoolean",
    "ConvertTo-RewriteEnumName",
    "ConvertTo-RuleFilterLiteral",
    "Get-WebConfigurationValues",
    "Get-RewriteRuleNames",
    "Get-RewriteRuleBody",
)


@pytest.fixture(scope="module")
def table() -> CveTable:
    return load_knowledge(DATA_DIR).table


def _filters() -> dict[str, Any]:
    path = REPO / "filter_plugins" / "exchange_mitigation.py"
    spec = importlib.util.spec_from_file_location("exchange_mitigation_filters_readback", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()


@pytest.fixture(scope="module")
def passed_rules(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The rule definitions exactly as the plan filter passes them to the script, for a live server that
    is vulnerable to both SSRFs (the same entry shape exchange_assess writes)."""
    import json

    entry = {"status": "ok", "source": "live",
             "exchange": {"product": "Exchange Server 2016", "cu": "CU19", "edge": False, "roles": ["Mailbox"]},
             "cves": {"CVE-2021-26855": "vulnerable", "CVE-2022-41040": "vulnerable"}}
    assessment = tmp_path_factory.mktemp("readback") / "assessment.json"
    assessment.write_text(json.dumps({"hosts": {"ex01": entry}}), encoding="utf-8")
    plans = _filters()["exchange_mitigation_plan"]({"ex01": {}}, ["ex01"], str(assessment), DATA_DIR)
    assert plans["ex01"]["apply"] == ["eomt_backend_cookie", "eomtv2_autodiscover_powershell"]
    return plans["ex01"]["rules"]


def emitted(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Set-ExchangeRewriteMitigation.ps1 reads back after writing these definitions: IIS keeps
    every attribute it was given, so each RULE carries the definition's values (Booleans as
    Booleans, enumerations by their schema names)."""
    return copy.deepcopy(definitions)


def _server(rules: list[Any], version: str | None = URL_REWRITE) -> dict[str, Any]:
    return {"iis": {"rewrite_rules": rules, "url_rewrite_version": version}}


def test_every_published_rule_set_reads_back_in_place(table: CveTable, passed_rules: list[dict[str, Any]]) -> None:
    rules = emitted(passed_rules)
    states = check_mitigations(rewrite_mitigations(table), _server(rules), "2016")
    assert [s.mitigation.id for s in states] == ["eomt_backend_cookie", "eomtv2_autodiscover_powershell"]
    for state in states:
        assert state.in_place, state.reason
        assert not state.by_name_only
        assert state.reason == "rules present and match the published definition"
    verdict = readback_verdict(rules, URL_REWRITE, ["eomt_backend_cookie", "eomtv2_autodiscover_powershell"], [],
                               table)
    assert verdict.ok, verdict.problems


@pytest.mark.parametrize("set_id", ["eomt_backend_cookie", "eomtv2_autodiscover_powershell"])
def test_each_set_alone_reads_back_in_place(table: CveTable, passed_rules: list[dict[str, Any]], set_id: str) -> None:
    names = {spec.name for m in rewrite_mitigations(table) if m.id == set_id for spec in m.rewrite_rules}
    rules = [rule for rule in emitted(passed_rules) if rule["name"] in names]
    assert readback_verdict(rules, URL_REWRITE, [set_id], [], table).ok


def test_readback_filter_checks_the_script_result(passed_rules: list[dict[str, Any]]) -> None:
    plan = {"apply": ["eomt_backend_cookie", "eomtv2_autodiscover_powershell"], "remove": []}
    result = _filters()["exchange_mitigation_readback"](emitted(passed_rules), plan, URL_REWRITE, DATA_DIR)
    assert result["ok"] is True and result["problems"] == []
    assert [m["in_place"] for m in result["mitigations"]] == [True, True]


def test_the_obsolete_eomtv2_pattern_is_not_in_place(table: CveTable, passed_rules: list[dict[str, Any]]) -> None:
    rules = emitted(passed_rules)
    v2 = next(rule for rule in rules if rule["name"] == "PowerShell - inbound")
    v2["conditions"][0]["pattern"] = OBSOLETE_EOMTV2_PATTERN
    verdict = readback_verdict(rules, URL_REWRITE, ["eomt_backend_cookie", "eomtv2_autodiscover_powershell"], [],
                               table)
    assert not verdict.ok
    assert verdict.problems == (
        f"eomtv2_autodiscover_powershell not in place: rule 'PowerShell - inbound': obsolete or altered pattern "
        f"{OBSOLETE_EOMTV2_PATTERN!r}",
    )
    assert [m["in_place"] for m in verdict.mitigations] == [True, False]


def test_the_early_eomtv2_input_with_a_space_is_not_in_place(table: CveTable,
                                                             passed_rules: list[dict[str, Any]]) -> None:
    # mitigations.md §3: the input lost its space on 2022-10-06 to match the EEMS rule.
    rules = [rule for rule in emitted(passed_rules) if rule["name"] == "PowerShell - inbound"]
    rules[0]["conditions"][0]["input"] = "{UrlDecode: {REQUEST_URI}}"
    assert not readback_verdict(rules, URL_REWRITE, ["eomtv2_autodiscover_powershell"], [], table).ok


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("enabled", False, "rule is disabled"),
    ("stop_processing", False, "last rule of the set does not stop processing"),
    ("action_type", "Rewrite", "action is 'Rewrite'"),
    ("match_url", "/owa/.*", "match url is '/owa/.*'"),
])
def test_a_changed_attribute_is_reported(table: CveTable, passed_rules: list[dict[str, Any]], field: str,
                                         value: Any, problem: str) -> None:
    rules = emitted(passed_rules)
    rules[1][field] = value  # X-BEResource Abort - inbound, the last rule of EOMT's set
    verdict = readback_verdict(rules, URL_REWRITE, ["eomt_backend_cookie"], [], table)
    assert not verdict.ok
    assert problem in verdict.problems[0]


def test_a_rule_read_back_by_name_only_is_not_proof(table: CveTable, passed_rules: list[dict[str, Any]]) -> None:
    rules: list[Any] = emitted(passed_rules)
    rules[2] = "PowerShell - inbound"  # the script could not read its body
    verdict = readback_verdict(rules, URL_REWRITE, ["eomtv2_autodiscover_powershell"], [], table)
    assert not verdict.ok and "not compared" in verdict.problems[0]


def test_rules_without_the_url_rewrite_module_are_not_in_place(table: CveTable,
                                                               passed_rules: list[dict[str, Any]]) -> None:
    verdict = readback_verdict(emitted(passed_rules), None, ["eomt_backend_cookie"], [], table)
    assert not verdict.ok and "URL Rewrite module is not installed" in verdict.problems[0]


def test_removed_sets_must_be_gone(table: CveTable, passed_rules: list[dict[str, Any]]) -> None:
    rules = emitted(passed_rules)
    left = readback_verdict(rules, URL_REWRITE, [], ["eomtv2_autodiscover_powershell"], table)
    assert left.problems == ("eomtv2_autodiscover_powershell: rule 'PowerShell - inbound' still present after removal",)
    eomt_only = [rule for rule in rules if rule["name"] != "PowerShell - inbound"]
    assert readback_verdict(eomt_only, URL_REWRITE, ["eomt_backend_cookie"], ["eomtv2_autodiscover_powershell"],
                            table).ok
    assert readback_verdict([], URL_REWRITE, [], ["eomt_backend_cookie", "eomtv2_autodiscover_powershell"], table).ok


def test_no_rule_list_is_a_failure(table: CveTable) -> None:
    verdict = readback_verdict(None, URL_REWRITE, ["eomt_backend_cookie"], [], table)
    assert not verdict.ok and verdict.problems == ("the mitigation script returned no rewrite rules",)
    assert not readback_verdict([], URL_REWRITE, ["no_such_set"], [], table).ok


def _web_config(definitions: list[dict[str, Any]]) -> str:
    """The site web.config IIS writes for these rules: attributes at their schema defaults omitted
    (patternSyntax ECMAScript, enabled true, negate false, ignoreCase true, matchType Pattern)."""
    configuration = ET.Element("configuration")
    rules_element = ET.SubElement(ET.SubElement(ET.SubElement(configuration, "system.webServer"), "rewrite"), "rules")
    for definition in definitions:
        rule = ET.SubElement(rules_element, "rule", name=definition["name"])
        if definition["stop_processing"]:
            rule.set("stopProcessing", "true")
        ET.SubElement(rule, "match", url=definition["match_url"])
        conditions = ET.SubElement(rule, "conditions")
        for condition in definition["conditions"]:
            ET.SubElement(conditions, "add", input=condition["input"], pattern=condition["pattern"])
        ET.SubElement(rule, "action", type=definition["action_type"])
    return ET.tostring(configuration, encoding="unicode")


def test_the_web_config_iis_writes_for_them_is_in_place_offline_too(table: CveTable,
                                                                     passed_rules: list[dict[str, Any]]) -> None:
    # The offline path (an evidence bundle with the site's web.config) must agree with the live read-back.
    parsed = rewrite_rules_from_web_config(_web_config(passed_rules))
    assert [rule["name"] for rule in parsed] == [rule["name"] for rule in passed_rules]
    states = check_mitigations(rewrite_mitigations(table), _server(parsed), "2016")
    assert all(state.in_place for state in states), [state.reason for state in states]


# --------------------------------------------------------------------------- the PowerShell side


def _script(path: Path) -> str:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), f"{path.name} must be UTF-8 with BOM"
    return raw[3:].decode("utf-8")


def _functions(text: str) -> dict[str, str]:
    return dict(re.findall(r"^function ([\w-]+) \{\n(.*?)^\}", text, re.M | re.S))


def test_setter_reads_rules_with_the_collectors_own_functions() -> None:
    setter, collector = _functions(_script(SETTER)), _functions(_script(COLLECTOR))
    for name in SHARED_READERS:
        assert name in setter and name in collector, name
        assert setter[name] == collector[name], f"{name} differs between the setter and the collector"


def test_the_rule_the_script_emits_has_the_keys_mitigation_check_reads() -> None:
    body = _functions(_script(SETTER))["Get-RewriteRuleBody"]
    rule_block = re.search(r"\$rule = \[ordered\]@\{(.*?)\n    \}", body, re.S)
    condition_block = re.search(r"\$conditions\.Add\(\[ordered\]@\{(.*?)\}\)", body, re.S)
    assert rule_block and condition_block
    assert set(re.findall(r"^\s*(\w+)\s*=", rule_block.group(1), re.M)) == RULE_KEYS
    assert set(re.findall(r"^\s*(\w+)\s*=", condition_block.group(1), re.M)) == CONDITION_KEYS


def test_the_script_reads_only_fields_the_definitions_have(passed_rules: list[dict[str, Any]]) -> None:
    text = _script(SETTER)
    used = set(re.findall(r"Get-DefinitionValue -Definition \$\w+ -Name '(\w+)'", text))
    assert used, "the setter reads its rules from the definitions"
    assert used <= RULE_KEYS | CONDITION_KEYS
    for rule in passed_rules:
        assert set(rule) == RULE_KEYS
        assert all(set(condition) == CONDITION_KEYS for condition in rule["conditions"])


def test_no_rule_is_written_into_the_powershell() -> None:
    # The definitions come from data/cves.yml through the filter; none may be copied into a script.
    for path in FILES.glob("*.ps1"):
        text = _script(path)
        for literal in ("X-AnonResource", "X-BEResource", "HTTP_COOKIE", "REQUEST_URI", "autodiscover",
                        "PowerShell - inbound"):
            assert literal not in text, f"{path.name} holds {literal!r}"


def test_setter_applies_and_rolls_back_as_mitigations_md_section_6() -> None:
    text = _script(SETTER)
    assert re.search(r"^\[CmdletBinding\(SupportsShouldProcess\)\]", text, re.M)
    assert "$script:RulesSection = 'system.webServer/rewrite/rules'" in text
    add = "Add-WebConfigurationProperty -PSPath $PSPath -Filter $script:RulesSection -Name '.' -Value $ruleValue"
    assert add in text
    assert "-Filter ('{0}/match' -f $filter) -Name 'url'" in text
    assert "-Filter ('{0}/conditions' -f $filter) -Name '.' -Value $conditionValue" in text
    assert "-Filter ('{0}/action' -f $filter) -Name 'type'" in text
    assert "Clear-WebConfiguration -PSPath $PSPath -Filter $filter" in text
    assert "Get-WebConfiguration -PSPath $PSPath -Filter ('{0}/rule' -f $script:RulesSection) -Recurse" in text
    assert "Clear-WebConfiguration -PSPath $PSPath -Filter $script:RulesSection" in text
    # Every change asks ShouldProcess first (check mode runs the script with -WhatIf).
    for name in ("Remove-RewriteRule", "Add-RewriteRule", "Clear-EmptyRewriteRules"):
        body = _functions(text)[name]
        assert "[CmdletBinding(SupportsShouldProcess)]" in body and "$PSCmdlet.ShouldProcess(" in body, name
    assert re.search(r"^\s*\$Ansible\.Changed = \$false\s*$", text, re.M)
    assert re.search(r"^\s*\$Ansible\.Changed = \$result\.changed\s*$", text, re.M)


def test_role_scripts_follow_the_house_style() -> None:
    for path in FILES.glob("*.ps1"):
        text = _script(path)
        assert text.endswith("\n") and "\r" not in text, path.name
        assert re.match(r"\s*<#.*?\.SYNOPSIS.*?\.DESCRIPTION.*?#>", text, re.S), path.name
        assert re.search(r"^Set-StrictMode -Version 2\s*$", text, re.M), path.name
        assert "Write-Host" not in text, path.name
        assert re.search(r"^\s*\$Ansible\.Changed = ", text, re.M), path.name
        for name, body in _functions(text).items():
            assert re.match(r"\s*<#\s*\.SYNOPSIS", body), f"{path.name}: {name} lacks comment-based help"
        changes = re.search(
            r"\b(Set|Add|Clear|Remove|Enable)-(WebConfiguration\w*|OrganizationConfig|ExchangeServer)\b", text)
        if changes:
            assert "[CmdletBinding(SupportsShouldProcess)]" in text, f"{path.name} changes things without ShouldProcess"
