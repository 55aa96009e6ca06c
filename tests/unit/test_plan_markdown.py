"""plan.md: the demo plan reads as a document (sections, AD preparation, waves, one section per
server) and hostile host names, reasons and media names stay inert Markdown."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from exchange_remediation.estate_assessment import assess_estate
from exchange_remediation.evidence_bundle import read_bundle_facts
from exchange_remediation.patch_knowledge import load_patch_knowledge
from exchange_remediation.patch_plan import PlanOptions, plan_estate
from exchange_remediation.plan_markdown import plan_markdown

REPO = Path(__file__).resolve().parents[2]
DATA = str(REPO / "data")
DEMO = REPO / "inventories" / "demo" / "evidence"
PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
HOSTILE = "ex|evil <script>alert(1)</script> `code` [link](http://x) ![img](http://y) &amp; $x$ *b* _i_ #h\nnext"


@pytest.fixture(scope="module")
def plans() -> dict[str, dict[str, Any]]:
    names = sorted(path.name for path in DEMO.iterdir())
    hosts = assess_estate({n: {"evidence_dir": str(DEMO / n), "source": "evidence"} for n in names}, DATA,
                          dt.date(2026, 11, 29)).hosts
    servers = {n: read_bundle_facts(str(DEMO / n)).server for n in names}
    knowledge = load_patch_knowledge(DATA)
    return {"default": plan_estate(hosts, servers, knowledge, PlanOptions(), "2026-11-29T10:00:00Z"),
            "se": plan_estate(hosts, servers, knowledge, PlanOptions(upgrade_to_se=True, max_per_wave=2),
                              "2026-11-29T10:00:00Z")}


def tokens(markdown: str) -> list[Token]:
    flat: list[Token] = []
    for token in PARSER.parse(markdown):
        flat.append(token)
        flat += token.children or []
    return flat


def headings(markdown: str) -> list[str]:
    parsed = PARSER.parse(markdown)
    return [parsed[i + 1].content for i, token in enumerate(parsed) if token.type == "heading_open"]


def assert_inert(markdown: str) -> None:
    kinds = {token.type for token in tokens(markdown)}
    assert not kinds & {"html_block", "html_inline", "image", "link_open", "code_inline"}, kinds


def table_rows(markdown: str, title: str) -> list[str]:
    lines = markdown.splitlines()
    start = lines.index(title)
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return rows


def test_sections_of_the_demo_plan(plans: dict[str, dict[str, Any]]) -> None:
    markdown = plan_markdown(plans["default"])
    found = headings(markdown)
    assert found[:6] == ["Exchange patch plan", "Summary", "Active Directory preparation", "Waves", "Servers",
                         "edge01"]
    assert set(found[5:]) == set(plans["default"]["servers"])
    assert "Not needed." in markdown and "Estate levels: inferred." in markdown
    assert "| 1 | edge01 (offline bundle: plan only), ex16-legacy (offline bundle: plan only)" in markdown
    assert_inert(markdown)


def test_server_section_shows_target_prerequisites_steps_and_media(plans: dict[str, dict[str, Any]]) -> None:
    markdown = plan_markdown(plans["default"])
    section = markdown.split("### ex16-legacy", 1)[1].split("### ", 1)[0]
    assert "- Target: CU23 Aug26SU (15.1.2507.72)" in section
    assert "- License switch: /IAcceptExchangeServerLicenseTerms\\_DiagnosticDataOFF" in section
    assert "| IIS URL Rewrite Module | missing | not installed; 7.2.1993 or later required | prereq-urlrewrite |" \
        in section
    assert "Cumulative update Exchange Server 2016 CU23 (15.1.2507.6, KB5011155) from media 2016-CU23-iso: " \
           "Setup.exe /Mode:Upgrade /IAcceptExchangeServerLicenseTerms\\_DiagnosticDataOFF, then reboot" in section
    assert "| 2016-CU23-iso | cu\\_iso | Exchange2016/CU23/ExchangeServer2016-x64-CU23.ISO | unknown | none |" \
        in section
    blocked = markdown.split("### ex13", 1)[1].split("### ", 1)[0]
    assert "Plan: **blocked**" in blocked and "Blockers and notes:" in blocked and "migrate:" in blocked


def test_upgrade_to_se_and_several_waves(plans: dict[str, dict[str, Any]]) -> None:
    markdown = plan_markdown(plans["se"])
    assert "Reboot, then in-place upgrade to Exchange Server SE RTM (15.2.2562.17, KB5047155)" in markdown
    waves = table_rows(markdown, "## Waves")
    assert len(waves) == 2 + len(plans["se"]["waves"]) and len(plans["se"]["waves"]) == 3
    assert "upgrade_to_se yes" in markdown and "max_per_wave 2" in markdown


def test_ad_preparation_needed(plans: dict[str, dict[str, Any]]) -> None:
    plan = copy.deepcopy(plans["default"])
    plan["ad_preparation"] = {
        "needed": True, "steps": ["PrepareSchema", "PrepareAD"], "target": {"product": "Exchange Server 2016",
                                                                         "cu": "CU23"},
        "media": "2016-CU23-iso", "license_switch": "/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF",
        "reasons": ["schema 15334 needed by Exchange Server 2016 CU23; AD levels not collected"],
        "estate_levels": {"schema": None, "organization": None, "meso": None, "source": "unknown"},
        "required_levels": {"schema": 15334, "organization": 16223, "meso": 13243}}
    markdown = plan_markdown(plan)
    assert "**Needed** before the first server: /PrepareSchema, /PrepareAD, run once from the media 2016-CU23-iso" \
        in markdown
    assert "| Schema (rangeUpper) | — | 15334 | PrepareSchema |" in markdown


def test_hostile_values_stay_inert(plans: dict[str, dict[str, Any]]) -> None:
    plan = copy.deepcopy(plans["default"])
    server = plan["servers"].pop("ex16-legacy")
    server["reasons"].append(HOSTILE)
    server["fqdn"] = HOSTILE
    server["site"] = HOSTILE
    server["redirect_target"] = HOSTILE
    server["prerequisites"][0]["detail"] = HOSTILE
    server["steps"][0]["name"] = HOSTILE
    server["media"][0]["relative_path"] = HOSTILE
    plan["servers"][HOSTILE] = server
    plan["waves"][0]["servers"].append(HOSTILE)
    plan["warnings"] = [HOSTILE]
    plan["ad_preparation"]["reasons"].append(HOSTILE)
    markdown = plan_markdown(plan)
    assert_inert(markdown)
    assert "<script>" not in markdown and "\\<script\\>" in markdown
    # One line per value: the newline inside it never starts a new Markdown line.
    assert not any(line.startswith("next") for line in markdown.splitlines())
    # Every table keeps its column count: the pipes in the name are escaped.
    for title, columns in (("## Servers", 9), ("## Waves", 3)):
        for row in table_rows(markdown, title):
            unescaped = sum(1 for i, c in enumerate(row) if c == "|" and (i == 0 or row[i - 1] != "\\"))
            assert unescaped == columns + 1, row
    assert headings(markdown).count(headings(markdown)[-1]) == 1


@pytest.mark.parametrize("plan", [{}, {"servers": {"x": None}, "waves": "nope", "summary": []},
                                  {"servers": {"x": {"steps": [None, {"kind": "other"}], "prerequisites": [7]}}}])
def test_malformed_plans_render(plan: dict[str, Any]) -> None:
    markdown = plan_markdown(plan)
    assert markdown.startswith("# Exchange patch plan\n") and markdown.endswith("\n")
    assert_inert(markdown)
