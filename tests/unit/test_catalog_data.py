"""The catalog data's own invariants: schemas, CSV rules, cross-file references, known builds.

Facts pinned here come from the shared reference (exchange-builds.md, cves.md); a failure means
the data (or a schema) drifted from it.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import itertools
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from exchange_remediation.build_catalog import CSV_COLUMNS
from exchange_remediation.build_identity import identify_build
from exchange_remediation.build_number import Build, parse_file_version
from exchange_remediation.knowledge_base import load_knowledge
from exchange_remediation.update_name import UPDATE_NAME, update_month

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
SCHEMAS = DATA / "schemas"

PRODUCT_NAMES = {
    "2010": "Exchange Server 2010",
    "2013": "Exchange Server 2013",
    "2016": "Exchange Server 2016",
    "2019": "Exchange Server 2019",
    "SE": "Exchange Server SE",
}
# CSS-Exchange records the February 2019 fixes as shipped in these CUs: update_build == cu_build.
FEB19_IN_CU = {
    ("Exchange Server 2013", "CU22"),
    ("Exchange Server 2016", "CU12"),
    ("Exchange Server 2019", "CU1"),
}
YAML_FILES = {
    "products.yml": "products.schema.json",
    "cves.yml": "cves.schema.json",
    "march21-out-of-support.yml": "march21-out-of-support.schema.json",
}


def _load_yaml(name: str) -> Any:
    return yaml.safe_load((DATA / name).read_text(encoding="utf-8"))


def _validator(schema_name: str) -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / schema_name).read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _build(text: str) -> Build:
    parsed = parse_file_version(text)
    assert parsed.build is not None, text
    return parsed.build


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with (DATA / "exchange-builds.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def cu_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if not r["update"]]


@pytest.fixture(scope="module")
def update_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["update"]]


@pytest.fixture(scope="module")
def columns() -> dict[str, Any]:
    return json.loads((SCHEMAS / "exchange-builds.columns.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def products() -> dict[str, Any]:
    return _load_yaml("products.yml")


@pytest.fixture(scope="module")
def cves() -> dict[str, Any]:
    return _load_yaml("cves.yml")


@pytest.fixture(scope="module")
def march21() -> dict[str, Any]:
    return _load_yaml("march21-out-of-support.yml")


@pytest.fixture(scope="module")
def knowledge():
    return load_knowledge(str(DATA))


def _cus_by_product(cu_rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    by_product: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in cu_rows:
        by_product[row["product"]].append(row)
    for product_rows in by_product.values():
        product_rows.sort(key=lambda r: _build(r["cu_build"]))
    return by_product


# --- schemas --------------------------------------------------------------------------------


@pytest.mark.parametrize(("data_file", "schema_file"), sorted(YAML_FILES.items()))
def test_yaml_file_validates_against_its_schema(data_file: str, schema_file: str) -> None:
    validator = _validator(schema_file)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_load_yaml(data_file))]
    assert errors == []


@pytest.mark.parametrize("schema_file", sorted(YAML_FILES.values()))
def test_schema_is_draft_07(schema_file: str) -> None:
    schema = json.loads((SCHEMAS / schema_file).read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False


def _mutations() -> list[tuple[str, str, Any]]:
    """(file, description, mutator) that a strict schema must reject."""

    def products_padded_build(d: dict[str, Any]) -> None:
        d["products"][0]["known_builds"][0]["build"] = "14.3.123"

    def products_bad_date(d: dict[str, Any]) -> None:
        d["products"][1]["extended_support_end"] = "2023-02-30"

    def products_extra_key(d: dict[str, Any]) -> None:
        d["products"][2]["support"] = "extended"

    def products_bad_code(d: dict[str, Any]) -> None:
        d["products"][2]["code"] = "2017"

    def products_bad_kb(d: dict[str, Any]) -> None:
        d["products"][0]["known_builds"][1]["kb"] = "5000978"

    def products_2010_without_builds(d: dict[str, Any]) -> None:
        del d["products"][0]["known_builds"]

    def cves_bad_update(d: dict[str, Any]) -> None:
        d["fixes"][0]["update"] = "March21SU"

    def cves_bad_cve(d: dict[str, Any]) -> None:
        d["fixes"][0]["cves"][0] = "CVE-21-26855"

    def cves_bad_product(d: dict[str, Any]) -> None:
        d["fixes"][0]["products"] = ["2016", "2017"]

    def cves_empty_products(d: dict[str, Any]) -> None:
        d["fixes"][0]["products"] = []

    def cves_extra_key(d: dict[str, Any]) -> None:
        d["fixes"][0]["kb"] = "KB5000871"

    def cves_rewrite_without_rules(d: dict[str, Any]) -> None:
        del d["mitigations"][0]["rewrite_rules"]

    def march_bad_kb(d: dict[str, Any]) -> None:
        d["update_kbs"]["Sep20SU"] = "KB45"

    def march_bad_cu(d: dict[str, Any]) -> None:
        d["required_updates"]["2016"]["SP1"] = ["Mar18SU"]

    def march_bad_update(d: dict[str, Any]) -> None:
        d["required_updates"]["2016"]["CU17"] = ["Sept20SU"]

    def march_missing_section(d: dict[str, Any]) -> None:
        del d["not_covered"]

    return [
        ("products.yml", "three-part build", products_padded_build),
        ("products.yml", "impossible date", products_bad_date),
        ("products.yml", "unknown key", products_extra_key),
        ("products.yml", "unknown product code", products_bad_code),
        ("products.yml", "KB without prefix", products_bad_kb),
        ("products.yml", "product outside the catalog without known builds", products_2010_without_builds),
        ("cves.yml", "malformed update name", cves_bad_update),
        ("cves.yml", "malformed CVE id", cves_bad_cve),
        ("cves.yml", "unknown product code", cves_bad_product),
        ("cves.yml", "empty product list", cves_empty_products),
        ("cves.yml", "unknown key", cves_extra_key),
        ("cves.yml", "rewrite mitigation without rules", cves_rewrite_without_rules),
        ("march21-out-of-support.yml", "short KB", march_bad_kb),
        ("march21-out-of-support.yml", "CU named SP1", march_bad_cu),
        ("march21-out-of-support.yml", "malformed update name", march_bad_update),
        ("march21-out-of-support.yml", "missing section", march_missing_section),
    ]


@pytest.mark.parametrize(("data_file", "what", "mutate"), _mutations(), ids=[m[1] + " " + m[0] for m in _mutations()])
def test_schema_rejects_broken_data(data_file: str, what: str, mutate: Any) -> None:
    data = copy.deepcopy(_load_yaml(data_file))
    mutate(data)
    assert not _validator(YAML_FILES[data_file]).is_valid(data), what


# --- exchange-builds.csv: columns and cells ------------------------------------------------


def test_column_file_lists_the_csv_header(columns: dict[str, Any]) -> None:
    header = (DATA / "exchange-builds.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    names = [c["name"] for c in columns["columns"]]
    assert names == header
    assert tuple(names) == CSV_COLUMNS


def test_column_patterns_agree_with_may_be_empty(columns: dict[str, Any]) -> None:
    for column in columns["columns"]:
        assert bool(re.fullmatch(column["pattern"], "")) is column["may_be_empty"], column["name"]
    required = {c["name"] for c in columns["columns"] if not c["may_be_empty"]}
    assert required == {"product", "cu", "cu_build", "cu_release_date"}


def test_every_cell_matches_its_column_pattern(rows: list[dict[str, str]], columns: dict[str, Any]) -> None:
    bad = []
    for number, row in enumerate(rows, start=2):
        assert None not in row, f"line {number} has extra cells"
        for column in columns["columns"]:
            value = row[column["name"]]
            if value is None or not re.fullmatch(column["pattern"], value):
                bad.append(f"line {number} {column['name']}={value!r}")
    assert bad == []
    assert len(rows) > 250


def test_column_patterns_reject_malformed_cells(columns: dict[str, Any]) -> None:
    patterns = {c["name"]: c["pattern"] for c in columns["columns"]}
    rejected = {
        "product": ["Exchange 2016", "Exchange Server 2010", ""],
        "cu": ["SP1", "CU", "cu19", ""],
        "cu_build": ["15.01.2176.2", "15.1.2176", "15.1.2176.2 ", ""],
        "cu_release_date": ["2020-13-01", "12/15/2020", ""],
        "cu_kb": ["KB12345", "4588884"],
        "update": ["Mar21", "March21SU", "Mar21SUv", "Mar2021SU"],
        "update_build": ["15.1.2176.09", "15.1.2176.9.1"],
        "update_kb": ["KB", "KB12345678"],
    }
    for name, values in rejected.items():
        for value in values:
            assert not re.fullmatch(patterns[name], value), f"{name} accepted {value!r}"


def test_builds_are_normalised(rows: list[dict[str, str]]) -> None:
    for row in rows:
        for key in ("cu_build", "update_build"):
            if row[key]:
                assert str(_build(row[key])) == row[key], row


def test_dates_are_real_dates(cu_rows: list[dict[str, str]]) -> None:
    for row in cu_rows:
        released = dt.date.fromisoformat(row["cu_release_date"])
        assert dt.date(2012, 1, 1) <= released <= dt.date(2026, 12, 31), row


def test_update_columns_are_all_set_or_all_empty(rows: list[dict[str, str]]) -> None:
    for row in rows:
        if not row["update"]:
            assert row["update_build"] == "" and row["update_kb"] == "", row
        else:
            assert row["update_build"], row


def test_update_names_are_well_formed(update_rows: list[dict[str, str]]) -> None:
    for row in update_rows:
        assert UPDATE_NAME.match(row["update"]), row
        assert update_month(row["update"]) is not None


def test_only_catalog_products_in_csv(rows: list[dict[str, str]], products: dict[str, Any]) -> None:
    in_catalog = {p["name"] for p in products["products"] if p["in_catalog"]}
    assert {r["product"] for r in rows} == in_catalog
    assert "Exchange Server 2010" not in in_catalog


# --- exchange-builds.csv: CU rows -----------------------------------------------------------


def test_one_cu_row_per_product_and_cu(cu_rows: list[dict[str, str]]) -> None:
    counts = Counter((r["product"], r["cu"]) for r in cu_rows)
    assert [key for key, n in counts.items() if n != 1] == []


def test_update_rows_repeat_their_cu_row(cu_rows: list[dict[str, str]], update_rows: list[dict[str, str]]) -> None:
    cu_fields = ("cu_build", "cu_release_date", "cu_kb")
    by_key = {(r["product"], r["cu"]): tuple(r[f] for f in cu_fields) for r in cu_rows}
    for row in update_rows:
        key = (row["product"], row["cu"])
        assert key in by_key, f"update row without CU row: {row}"
        assert tuple(row[f] for f in cu_fields) == by_key[key], row


def test_cu_builds_strictly_increase_with_release_date(cu_rows: list[dict[str, str]]) -> None:
    for product, product_rows in _cus_by_product(cu_rows).items():
        by_date = sorted(product_rows, key=lambda r: r["cu_release_date"])
        dates = [r["cu_release_date"] for r in by_date]
        builds = [_build(r["cu_build"]) for r in by_date]
        assert len(set(dates)) == len(dates), product
        assert all(a < b for a, b in itertools.pairwise(builds)), product


def test_cu_names_follow_rtm_then_numbered(cu_rows: list[dict[str, str]]) -> None:
    for product, product_rows in _cus_by_product(cu_rows).items():
        names = [r["cu"] for r in product_rows]
        assert names[0] == "RTM", product
        numbers = [int(n[2:]) for n in names[1:]]
        assert numbers == list(range(1, len(numbers) + 1)), product


# --- exchange-builds.csv: update rows -------------------------------------------------------


def test_update_builds_lie_within_their_cu(cu_rows: list[dict[str, str]], update_rows: list[dict[str, str]]) -> None:
    by_product = _cus_by_product(cu_rows)
    next_cu: dict[tuple[str, str], Build | None] = {}
    for product, product_rows in by_product.items():
        for index, row in enumerate(product_rows):
            following = product_rows[index + 1] if index + 1 < len(product_rows) else None
            next_cu[(product, row["cu"])] = _build(following["cu_build"]) if following else None
    equal = set()
    for row in update_rows:
        key = (row["product"], row["cu"])
        build, cu_build = _build(row["update_build"]), _build(row["cu_build"])
        assert build >= cu_build, row
        if build == cu_build:
            equal.add((*key, row["update"]))
        upper = next_cu[key]
        assert upper is None or build < upper, row
    assert equal == {(*key, "Feb19SU") for key in FEB19_IN_CU}


def test_product_cu_update_is_unique(update_rows: list[dict[str, str]]) -> None:
    counts = Counter((r["product"], r["cu"], r["update"]) for r in update_rows)
    assert [key for key, n in counts.items() if n != 1] == []


def test_no_two_rows_of_a_product_share_a_build(cu_rows: list[dict[str, str]],
                                                update_rows: list[dict[str, str]]) -> None:
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in cu_rows:
        seen[(row["product"], row["cu_build"])].append(f"{row['cu']}")
    for row in update_rows:
        seen[(row["product"], row["update_build"])].append(f"{row['cu']} {row['update']}")
    shared = {key: names for key, names in seen.items() if len(names) > 1}
    expected = {
        ("Exchange Server 2013", "15.0.1473.3"): ["CU22", "CU22 Feb19SU"],
        ("Exchange Server 2016", "15.1.1713.5"): ["CU12", "CU12 Feb19SU"],
        ("Exchange Server 2019", "15.2.330.5"): ["CU1", "CU1 Feb19SU"],
    }
    assert shared == expected


def _release_key(name: str) -> tuple[int, int, int]:
    month = update_month(name)
    assert month is not None
    match = UPDATE_NAME.match(name)
    assert match is not None
    version = int(match.group(4)[1:]) if match.group(4) else 1
    return (month.year, month.month, version)


def test_update_builds_increase_with_release_within_a_cu(update_rows: list[dict[str, str]]) -> None:
    by_cu: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in update_rows:
        by_cu[(row["product"], row["cu"])].append(row)
    for key, cu_updates in by_cu.items():
        ordered = sorted(cu_updates, key=lambda r: _release_key(r["update"]))
        builds = [_build(r["update_build"]) for r in ordered]
        assert all(a < b for a, b in itertools.pairwise(builds)), key


def test_no_update_predates_its_cu(update_rows: list[dict[str, str]]) -> None:
    for row in update_rows:
        released = dt.date.fromisoformat(row["cu_release_date"])
        assert _release_key(row["update"])[:2] >= (released.year, released.month), row


def test_kbs_of_2018_to_feb_2021_sus_are_empty_and_later_ones_present(update_rows: list[dict[str, str]]) -> None:
    for row in update_rows:
        if _release_key(row["update"])[:2] < (2021, 3):
            assert row["update_kb"] == "", row
        else:
            assert row["update_kb"], row


def test_uncertain_rows_hold_the_documented_decision(rows: list[dict[str, str]]) -> None:
    def find(product: str, cu: str, update: str = "") -> dict[str, str]:
        matches = [r for r in rows if (r["product"], r["cu"], r["update"]) == (product, cu, update)]
        assert len(matches) == 1, (product, cu, update)
        return matches[0]

    e13, e16, e19 = "Exchange Server 2013", "Exchange Server 2016", "Exchange Server 2019"
    # Microsoft's builds, not CSS-Exchange's .8 / .13.
    assert find(e16, "CU8", "Mar21SU")["update_build"] == "15.1.1415.10"
    assert find(e16, "CU9", "Mar21SU")["update_build"] == "15.1.1466.16"
    # Per-product July 2021 and March 2022 KBs.
    for cu in ("CU20", "CU21"):
        assert find(e16, cu, "Jul21SU")["update_kb"] == "KB5004779"
    for cu in ("CU9", "CU10"):
        assert find(e19, cu, "Jul21SU")["update_kb"] == "KB5004780"
    assert find(e13, "CU23", "Jul21SU")["update_kb"] == "KB5004778"
    for product, cu in ((e16, "CU21"), (e16, "CU22"), (e19, "CU10"), (e19, "CU11")):
        assert find(product, cu, "Mar22SU")["update_kb"] == "KB5012698"
    assert find(e13, "CU23", "Mar22SU")["update_kb"] == "KB5010324"
    # 2013 CU14 KB left empty; Microsoft's CU dates.
    assert find(e13, "CU14")["cu_kb"] == ""
    assert find(e13, "CU17")["cu_release_date"] == "2017-06-27"
    assert find(e13, "CU18")["cu_release_date"] == "2017-09-19"
    assert find(e16, "CU6")["cu_release_date"] == "2017-06-27"
    assert find(e16, "CU7")["cu_release_date"] == "2017-09-19"
    # Rows only in Microsoft's CSV are kept.
    assert find(e13, "CU4", "Mar21SU")["update_build"] == "15.0.847.64"
    assert find("Exchange Server 2019", "RTM", "Mar21SU")["update_build"] == "15.2.221.18"


def test_headline_fixed_builds(rows: list[dict[str, str]]) -> None:
    """The 'Quick reference' table of exchange-builds.md."""
    builds = {(r["product"][-4:], r["cu"], r["update"]): r["update_build"] for r in rows if r["update"]}
    expected = {
        ("2013", "CU23", "Mar21SU"): "15.0.1497.12",
        ("2016", "CU18", "Mar21SU"): "15.1.2106.13",
        ("2016", "CU19", "Mar21SU"): "15.1.2176.9",
        ("2019", "CU7", "Mar21SU"): "15.2.721.13",
        ("2019", "CU8", "Mar21SU"): "15.2.792.10",
        ("2013", "CU23", "Apr21SU"): "15.0.1497.15",
        ("2013", "CU23", "May21SU"): "15.0.1497.18",
        ("2016", "CU19", "Apr21SU"): "15.1.2176.12",
        ("2016", "CU19", "May21SU"): "15.1.2176.14",
        ("2016", "CU20", "Apr21SU"): "15.1.2242.8",
        ("2016", "CU20", "May21SU"): "15.1.2242.10",
        ("2019", "CU8", "Apr21SU"): "15.2.792.13",
        ("2019", "CU8", "May21SU"): "15.2.792.15",
        ("2019", "CU9", "Apr21SU"): "15.2.858.10",
        ("2019", "CU9", "May21SU"): "15.2.858.12",
        ("2013", "CU23", "Nov22SU"): "15.0.1497.44",
        ("2016", "CU22", "Nov22SU"): "15.1.2375.37",
        ("2016", "CU23", "Nov22SU"): "15.1.2507.16",
        ("2019", "CU11", "Nov22SU"): "15.2.986.36",
        ("2019", "CU12", "Nov22SU"): "15.2.1118.20",
    }
    assert {key: builds.get(key) for key in expected} == expected


# --- cves.yml -------------------------------------------------------------------------------


def test_every_fix_update_exists_for_a_listed_product(cves: dict[str, Any], update_rows: list[dict[str, str]]) -> None:
    present = {(r["product"], r["update"]) for r in update_rows}
    missing = [
        (fix["update"], fix["products"]) for fix in cves["fixes"]
        if not any((PRODUCT_NAMES[code], fix["update"]) in present for code in fix["products"])
    ]
    assert missing == []


def _updates_listing(cves: dict[str, Any], cve: str) -> list[str]:
    return [fix["update"] for fix in cves["fixes"] if cve in fix["cves"]]


def test_proxyshell_pair_is_under_apr21su(cves: dict[str, Any]) -> None:
    for cve in ("CVE-2021-34473", "CVE-2021-34523"):
        assert _updates_listing(cves, cve) == ["Apr21SU"]
    assert _updates_listing(cves, "CVE-2021-31207") == ["May21SU"]


def test_cve_2023_21707_is_listed_under_feb23su_and_mar23su(cves: dict[str, Any]) -> None:
    assert _updates_listing(cves, "CVE-2023-21707") == ["Feb23SU", "Mar23SU"]
    mar23 = [fix for fix in cves["fixes"] if fix["update"] == "Mar23SU"]
    assert mar23 == [{"update": "Mar23SU", "products": ["2013", "2016", "2019"], "cves": ["CVE-2023-21707"]}]


def test_headline_cves(cves: dict[str, Any]) -> None:
    for cve in ("CVE-2021-26855", "CVE-2021-26857", "CVE-2021-26858", "CVE-2021-27065"):
        assert _updates_listing(cves, cve) == ["Mar21SU"]
    for cve in ("CVE-2022-41040", "CVE-2022-41082", "CVE-2022-41080"):
        assert _updates_listing(cves, cve) == ["Nov22SU"]
    products_of = {(f["update"], c): f["products"] for f in cves["fixes"] for c in f["cves"]}
    assert products_of[("Mar21SU", "CVE-2021-26855")] == ["2013", "2016", "2019"]
    assert products_of[("Oct25SU", "CVE-2025-59249")] == ["2016", "2019", "SE"]


def test_se_only_from_oct25su(cves: dict[str, Any]) -> None:
    se_updates = {fix["update"] for fix in cves["fixes"] if "SE" in fix["products"]}
    assert se_updates == {"Oct25SU", "Dec25SU", "Feb26SU"}


def test_a_cve_appears_once_per_update(cves: dict[str, Any]) -> None:
    pairs = Counter((fix["update"], cve) for fix in cves["fixes"] for cve in fix["cves"])
    assert [pair for pair, n in pairs.items() if n > 1] == []


def test_every_mitigation_names_existing_cves(cves: dict[str, Any]) -> None:
    known = {cve for fix in cves["fixes"] for cve in fix["cves"]}
    for mitigation in cves["mitigations"]:
        assert set(mitigation["cves"]) <= known, mitigation["id"]
    covered = {cve for m in cves["mitigations"] for cve in m["cves"]}
    # cves.md "Mitigations that justify mitigated"; CVE-2022-41080/41082 have none.
    assert covered == {"CVE-2021-26855", "CVE-2021-26857", "CVE-2021-26858", "CVE-2021-27065", "CVE-2022-41040"}


def test_mitigation_rules_match_mitigations_md(cves: dict[str, Any]) -> None:
    by_id = {m["id"]: m for m in cves["mitigations"]}
    eomt = [(r["name"], r["input"], r["pattern"]) for r in by_id["eomt_backend_cookie"]["rewrite_rules"]]
    assert eomt == [
        ("X-AnonResource-Backend Abort - inbound", "{HTTP_COOKIE}", "(.*)X-AnonResource-Backend(.*)"),
        ("X-BEResource Abort - inbound", "{HTTP_COOKIE}", "(.*)X-BEResource=(.+)/(.+)~(.+)"),
    ]
    v2 = by_id["eomtv2_autodiscover_powershell"]["rewrite_rules"]
    assert [(r["name"], r["input"], r["pattern"]) for r in v2] == [
        ("PowerShell - inbound", "{UrlDecode:{REQUEST_URI}}", "(?=.*autodiscover)(?=.*powershell)")
    ]
    assert by_id["unified_messaging_disabled"]["products"] == ["2013", "2016"]


# --- march21-out-of-support.yml -------------------------------------------------------------


def test_march21_cus_exist_with_a_mar21su_row(march21: dict[str, Any], update_rows: list[dict[str, str]]) -> None:
    mar21 = {(r["product"], r["cu"]) for r in update_rows if r["update"] == "Mar21SU"}
    named = [(PRODUCT_NAMES[code], cu) for code, cus in march21["required_updates"].items() for cu in cus]
    named += [(PRODUCT_NAMES[code], cu) for code, cus in march21["not_covered"].items() for cu in cus]
    assert [key for key in named if key not in mar21] == []
    # Exactly the CUs that were out of support in March 2021 (cves.md): every Mar21SU CU except
    # 2013 CU23, 2016 CU18/CU19 and 2019 CU7/CU8.
    supported_then = {("Exchange Server 2013", "CU23"), ("Exchange Server 2016", "CU18"),
                      ("Exchange Server 2016", "CU19"), ("Exchange Server 2019", "CU7"),
                      ("Exchange Server 2019", "CU8")}
    assert sorted(named) == sorted(mar21 - supported_then)
    assert len(named) == len(set(named))


def test_march21_sus_have_kbs(march21: dict[str, Any]) -> None:
    named = {su for cus in march21["required_updates"].values() for sus in cus.values() for su in sus}
    assert named - set(march21["update_kbs"]) == set()
    assert march21["update_kbs"]["Sep20SU"] == "KB4577352"
    assert march21["update_kbs"]["Dec20SU"] == "KB4593465"
    assert march21["required_updates"]["2016"]["CU17"] == ["Sep20SU", "Oct20SU", "Nov20SU", "Dec20SU"]


def test_march21_required_sus_are_older_than_march_2021(march21: dict[str, Any], cves: dict[str, Any]) -> None:
    fixed = {fix["update"] for fix in cves["fixes"]}
    for name in march21["update_kbs"]:
        assert _release_key(name)[:2] < (2021, 3), name
        assert name in fixed, name


# --- products.yml ---------------------------------------------------------------------------


def test_products_codes_and_names(products: dict[str, Any]) -> None:
    assert {p["code"]: p["name"] for p in products["products"]} == PRODUCT_NAMES


def test_support_end_dates(products: dict[str, Any]) -> None:
    ends = {p["code"]: p["extended_support_end"] for p in products["products"]}
    assert ends == {"2010": "2020-10-13", "2013": "2023-04-11", "2016": "2025-10-14", "2019": "2025-10-14",
                    "SE": None}


def test_exchange_2010_builds(products: dict[str, Any]) -> None:
    e2010 = next(p for p in products["products"] if p["code"] == "2010")
    assert [(k["name"], k["build"]) for k in e2010["known_builds"]] == [("SP3", "14.3.123.4"),
                                                                        ("SP3 RU32", "14.3.513.0")]
    assert e2010["fixed_builds"] == {"CVE-2021-26857": "14.3.513.0"}


def test_last_cus(knowledge) -> None:
    catalog = knowledge.catalog
    last = {p.code: catalog.newest_cu(p).name for p in catalog.products if p.in_catalog}
    assert last == {"2013": "CU23", "2016": "CU23", "2019": "CU15", "SE": "RTM"}
    supported = {p.code: [cu.name for cu in catalog.supported_cus(p)] for p in catalog.products if p.in_catalog}
    # HealthChecker (exchange-builds.md): 2013 CU23, 2016 CU23, 2019 CU14 and CU15, SE RTM. The
    # previous CU counts only while it still gets the product's newest update: 2013 CU22 and 2016
    # CU22 stopped getting SUs (Mar21SU and Nov22SU) while CU23 went on.
    assert supported == {"2013": ["CU23"], "2016": ["CU23"], "2019": ["CU14", "CU15"], "SE": ["RTM"]}


@pytest.mark.parametrize(("build", "code"), [
    ("14.3.123.4", "2010"), ("14.0.639.21", "2010"), ("15.0.1497.2", "2013"), ("15.1.2507.6", "2016"),
    ("15.2.1748.10", "2019"), ("15.2.2561.65535", "2019"), ("15.2.2562.0", "SE"), ("15.2.2562.17", "SE"),
    ("15.3.1.1", None), ("16.0.1.1", None), ("13.0.1.1", None),
])
def test_product_detection(knowledge, build: str, code: str | None) -> None:
    product = knowledge.catalog.product_for(_build(build))
    assert (product.code if product else None) == code


# --- known builds ---------------------------------------------------------------------------

E13, E16, E19, ESE, E10 = (PRODUCT_NAMES[c] for c in ("2013", "2016", "2019", "SE", "2010"))
NOT_IN_CATALOG = "build not in catalog"

# (build, product, CU, SU, note)
KNOWN_BUILDS = [
    ("15.1.2176.9", E16, "CU19", "Mar21SU", None),
    ("15.1.2176.2", E16, "CU19", None, None),
    ("15.1.2176.4", E16, "CU19", "Feb21SU", None),
    ("15.1.2176.14", E16, "CU19", "May21SU", None),
    ("15.1.2176.3", E16, "CU19", None, NOT_IN_CATALOG),
    ("15.1.2242.4", E16, "CU20", None, None),
    ("15.1.2106.13", E16, "CU18", "Mar21SU", None),
    ("15.1.2044.13", E16, "CU17", "Mar21SU", None),
    ("15.1.1713.5", E16, "CU12", None, None),  # Feb19SU shipped in the CU
    ("15.1.1591.13", E16, "CU11", "Jan19SU", None),
    ("15.1.1415.8", E16, "CU8", None, NOT_IN_CATALOG),  # CSS-Exchange's disputed Mar21SU build
    ("15.1.1415.10", E16, "CU8", "Mar21SU", None),
    ("15.1.1466.13", E16, "CU9", None, NOT_IN_CATALOG),
    ("15.1.1466.16", E16, "CU9", "Mar21SU", None),
    ("15.1.2375.37", E16, "CU22", "Nov22SU", None),
    ("15.1.2507.16", E16, "CU23", "Nov22SU", None),
    ("15.1.2507.32", E16, "CU23", "Aug23SUv2", None),
    ("15.1.2507.44", E16, "CU23", "Nov24SUv2", None),
    ("15.1.2507.72", E16, "CU23", "Aug26SU", None),
    ("15.1.225.42", E16, "RTM", None, None),
    ("15.0.1497.48", E13, "CU23", "Mar23SU", None),
    ("15.0.1497.47", E13, "CU23", "Feb23SU", None),
    ("15.0.1497.12", E13, "CU23", "Mar21SU", None),
    ("15.0.1497.2", E13, "CU23", None, None),
    ("15.0.1473.3", E13, "CU22", None, None),  # Feb19SU shipped in the CU
    ("15.0.1473.6", E13, "CU22", "Mar21SU", None),
    ("15.0.847.64", E13, "CU4", "Mar21SU", None),
    ("15.2.330.5", E19, "CU1", None, None),  # Feb19SU shipped in the CU
    ("15.2.221.18", E19, "RTM", "Mar21SU", None),
    ("15.2.721.13", E19, "CU7", "Mar21SU", None),
    ("15.2.792.10", E19, "CU8", "Mar21SU", None),
    ("15.2.986.5", E19, "CU11", None, None),
    ("15.2.986.36", E19, "CU11", "Nov22SU", None),
    ("15.2.1118.20", E19, "CU12", "Nov22SU", None),
    ("15.2.1258.12", E19, "CU13", None, None),
    ("15.2.1544.4", E19, "CU14", None, None),
    ("15.2.1748.24", E19, "CU15", "Apr25HU", None),
    ("15.2.1748.49", E19, "CU15", "Aug26SU", None),
    ("15.2.1748.50", E19, "CU15", None, NOT_IN_CATALOG),
    ("15.2.2562.17", ESE, "RTM", None, None),
    ("15.2.2562.29", ESE, "RTM", "Oct25SU", None),
    ("15.2.2562.46", ESE, "RTM", "Aug26SU", None),
    ("14.3.513.0", E10, None, None, "SP3 RU32"),
    ("14.3.123.4", E10, None, None, "SP3"),
    ("14.3.200.1", E10, None, None, "SP3"),
    ("15.1.100.1", E16, None, None, "build is below every CU in the catalog"),
    ("15.2.2562.5", ESE, None, None, "build is below every CU in the catalog"),
]


def test_known_build_table_is_large_enough() -> None:
    assert len(KNOWN_BUILDS) >= 25
    assert len({row[0] for row in KNOWN_BUILDS}) == len(KNOWN_BUILDS)


@pytest.mark.parametrize(("build", "product", "cu", "su", "note"), KNOWN_BUILDS, ids=[r[0] for r in KNOWN_BUILDS])
def test_known_build_identity(knowledge, build: str, product: str, cu: str | None, su: str | None,
                              note: str | None) -> None:
    identity = identify_build(knowledge.catalog, _build(build))
    assert identity.product is not None
    assert identity.product.name == product
    assert (identity.cu.name if identity.cu else None) == cu
    assert identity.su_name == su
    assert identity.note == note


def test_known_builds_agree_with_csv(rows: list[dict[str, str]]) -> None:
    """Every catalog row used above is a real CSV row (no invented builds)."""
    csv_builds = {(r["product"], r["cu"], r["update"] or None): r["update_build"] or r["cu_build"] for r in rows}
    for build, product, cu, su, note in KNOWN_BUILDS:
        if note is None and cu is not None:
            assert csv_builds.get((product, cu, su)) == build, build


def test_unknown_product_build(knowledge) -> None:
    identity = identify_build(knowledge.catalog, _build("16.0.1.1"))
    assert identity.product is None and identity.cu is None and identity.su is None
    assert "16.0.1.1" in (identity.note or "")


def test_every_csv_update_build_identifies_as_itself(knowledge, update_rows: list[dict[str, str]]) -> None:
    for row in update_rows:
        identity = identify_build(knowledge.catalog, _build(row["update_build"]))
        assert identity.product is not None and identity.product.name == row["product"], row
        assert identity.cu is not None and identity.cu.name == row["cu"], row
        expected = None if row["update_build"] == row["cu_build"] else row["update"]
        assert identity.su_name == expected, row


def test_su_level_unknown_never_names_an_su(knowledge) -> None:
    identity = identify_build(knowledge.catalog, _build("15.1.2176.9"), su_level_known=False)
    assert identity.cu is not None and identity.cu.name == "CU19"
    assert identity.su is None and identity.su_level_known is False
