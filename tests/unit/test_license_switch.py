"""The license-terms switch by target media version (patch-procedure §4), at the edges of the
table: 2016 CU21 (15.1.2308.8) vs CU22 (15.1.2375.7), 2019 CU10 (15.2.922.7) vs CU11
(15.2.986.5); and the Extended Protection default of 2019 CU14 and SE. Builds are the catalog's."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange_remediation.build_number import Build
from exchange_remediation.license_switch import (
    LICENSE_SWITCH,
    SetupSwitches,
    normalise_diagnostic_data,
    normalise_extended_protection_opt_out,
)
from exchange_remediation.patch_knowledge import PatchKnowledge, load_patch_knowledge

REPO = Path(__file__).resolve().parents[2]
OFF = "/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF"
ON = "/IAcceptExchangeServerLicenseTerms_DiagnosticDataON"


@pytest.fixture(scope="module")
def knowledge() -> PatchKnowledge:
    return load_patch_knowledge(str(REPO / "data"))


@pytest.fixture(scope="module")
def switches(knowledge: PatchKnowledge) -> SetupSwitches:
    return knowledge.switches


def cu_build(knowledge: PatchKnowledge, code: str, cu: str) -> Build:
    product = knowledge.catalog.product_named(code)
    assert product is not None
    return next(c.build for c in knowledge.catalog.cus_of(product) if c.name == cu)


@pytest.mark.parametrize(("code", "cu", "build", "expected"), [
    ("2013", "CU23", "15.0.1497.2", LICENSE_SWITCH),
    ("2016", "CU21", "15.1.2308.8", LICENSE_SWITCH),
    ("2016", "CU22", "15.1.2375.7", OFF),
    ("2016", "CU23", "15.1.2507.6", OFF),
    ("2019", "CU10", "15.2.922.7", LICENSE_SWITCH),
    ("2019", "CU11", "15.2.986.5", OFF),
    ("2019", "CU15", "15.2.1748.10", OFF),
    ("SE", "RTM", "15.2.2562.17", OFF),
])
def test_license_switch_by_media_build(knowledge: PatchKnowledge, switches: SetupSwitches, code: str, cu: str,
                                       build: str, expected: str) -> None:
    media = cu_build(knowledge, code, cu)
    assert str(media) == build  # the table's edges are real CU builds of the catalog
    assert switches.license_switch(code, media) == expected


def test_the_threshold_is_the_build_part(switches: SetupSwitches) -> None:
    # A 2016 build just below CU22's build part keeps the old switch, the CU22 part takes the new one.
    assert switches.license_switch("2016", Build(15, 1, 2374, 999)) == LICENSE_SWITCH
    assert switches.license_switch("2016", Build(15, 1, 2375, 0)) == OFF
    assert switches.license_switch("2019", Build(15, 2, 985, 999)) == LICENSE_SWITCH
    assert switches.license_switch("2019", Build(15, 2, 986, 0)) == OFF


@pytest.mark.parametrize(("value", "expected"), [("OFF", OFF), ("ON", ON), ("on", ON), (" off ", OFF)])
def test_diagnostic_data_choice(knowledge: PatchKnowledge, switches: SetupSwitches, value: str,
                                expected: str) -> None:
    assert switches.license_switch("2016", cu_build(knowledge, "2016", "CU23"), value) == expected
    # The old switch has no diagnostic-data form: the choice does not matter there.
    assert switches.license_switch("2016", cu_build(knowledge, "2016", "CU21"), value) == LICENSE_SWITCH


@pytest.mark.parametrize("value", ["", "YES", None, 1, True, "OFFF"])
def test_bad_diagnostic_data_names_the_option(value: object) -> None:
    with pytest.raises(ValueError, match="diagnostic_data"):
        normalise_diagnostic_data(value)


def test_unknown_product_is_an_error(switches: SetupSwitches) -> None:
    with pytest.raises(ValueError, match="2010"):
        switches.license_switch("2010", Build(14, 3, 513, 0))


@pytest.mark.parametrize(("code", "cu", "default"), [
    ("2016", "CU23", False), ("2019", "CU13", False), ("2019", "CU14", True), ("2019", "CU15", True),
    ("SE", "RTM", True),
])
def test_extended_protection_default(knowledge: PatchKnowledge, switches: SetupSwitches, code: str, cu: str,
                                     default: bool) -> None:
    assert switches.extended_protection_default(code, cu_build(knowledge, code, cu)) is default


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), ("DoNotEnableEP", "DoNotEnableEP"), ("/DoNotEnableEP_FEEWS", "DoNotEnableEP_FEEWS"),
])
def test_extended_protection_opt_out(value: str | None, expected: str | None) -> None:
    assert normalise_extended_protection_opt_out(value) == expected


@pytest.mark.parametrize("value", ["DoNotEnableEP ; calc", "/Mode:Uninstall", 5])
def test_bad_extended_protection_opt_out(value: object) -> None:
    with pytest.raises(ValueError, match="extended_protection_opt_out"):
        normalise_extended_protection_opt_out(value)
