"""Exposure windows: when a server was open to a campaign, from the real catalog and dated packages."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from exchange_remediation.build_identity import identify_build
from exchange_remediation.build_number import parse_file_version
from exchange_remediation.exposure_window import (
    ExposureDataError,
    FixDate,
    exposure_window,
    load_families,
    parse_families,
)
from exchange_remediation.fix_dates import dated_packages, fix_date_finder, parse_day
from exchange_remediation.knowledge_base import load_knowledge

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
FAMILIES = {family.name: family for family in load_families(str(DATA))}
CATALOG = load_knowledge(str(DATA)).catalog


def test_data_file_matches_its_schema_and_names_sources():
    data = yaml.safe_load((DATA / "indicators" / "exploitation-windows.yml").read_text(encoding="utf-8"))
    schema = json.loads((DATA / "schemas" / "exploitation-windows.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    assert set(FAMILIES) == {"ProxyLogon", "ProxyShell", "ProxyNotShell"}
    assert FAMILIES["ProxyLogon"].began == dt.date(2021, 1, 6)
    assert FAMILIES["ProxyLogon"].mass_exploitation == (dt.date(2021, 2, 26), dt.date(2021, 3, 3))
    assert "OWASSRF" in FAMILIES["ProxyNotShell"].attacks
    for family in data["families"]:
        assert family["sources"], family["name"]


def test_every_family_cve_is_in_the_cve_table():
    table = load_knowledge(str(DATA)).table
    for family in FAMILIES.values():
        assert set(family.cves) <= set(table.cve_ids()), family.name


@pytest.mark.parametrize("broken", [None, {"families": "x"}, {"families": [{"name": "A"}]},
                                    {"families": [{"name": "A", "cves": ["CVE-2021-1"],
                                                   "exploitation_began": "soon"}]}])
def test_malformed_family_data_is_a_clear_error(broken):
    with pytest.raises(ExposureDataError):
        parse_families(broken)


def _finder(build: str, packages: list[dict[str, str]]):
    identity = identify_build(CATALOG, parse_file_version(build).build)
    return fix_date_finder(identity, {"installed_updates": packages})


def test_fix_from_a_dated_package_on_the_installed_cu_is_exact():
    # 2019 CU14 with Nov24SUv2 (KB5049233) installed 2024-12-20: Feb24 fixes are in the CU itself,
    # bounded by the first package on that CU (KB5044062, 2024-11-28).
    package = "Security Update for Exchange Server 2019 Cumulative Update 14"
    find = _finder("15.2.1544.14", [{"package": f"{package} (KB5044062)", "installed": "2024-11-28"},
                                    {"package": f"{package} (KB5049233)", "installed": "2024-12-20"}])
    assert find("Mar21SU") == FixDate(dt.date(2024, 11, 28), "came with CU14, installed before its update KB5044062 "
                                                           "(2024-11-28)")
    nov24 = find("Nov24SU")
    assert nov24.day == dt.date(2024, 11, 28)
    assert "KB5044062" in nov24.basis


def test_fix_without_dated_packages_leaves_the_window_open():
    find = _finder("15.1.2176.2", [])
    assert find("Mar21SU").day is None


def test_registry_install_dates_in_yyyymmdd_form_are_read():
    assert parse_day("20210305") == dt.date(2021, 3, 5)
    assert parse_day("2021-03-05T10:00:00Z") == dt.date(2021, 3, 5)
    assert parse_day("March") is None
    assert dated_packages({"installed_updates": [{"package": "x (KB5000871)", "installed": "20210305"},
                                                 {"package": "no kb", "installed": "20210305"},
                                                 {"package": "y (KB5001779)", "installed": "garbage"}]}) == \
        [("KB5000871", dt.date(2021, 3, 5))]


def test_exchange_2010_fix_date_is_the_rollup_package():
    identity = identify_build(CATALOG, parse_file_version("14.03.0513.000").build)
    rollup = "Update Rollup 32 for Exchange Server 2010 Service Pack 3 (KB5000978)"
    find = fix_date_finder(identity, {"installed_updates": [{"package": rollup, "installed": "2021-03-11"}]})
    assert find("build 14.3.513.0").day == dt.date(2021, 3, 11)


PROXYLOGON_CVES = FAMILIES["ProxyLogon"].cves


def _statuses(status: str, fixed_by: str = "Mar21SU") -> dict[str, tuple[str, str | None]]:
    return {cve: (status, fixed_by) for cve in PROXYLOGON_CVES}


def test_vulnerable_server_is_open_until_collection():
    window = exposure_window(FAMILIES["ProxyLogon"], _statuses("vulnerable"), lambda _: FixDate(None, "?"),
                             dt.date(2019, 5, 14), dt.date(2021, 3, 9))
    assert (window.start, window.end, window.exposed) == (dt.date(2021, 1, 6), dt.date(2021, 3, 9), True)
    assert window.basis.startswith("open when collected")


def test_mitigated_counts_as_open():
    window = exposure_window(FAMILIES["ProxyLogon"], _statuses("mitigated"), lambda _: FixDate(None, "?"),
                             None, dt.date(2026, 11, 25))
    assert window.end == dt.date(2026, 11, 25)
    assert "mitigated" in window.basis


def test_patched_window_ends_at_the_fix_and_starts_at_installation():
    window = exposure_window(FAMILIES["ProxyLogon"], _statuses("patched"),
                             lambda _: FixDate(dt.date(2021, 3, 5), "KB5000871 installed 2021-03-05"),
                             dt.date(2021, 2, 1), dt.date(2026, 11, 25))
    assert (window.start, window.end, window.exposed) == (dt.date(2021, 2, 1), dt.date(2021, 3, 5), True)
    report = window.to_report(None)
    assert report["end_basis"] == "KB5000871 installed 2021-03-05"
    assert report["attack"] == "ProxyLogon"


def test_server_installed_after_the_fix_was_never_exposed():
    window = exposure_window(FAMILIES["ProxyLogon"], _statuses("patched"),
                             lambda _: FixDate(dt.date(2024, 11, 28), "came with CU14"),
                             dt.date(2025, 9, 2), dt.date(2026, 11, 25))
    assert not window.exposed
    assert window.basis.startswith("installed on 2025-09-02")


def test_patched_on_unknown_date_stays_open_until_collection():
    window = exposure_window(FAMILIES["ProxyLogon"], _statuses("patched"), lambda _: FixDate(None, "unknown"),
                             None, dt.date(2026, 11, 25))
    assert window.exposed and window.end == dt.date(2026, 11, 25)


def test_not_applicable_family_has_no_window():
    window = exposure_window(FAMILIES["ProxyLogon"], _statuses("not_applicable", None), lambda _: FixDate(None, ""),
                             None, dt.date(2026, 11, 25))
    assert (window.start, window.end, window.exposed) == (None, None, False)


def test_exchange_2010_only_the_applicable_cve_counts():
    statuses = {cve: ("not_applicable", None) for cve in PROXYLOGON_CVES}
    statuses["CVE-2021-26857"] = ("patched", "build 14.3.513.0")
    window = exposure_window(FAMILIES["ProxyLogon"], statuses, lambda _: FixDate(dt.date(2021, 3, 11), "RU32"),
                             dt.date(2013, 6, 1), dt.date(2026, 11, 25))
    assert (window.start, window.end) == (dt.date(2021, 1, 6), dt.date(2021, 3, 11))


def test_campaign_that_began_after_collection_says_so():
    window = exposure_window(FAMILIES["ProxyShell"], {}, lambda _: FixDate(None, "?"), dt.date(2019, 5, 14),
                             dt.date(2021, 3, 9))
    assert not window.exposed
    assert window.basis == "the campaign began on 2021-08-05, after the evidence was collected"
