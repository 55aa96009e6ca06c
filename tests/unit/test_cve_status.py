"""CVE status by build: the "patched against SU X" rule (exchange-builds.md) and the status rules
of cves.md, checked through the direct form, the fast evaluator, and an independent
implementation written from the reference's pseudo-code over the raw CSV rows."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_remediation.build_catalog import BuildCatalog, CumulativeUpdate, Product
from exchange_remediation.build_identity import identify_build
from exchange_remediation.build_number import Build, parse_file_version
from exchange_remediation.cve_status import (
    NOT_APPLICABLE,
    PATCHED,
    UNKNOWN,
    VULNERABLE,
    CveEvaluator,
    PatchCheck,
    patched_against,
)
from exchange_remediation.cve_table import CveTable
from exchange_remediation.knowledge_base import KnowledgeBase, load_knowledge
from exchange_remediation.update_name import update_month

DATA = Path(__file__).resolve().parents[2] / "data"
PROPERTY = settings(max_examples=200, deadline=None, database=None)

PROXYLOGON = ("CVE-2021-26855", "CVE-2021-26857", "CVE-2021-26858", "CVE-2021-27065")
PROXYSHELL = ("CVE-2021-34473", "CVE-2021-34523", "CVE-2021-31207")
PROXYNOTSHELL = ("CVE-2022-41040", "CVE-2022-41082", "CVE-2022-41080")
MAR21_CVES = (*PROXYLOGON, "CVE-2021-26412", "CVE-2021-27078", "CVE-2021-26854")


def _b(text: str) -> Build:
    parsed = parse_file_version(text)
    assert parsed.build is not None
    return parsed.build


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge(str(DATA))


@pytest.fixture(scope="module")
def catalog(kb: KnowledgeBase) -> BuildCatalog:
    return kb.catalog


@pytest.fixture(scope="module")
def table(kb: KnowledgeBase) -> CveTable:
    return kb.table


@pytest.fixture(scope="module")
def evaluator(kb: KnowledgeBase) -> CveEvaluator:
    return CveEvaluator(kb.catalog, kb.table)


def _locate(catalog: BuildCatalog, build: str) -> tuple[Product, CumulativeUpdate, Build]:
    identity = identify_build(catalog, _b(build))
    assert identity.product is not None and identity.cu is not None, build
    return identity.product, identity.cu, identity.build


def _statuses(evaluator: CveEvaluator, catalog: BuildCatalog, build: str) -> dict[str, str]:
    product, cu, parsed = _locate(catalog, build)
    return {cve: verdict.status for cve, verdict in evaluator.evaluate(product, cu, parsed).items()}


# --- an independent implementation of the reference pseudo-code ----------------------------


@dataclass(frozen=True)
class _Row:
    product: str
    cu: str
    cu_build: Build
    cu_released: dt.date
    update: str
    update_build: Build


class _Reference:
    """exchange-builds.md "Patched against SU X" and its driving loop, over the raw CSV rows."""

    def __init__(self, table: CveTable) -> None:
        with (DATA / "exchange-builds.csv").open(encoding="utf-8", newline="") as handle:
            raw = list(csv.DictReader(handle))
        self.rows = [
            _Row(r["product"], r["cu"], _b(r["cu_build"]), dt.date.fromisoformat(r["cu_release_date"]), r["update"],
                 _b(r["update_build"]))
            for r in raw if r["update"]
        ]
        self.cus: dict[str, list[tuple[Build, str, dt.date]]] = defaultdict(list)
        for r in raw:
            if not r["update"]:
                self.cus[r["product"]].append((_b(r["cu_build"]), r["cu"], dt.date.fromisoformat(r["cu_release_date"])))
        self.table = table

    def cu_of(self, product: str, build: Build) -> tuple[str, dt.date] | None:
        below = [(b, name, released) for b, name, released in self.cus[product] if b <= build]
        if not below:
            return None
        _, name, released = max(below)
        return name, released

    def patched_against(self, build: Build, product: str, su_name: str) -> bool:
        rows = [r for r in self.rows if r.product == product and r.update == su_name]
        if not rows:
            return True
        rows.sort(key=lambda r: r.cu_released, reverse=True)
        if build >= rows[0].update_build:
            return True
        located = self.cu_of(product, build)
        mine = [r for r in rows if located and r.cu == located[0]]
        return bool(mine) and build >= mine[0].update_build

    def statuses(self, product: Product, build: Build) -> dict[str, str]:
        located = self.cu_of(product.name, build)
        assert located is not None
        cu_year = located[1].year % 100
        result = {}
        for cve in self.table.cve_ids():
            updates = [f.update for f in self.table.fixes if cve in f.cves and product.code in f.products]
            if not updates:
                result[cve] = NOT_APPLICABLE
                continue
            missing = []
            for name in updates:
                month = update_month(name)
                assert month is not None
                if month.year % 100 < cu_year:  # the driving loop skips these names
                    continue
                if not self.patched_against(build, product.name, name):
                    missing.append(name)
            result[cve] = VULNERABLE if missing else PATCHED
        return result


@pytest.fixture(scope="module")
def reference(table: CveTable) -> _Reference:
    return _Reference(table)


# --- worked examples (exchange-builds.md) ---------------------------------------------------

# (installed build, SU X, expected result, a CVE fixed only by X for that product)
WORKED_EXAMPLES = [
    ("15.1.2176.9", "Mar21SU", "patched", "CVE-2021-26855"),
    ("15.1.2176.9", "Apr21SU", "vulnerable", "CVE-2021-28480"),
    ("15.1.2242.4", "Mar21SU", "patched", "CVE-2021-26855"),
    ("15.2.986.5", "Nov22SU", "vulnerable", "CVE-2022-41040"),
    ("15.2.1258.12", "Nov22SU", "patched", "CVE-2022-41040"),
    ("15.0.1473.6", "Apr21SU", "vulnerable", "CVE-2021-28480"),
    ("15.1.1591.13", "Feb19SU", "vulnerable", "CVE-2019-0686"),
    ("15.2.2562.17", "Nov22SU", "not affected", "CVE-2022-41040"),
    ("15.2.2562.17", "Oct25SU", "vulnerable", "CVE-2025-59249"),
    ("15.1.2044.13", "Dec20SU", "patched", "CVE-2020-17117"),
]
RESULT_OF_CHECK = {
    PatchCheck.NOT_AFFECTED: "not affected",
    PatchCheck.NEWER_BUILD: "patched",
    PatchCheck.OWN_CU: "patched",
    PatchCheck.CU_CONTAINS: "patched",
    PatchCheck.MISSING: "vulnerable",
}
STATUS_OF_RESULT = {"patched": PATCHED, "vulnerable": VULNERABLE, "not affected": NOT_APPLICABLE}


@pytest.mark.parametrize(("build", "update", "expected", "cve"), WORKED_EXAMPLES,
                         ids=[f"{b}-{u}" for b, u, _, _ in WORKED_EXAMPLES])
def test_worked_example_direct_form(catalog: BuildCatalog, build: str, update: str, expected: str, cve: str) -> None:
    product, cu, parsed = _locate(catalog, build)
    assert RESULT_OF_CHECK[patched_against(catalog, product, cu, parsed, update)] == expected


@pytest.mark.parametrize(("build", "update", "expected", "cve"), WORKED_EXAMPLES,
                         ids=[f"{b}-{u}" for b, u, _, _ in WORKED_EXAMPLES])
def test_worked_example_through_evaluator(catalog: BuildCatalog, table: CveTable, evaluator: CveEvaluator,
                                          reference: _Reference, build: str, update: str, expected: str,
                                          cve: str) -> None:
    product, cu, parsed = _locate(catalog, build)
    listing = [f.update for f in table.fixes if cve in f.cves]
    assert listing == [update], "the example CVE must be fixed by that update alone"
    verdict = evaluator.evaluate(product, cu, parsed)[cve]
    assert verdict.status == STATUS_OF_RESULT[expected]
    # The direct form and the evaluator agree, and both agree with the reference pseudo-code.
    assert RESULT_OF_CHECK[patched_against(catalog, product, cu, parsed, update)] == expected
    assert reference.patched_against(parsed, product.name, update) is (expected != "vulnerable")
    if verdict.status == VULNERABLE:
        assert verdict.fixed_by == update


def test_worked_example_paths(catalog: BuildCatalog, reference: _Reference) -> None:
    """Which branch of the algorithm decides, where the reference's "Why" column names it."""
    def reference_check(build: str, update: str) -> bool:
        product, _, parsed = _locate(catalog, build)
        return reference.patched_against(parsed, product.name, update)

    def check(build: str, update: str) -> PatchCheck:
        product, cu, parsed = _locate(catalog, build)
        return patched_against(catalog, product, cu, parsed, update)

    assert check("15.1.2242.4", "Mar21SU") is PatchCheck.NEWER_BUILD  # >= CU19's 15.1.2176.9
    # CU13 (2023) postdates Nov22SU: the driving loop's year skip decides before the numeric
    # check, which would also pass (15.2.1258.12 >= CU12's 15.2.1118.20).
    assert check("15.2.1258.12", "Nov22SU") is PatchCheck.CU_CONTAINS
    assert reference_check("15.2.1258.12", "Nov22SU")
    assert check("15.2.2562.17", "Nov22SU") is PatchCheck.NOT_AFFECTED
    assert check("15.1.2044.13", "Dec20SU") is PatchCheck.OWN_CU  # >= CU17's 15.1.2044.12
    assert check("15.1.2176.9", "Apr21SU") is PatchCheck.MISSING


