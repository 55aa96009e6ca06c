"""AD preparation of the estate: levels from data/ad-levels.yml (exchange-builds.md "AD levels
per target CU"), estate levels collected, inferred from the installed CUs or unknown, the steps
that follow, the media and license switch they run from, and the SU-driven steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exchange_remediation.ad_preparation import (
    AdLevelDataError,
    AdLevelTable,
    AdTarget,
    CollectedLevels,
    InstalledCu,
    collected_levels,
    load_ad_levels,
    plan_ad_preparation,
)
from exchange_remediation.build_catalog import CumulativeUpdate
from exchange_remediation.build_number import Build, parse_file_version
from exchange_remediation.patch_knowledge import PatchKnowledge, load_patch_knowledge

REPO = Path(__file__).resolve().parents[2]
OFF = "/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF"
NAMES = {"2013": "Exchange Server 2013", "2016": "Exchange Server 2016", "2019": "Exchange Server 2019",
         "SE": "Exchange Server SE"}


@pytest.fixture(scope="module")
def knowledge() -> PatchKnowledge:
    return load_patch_knowledge(str(REPO / "data"))


@pytest.fixture(scope="module")
def table(knowledge: PatchKnowledge) -> AdLevelTable:
    return knowledge.ad_levels


def catalog_cu(knowledge: PatchKnowledge, code: str, name: str) -> CumulativeUpdate:
    product = knowledge.catalog.product_named(code)
    assert product is not None
    return next(c for c in knowledge.catalog.cus_of(product) if c.name == name)


def build(text: str) -> Build:
    parsed = parse_file_version(text).build
    assert parsed is not None
    return parsed


def target(knowledge: PatchKnowledge, host: str, code: str, cu: str, su: str | None = None,
           current: str | None = None) -> AdTarget:
    found = catalog_cu(knowledge, code, cu)
    release = next(u for u in found.updates if u.name == su) if su else None
    final = release.build if release else found.build
    steps = knowledge.ad_levels.update_steps_due(code, found, build(current) if current else found.build, final)
    return AdTarget(host, code, NAMES[code], cu, found.build, final, f"{code}-{cu}-iso",
                    knowledge.switches.license_switch(code, found.build), steps)


def installed(host: str, code: str, cu: str) -> InstalledCu:
    return InstalledCu(host, code, NAMES[code], cu)


# --- the table --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "cu", "levels"), [
    ("2013", "CU23", (15312, 16133, 13237)),
    ("2016", "CU21", (15334, 16221, 13241)),
    ("2016", "CU23", (15334, 16223, 13243)),
    ("2019", "CU10", (17003, 16758, 13241)),
    ("2019", "CU14", (17003, 16762, 13243)),
    ("2019", "CU15", (17003, 16763, 13243)),
    ("SE", "RTM", (17003, 16763, 13243)),
])
def test_levels_of_the_reference_table(table: AdLevelTable, code: str, cu: str, levels: tuple[int, ...]) -> None:
    level = table.level(code, cu)
    assert level is not None
    values = level.values()
    assert (values["schema"], values["organization"], values["meso"]) == levels


def test_meso_after_may22su(knowledge: PatchKnowledge, table: AdLevelTable) -> None:
    level = table.level("2016", "CU22")
    assert level is not None
    may22 = next(u for u in catalog_cu(knowledge, "2016", "CU22").updates if u.name == "May22SU")
    assert level.values(build("15.1.2375.24"))["meso"] == 13242  # Apr22SU: before May22SU
    assert level.values(may22.build)["meso"] == 13243
    thirteen = table.level("2013", "CU23")
    assert thirteen is not None and thirteen.values(build("15.0.1497.48"))["meso"] == 13238


def test_update_steps_due_when_the_build_crosses_the_update(knowledge: PatchKnowledge, table: AdLevelTable) -> None:
    cu20 = catalog_cu(knowledge, "2016", "CU20")
    jul21 = next(u for u in cu20.updates if u.name == "Jul21SU")
    due = table.update_steps_due("2016", cu20, cu20.build, jul21.build)
    assert [(s.update, s.step) for s in due] == [("Jul21SU", "PrepareSchema")]
    assert table.update_steps_due("2016", cu20, jul21.build, cu20.newest_build) == ()
    cu23 = catalog_cu(knowledge, "2016", "CU23")
    assert table.update_steps_due("2016", cu23, cu23.build, cu23.newest_build) == ()  # CU23 ships MESO 13243


# --- estate levels ------------------------------------------------------------------------------------


def test_not_needed_when_an_installed_cu_is_at_least_as_high(knowledge: PatchKnowledge,
                                                             table: AdLevelTable) -> None:
    result = plan_ad_preparation(table, [target(knowledge, "ex16", "2016", "CU23", "Aug26SU", "15.1.2176.2")],
                                 [installed("ex19", "2019", "CU15"), installed("ex16", "2016", "CU19")], [])
    assert result["needed"] is False and result["steps"] == [] and result["media"] is None
    assert result["estate_levels"] == {"schema": 17003, "organization": 16763, "meso": 13243, "source": "inferred"}
    assert result["required_levels"] == {"schema": 15334, "organization": 16223, "meso": 13243}
    assert all("is met" in reason and "inferred from the installed Exchange Server 2019 CU15 on ex19" in reason
               for reason in result["reasons"])


def test_inferred_lower_bound_below_the_target(knowledge: PatchKnowledge, table: AdLevelTable) -> None:
    result = plan_ad_preparation(table, [target(knowledge, "ex16", "2016", "CU23", "Aug26SU", "15.1.2308.8")],
                                 [installed("ex16", "2016", "CU21")], [])
    assert result["needed"] is True and result["steps"] == ["PrepareAD", "PrepareAllDomains"]
    assert result["target"] == {"product": "Exchange Server 2016", "cu": "CU23"}
    assert (result["media"], result["license_switch"]) == ("2016-CU23-iso", OFF)
    assert "organization 16223 needed by Exchange Server 2016 CU23, estate shows at least 16221 (inferred" in \
        result["reasons"][1]


def test_collected_levels_win_over_inference(knowledge: PatchKnowledge, table: AdLevelTable) -> None:
    collected = [CollectedLevels("old", "2021-03-09T14:27:05Z", {"schema": 15332, "organization": 16220,
                                                                  "meso": 13240}),
                 CollectedLevels("new", "2026-11-26T09:12:44Z", {"schema": 17003, "organization": 16762,
                                                                  "meso": 13243})]
    result = plan_ad_preparation(table, [target(knowledge, "ex19", "2019", "CU15", "Aug26SU", "15.2.1544.44")],
                                 [installed("ex19", "2019", "CU15")], collected)
    assert result["estate_levels"]["source"] == "collected" and result["estate_levels"]["organization"] == 16762
    assert result["steps"] == ["PrepareAD"]
    assert "estate shows at most 16762 (collected from new at 2026-11-26T09:12:44Z)" in result["reasons"][1]


def test_partly_collected_levels_fall_back_per_level(knowledge: PatchKnowledge, table: AdLevelTable) -> None:
    collected = [CollectedLevels("ex19", "2026-11-26T09:12:44Z", {"schema": 17003, "organization": None,
                                                                   "meso": None})]
    result = plan_ad_preparation(table, [target(knowledge, "ex19", "2019", "CU15")],
                                 [installed("ex19", "2019", "CU15")], collected)
    assert result["needed"] is False and result["estate_levels"]["source"] == "mixed"


def test_nothing_known_needs_every_step(knowledge: PatchKnowledge, table: AdLevelTable) -> None:
    result = plan_ad_preparation(table, [target(knowledge, "ex16", "2016", "CU23", "Aug26SU", "15.1.2176.2")],
                                 [installed("ex16", "2016", "CU19")], [])
    assert result["needed"] is True and result["steps"] == ["PrepareSchema", "PrepareAD", "PrepareAllDomains"]
    assert len(result["reasons"]) == 3 and all(r.endswith("AD levels not collected") for r in result["reasons"])
    assert result["estate_levels"]["source"] == "unknown"


def test_the_newest_target_media_runs_the_prep(knowledge: PatchKnowledge, table: AdLevelTable) -> None:
    targets = [target(knowledge, "a", "2016", "CU23", "Aug26SU", "15.1.2176.2"),
               target(knowledge, "b", "SE", "RTM", "Aug26SU", "15.2.1748.49")]
    result = plan_ad_preparation(table, targets, [], [])
    assert result["target"] == {"product": "Exchange Server SE", "cu": "RTM"} and result["media"] == "SE-RTM-iso"
    assert result["required_levels"] == {"schema": 17003, "organization": 16763, "meso": 13243}


def test_no_targets(table: AdLevelTable) -> None:
    result = plan_ad_preparation(table, [], [installed("x", "SE", "RTM")], [])
    assert result["needed"] is False and result["reasons"] == ["no server to patch"]


def test_a_target_without_known_levels_plans_every_step(knowledge: PatchKnowledge, table: AdLevelTable) -> None:
    unknown = target(knowledge, "ex16", "2016", "CU20")  # the table starts at 2016 CU21
    result = plan_ad_preparation(table, [unknown], [installed("ex19", "2019", "CU15")], [])
    assert result["steps"] == ["PrepareSchema", "PrepareAD", "PrepareAllDomains"]
    assert result["reasons"][0].startswith("no AD levels known for Exchange Server 2016 CU20")


def test_jul21su_step_and_note(knowledge: PatchKnowledge, table: AdLevelTable) -> None:
    crossing = target(knowledge, "ex16", "2016", "CU20", "Jul21SU", "15.1.2242.4")
    result = plan_ad_preparation(table, [crossing], [installed("ex19", "2019", "CU15")], [])
    assert "PrepareSchema" in result["steps"]
    assert any("CVE-2021-34470" in r and "(target of ex16)" in r for r in result["reasons"])


# --- data and collected facts -------------------------------------------------------------------------


def test_levels_must_name_catalog_cus(knowledge: PatchKnowledge) -> None:
    bad = {"levels": [{"product": "2016", "cu": "CU24", "schema": 1, "meso": 1, "org": 1}], "update_steps": []}
    with pytest.raises(AdLevelDataError, match=r"2016 CU24 is not in exchange-builds\.csv"):
        load_ad_levels(bad, knowledge.catalog)
    bad = {"levels": [{"product": "2016", "cu": "CU23", "schema": 1, "meso": 1, "org": 1,
                       "meso_after_update": {"update": "Jul21SU", "meso": 2}}], "update_steps": []}
    with pytest.raises(AdLevelDataError, match="Jul21SU has no build on 2016 CU23"):
        load_ad_levels(bad, knowledge.catalog)
    bad = {"levels": [], "update_steps": [{"update": "May22SU", "step": "PrepareAllDomains",
                                           "cus": {"2016": ["CU21"]}, "note": "x"}]}
    with pytest.raises(AdLevelDataError, match="May22SU has no build on 2016 CU21"):
        load_ad_levels(bad, knowledge.catalog)


@pytest.mark.parametrize(("server", "values"), [
    ({"collected_at": "t", "exchange": {"ad_levels": {"schema": 17003, "organization": 16763, "meso": 13243}}},
     {"schema": 17003, "organization": 16763, "meso": 13243}),
    ({"exchange": {"ad_levels": {"schema": 17003, "organization": True, "meso": "13243"}}},
     {"schema": 17003, "organization": None, "meso": None}),
    ({"exchange": {"ad_levels": {"schema": None}}}, None),
    ({"exchange": {"ad_levels": []}}, None),
    ({"exchange": {}}, None),
    (None, None),
])
def test_collected_levels_from_server_json(server: Any, values: dict[str, Any] | None) -> None:
    found = collected_levels("h", server)
    assert (found.values if found else None) == values