def test_vulnerable_verdict_names_the_needed_build(catalog: BuildCatalog, evaluator: CveEvaluator) -> None:
    product, cu, parsed = _locate(catalog, "15.1.2176.9")
    verdict = evaluator.evaluate(product, cu, parsed)["CVE-2021-34473"]
    assert verdict.status == VULNERABLE and verdict.fixed_by == "Apr21SU"
    assert "15.1.2176.12" in verdict.reason  # CU19's Apr21SU, the lower of the two thresholds


# --- status rules (cves.md) -----------------------------------------------------------------


def test_2016_cu19_without_su(catalog: BuildCatalog, evaluator: CveEvaluator) -> None:
    statuses = _statuses(evaluator, catalog, "15.1.2176.2")
    for cve in (*PROXYLOGON, *PROXYSHELL, *PROXYNOTSHELL, "CVE-2021-24085"):
        assert statuses[cve] == VULNERABLE, cve
    # CU19 (December 2020) contains every SU released before it.
    for cve in ("CVE-2020-0688", "CVE-2020-16875", "CVE-2020-17117", "CVE-2019-0686"):
        assert statuses[cve] == PATCHED, cve
    # Every row of the CVE table lists 2016, so nothing is not_applicable on it.
    assert NOT_APPLICABLE not in statuses.values()


def test_2016_cu19_su_levels(catalog: BuildCatalog, evaluator: CveEvaluator) -> None:
    mar21 = _statuses(evaluator, catalog, "15.1.2176.9")
    assert all(mar21[c] == PATCHED for c in MAR21_CVES)
    assert mar21["CVE-2021-34473"] == VULNERABLE
    apr21 = _statuses(evaluator, catalog, "15.1.2176.12")
    assert apr21["CVE-2021-34473"] == apr21["CVE-2021-34523"] == PATCHED
    assert apr21["CVE-2021-31207"] == VULNERABLE
    may21 = _statuses(evaluator, catalog, "15.1.2176.14")
    assert all(may21[c] == PATCHED for c in PROXYSHELL)
    assert all(may21[c] == VULNERABLE for c in PROXYNOTSHELL)  # CU19 never got Nov22SU


def test_2016_cu23_newest_su_is_patched_for_everything(catalog: BuildCatalog, evaluator: CveEvaluator) -> None:
    newest = catalog.newest_cu(catalog.product_named("2016"))
    assert newest is not None and str(newest.newest_build) == "15.1.2507.72"
    statuses = _statuses(evaluator, catalog, "15.1.2507.72")
    for cve in (*PROXYLOGON, *PROXYSHELL, *PROXYNOTSHELL):
        assert statuses[cve] == PATCHED, cve
    assert set(statuses.values()) == {PATCHED}


def test_2016_cu23_without_su(catalog: BuildCatalog, evaluator: CveEvaluator) -> None:
    statuses = _statuses(evaluator, catalog, "15.1.2507.6")
    assert all(statuses[c] == PATCHED for c in (*PROXYLOGON, *PROXYSHELL))
    assert all(statuses[c] == VULNERABLE for c in PROXYNOTSHELL)
    nov22 = _statuses(evaluator, catalog, "15.1.2507.16")
    assert all(nov22[c] == PATCHED for c in PROXYNOTSHELL)


def test_aug23suv2_satisfies_aug23su(catalog: BuildCatalog, evaluator: CveEvaluator) -> None:
    assert _statuses(evaluator, catalog, "15.1.2507.32")["CVE-2023-38181"] == PATCHED
    assert _statuses(evaluator, catalog, "15.1.2507.27")["CVE-2023-38181"] == VULNERABLE


def test_se_rtm(catalog: BuildCatalog, evaluator: CveEvaluator) -> None:
    rtm = _statuses(evaluator, catalog, "15.2.2562.17")
    for cve in (*MAR21_CVES, *PROXYSHELL, *PROXYNOTSHELL, "CVE-2025-53786"):
        assert rtm[cve] == NOT_APPLICABLE, cve
    for cve in ("CVE-2025-59249", "CVE-2025-64666", "CVE-2026-21527"):
        assert rtm[cve] == VULNERABLE, cve
    newest = _statuses(evaluator, catalog, "15.2.2562.46")
    assert {c for c, s in newest.items() if s == PATCHED} == {"CVE-2025-59249", "CVE-2025-64666", "CVE-2025-64667",
                                                               "CVE-2026-21527"}
    assert set(newest.values()) == {PATCHED, NOT_APPLICABLE}


def test_2013_cve_2023_21707_needs_mar23su(catalog: BuildCatalog, evaluator: CveEvaluator) -> None:
    mar23 = evaluator.evaluate(*_locate(catalog, "15.0.1497.48"))
    assert mar23["CVE-2023-21707"].status == PATCHED
    assert mar23["CVE-2023-21707"].fixed_by == "Mar23SU"
    feb23 = evaluator.evaluate(*_locate(catalog, "15.0.1497.47"))
    assert feb23["CVE-2023-21707"].status == VULNERABLE
    assert feb23["CVE-2023-21707"].fixed_by == "Mar23SU"
    assert feb23["CVE-2023-21529"].status == PATCHED  # the rest of Feb23SU is there
    jan23 = evaluator.evaluate(*_locate(catalog, "15.0.1497.45"))
    assert jan23["CVE-2023-21707"].status == VULNERABLE


def test_2013_products_lists(catalog: BuildCatalog, evaluator: CveEvaluator) -> None:
    statuses = _statuses(evaluator, catalog, "15.0.1497.48")
    # Rows listed for 2016/2019 only are not applicable on 2013.
    for cve in ("CVE-2021-42321", "CVE-2022-41123", "CVE-2023-21710", "CVE-2025-59249"):
        assert statuses[cve] == NOT_APPLICABLE, cve
    assert set(statuses.values()) == {PATCHED, NOT_APPLICABLE}


def test_2019_cu15_apr25hu(catalog: BuildCatalog, evaluator: CveEvaluator) -> None:
    assert _statuses(evaluator, catalog, "15.2.1748.10")["CVE-2025-53786"] == VULNERABLE
    assert _statuses(evaluator, catalog, "15.2.1748.24")["CVE-2025-53786"] == PATCHED


def test_exchange_2010(catalog: BuildCatalog, evaluator: CveEvaluator) -> None:
    product = catalog.product_for(_b("14.3.123.4"))
    assert product is not None and product.code == "2010"
    sp3 = evaluator.evaluate_exchange_2010(product, _b("14.3.123.4"))
    assert {c for c, v in sp3.items() if v.status != NOT_APPLICABLE} == {"CVE-2021-26857"}
    assert sp3["CVE-2021-26857"].status == VULNERABLE
    ru32 = evaluator.evaluate_exchange_2010(product, _b("14.3.513.0"))
    assert ru32["CVE-2021-26857"].status == PATCHED
    assert {c for c, v in ru32.items() if v.status != NOT_APPLICABLE} == {"CVE-2021-26857"}


def test_unknown_all(evaluator: CveEvaluator, table: CveTable) -> None:
    verdicts = evaluator.unknown_all("no build")
    assert set(verdicts) == set(table.cve_ids())
    assert {v.status for v in verdicts.values()} == {UNKNOWN}


def test_evaluator_result_does_not_depend_on_call_order(catalog: BuildCatalog, table: CveTable) -> None:
    fresh = CveEvaluator(catalog, table)
    later = _statuses(fresh, catalog, "15.1.2176.14")
    _statuses(fresh, catalog, "15.1.2176.2")
    assert _statuses(fresh, catalog, "15.1.2176.14") == later == _statuses(CveEvaluator(catalog, table), catalog,
                                                                            "15.1.2176.14")


# --- exhaustive and property checks ---------------------------------------------------------


def _cu_ranges(catalog: BuildCatalog) -> list[tuple[Product, CumulativeUpdate, Build]]:
    """(product, CU, first build above the CU's range) for every CU in the catalog."""
    ranges = []
    for product in catalog.products:
        cus = catalog.cus_of(product)
        for index, cu in enumerate(cus):
            if index + 1 < len(cus):
                upper = cus[index + 1].build
            else:
                upper = Build(cu.build.major, cu.build.minor, cu.build.build + 1, 0)
            ranges.append((product, cu, upper))
    return ranges


def _brute_force(catalog: BuildCatalog, table: CveTable, product: Product, cu: CumulativeUpdate,
                 build: Build) -> dict[str, str]:
    checks: dict[str, PatchCheck] = {}
    result = {}
    for cve in table.cve_ids():
        fixes = table.fixes_for(cve, product.code)
        if not fixes:
            result[cve] = NOT_APPLICABLE
            continue
        for fix in fixes:
            if fix.update not in checks:
                checks[fix.update] = patched_against(catalog, product, cu, build, fix.update)
        result[cve] = VULNERABLE if any(checks[f.update] is PatchCheck.MISSING for f in fixes) else PATCHED
    return result


def _boundary_builds(cu: CumulativeUpdate, upper: Build) -> list[Build]:
    points = {cu.build}
    for update in cu.updates:
        b = update.build
        points.update({b, Build(b.major, b.minor, b.build, max(b.revision - 1, 0)),
                       Build(b.major, b.minor, b.build, b.revision + 1)})
    return sorted(p for p in points if cu.build <= p < upper)


def test_evaluator_agrees_with_brute_force_at_every_catalog_boundary(catalog: BuildCatalog, table: CveTable,
                                                                      evaluator: CveEvaluator,
                                                                      reference: _Reference) -> None:
    compared = 0
    for product, cu, upper in _cu_ranges(catalog):
        for build in _boundary_builds(cu, upper):
            fast = {cve: v.status for cve, v in evaluator.evaluate(product, cu, build).items()}
            assert fast == _brute_force(catalog, table, product, cu, build), (product.code, cu.name, str(build))
            assert fast == reference.statuses(product, build), (product.code, cu.name, str(build))
            compared += 1
    assert compared > 500


def test_monotonic_at_every_catalog_boundary(catalog: BuildCatalog, evaluator: CveEvaluator) -> None:
    for product, cu, upper in _cu_ranges(catalog):
        previous: dict[str, str] | None = None
        for build in _boundary_builds(cu, upper):
            current = {cve: v.status for cve, v in evaluator.evaluate(product, cu, build).items()}
            if previous is not None:
                regressed = [c for c, s in previous.items() if s == PATCHED and current[c] != PATCHED]
                assert regressed == [], (product.code, cu.name, str(build))
            previous = current


@st.composite
def _build_in_range(draw: st.DrawFn, lower: Build, upper: Build) -> Build:
    """A build in [lower, upper), biased to the CU's own build part where the SUs live."""
    part = draw(st.one_of(st.just(lower.build), st.integers(lower.build, upper.build)))
    low_rev = lower.revision if part == lower.build else 0
    high_rev = upper.revision - 1 if part == upper.build else max(low_rev, 120)
    if high_rev < low_rev:
        return lower
    return Build(lower.major, lower.minor, part, draw(st.integers(low_rev, high_rev)))


@PROPERTY
@given(data=st.data())
def test_property_raising_the_build_never_unpatches(kb: KnowledgeBase, evaluator: CveEvaluator,
                                                    data: st.DataObject) -> None:
    product, cu, upper = data.draw(st.sampled_from(_cu_ranges(kb.catalog)), label="cu")
    first = data.draw(_build_in_range(cu.build, upper), label="first")
    second = data.draw(_build_in_range(cu.build, upper), label="second")
    low, high = sorted((first, second))
    before = evaluator.evaluate(product, cu, low)
    after = evaluator.evaluate(product, cu, high)
    assert [c for c, v in before.items() if v.status == PATCHED and after[c].status != PATCHED] == []


@PROPERTY
@given(data=st.data())
def test_property_evaluator_agrees_with_per_update_check(kb: KnowledgeBase, evaluator: CveEvaluator,
                                                         reference: _Reference, data: st.DataObject) -> None:
    product, cu, upper = data.draw(st.sampled_from(_cu_ranges(kb.catalog)), label="cu")
    build = data.draw(_build_in_range(cu.build, upper), label="build")
    identity = identify_build(kb.catalog, build)
    assert identity.cu is not None and identity.cu.name == cu.name
    fast = {cve: v.status for cve, v in evaluator.evaluate(product, cu, build).items()}
    assert fast == _brute_force(kb.catalog, kb.table, product, cu, build)
    assert fast == reference.statuses(product, build)
