"""CVE status of a build: the "patched against SU X" rule of exchange-builds.md, made fast.

For one product and CU, whether update X is present depends only on whether the build reaches a
threshold (the newest build of X on any CU, or X's build on this CU, whichever is lower). So each
CU is precomputed once into sorted thresholds, and a build is then one binary search away from
its full CVE table. Estates and benchmarks with many servers on the same CUs pay the work once.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from .build_catalog import BuildCatalog, CumulativeUpdate, Product
from .build_number import Build
from .cve_table import CveTable
from .update_name import update_month

PATCHED = "patched"
VULNERABLE = "vulnerable"
MITIGATED = "mitigated"
NOT_APPLICABLE = "not_applicable"
UNKNOWN = "unknown"
CVE_STATUSES = (PATCHED, VULNERABLE, MITIGATED, NOT_APPLICABLE, UNKNOWN)

# Smaller than any real build: "the CU already contains the fix".
_ALWAYS = Build(0, 0, 0, 0)


class PatchCheck(enum.Enum):
    NOT_AFFECTED = "no build of the update exists for the product"
    NEWER_BUILD = "at or above the update on the newest CU that got it"
    OWN_CU = "at or above the update's build on the installed CU"
    CU_CONTAINS = "the installed CU was released after the update"
    MISSING = "below the update's build"


@dataclass(frozen=True)
class CveVerdict:
    status: str
    fixed_by: str | None
    reason: str


@dataclass(frozen=True)
class _UpdateThreshold:
    update: str
    threshold: Build
    needed_build: Build | None


@dataclass
class _CuProfile:
    thresholds: list[Build]
    # verdicts[i] holds the CVE table for builds in [thresholds[i-1], thresholds[i]).
    verdicts: list[dict[str, CveVerdict] | None]
    updates: dict[str, _UpdateThreshold] = field(default_factory=dict)


def patched_against(catalog: BuildCatalog, product: Product, cu: CumulativeUpdate, build: Build,
                    update: str) -> PatchCheck:
    """Direct form of HealthChecker's Test-ExchangeBuildGreaterOrEqualThanSecurityPatch."""
    rows = catalog.update_rows(product, update)
    if not rows:
        return PatchCheck.NOT_AFFECTED
    month = update_month(update)
    if month is not None and month.year % 100 < cu.released.year % 100:
        return PatchCheck.CU_CONTAINS
    if build >= rows[0].update.build:
        return PatchCheck.NEWER_BUILD
    mine = [r for r in rows if r.cu.name == cu.name]
    if mine and build >= mine[0].update.build:
        return PatchCheck.OWN_CU
    return PatchCheck.MISSING


class CveEvaluator:
    """Evaluates every CVE of the table for a build; caches one profile per product and CU."""

    def __init__(self, catalog: BuildCatalog, table: CveTable) -> None:
        self.catalog = catalog
        self.table = table
        self.cve_ids = table.cve_ids()
        self._profiles: dict[tuple[str, str], _CuProfile] = {}
        self._fixes: dict[str, dict[str, list[str]]] = {}

    def _fix_updates(self, product: Product) -> dict[str, list[str]]:
        """CVE -> updates that list it for the product, in table order."""
        index = self._fixes.get(product.code)
        if index is None:
            index = {cve: [f.update for f in self.table.fixes_for(cve, product.code)] for cve in self.cve_ids}
            self._fixes[product.code] = index
        return index

    def _threshold(self, product: Product, cu: CumulativeUpdate, update: str) -> _UpdateThreshold:
        rows = self.catalog.update_rows(product, update)
        if not rows:
            return _UpdateThreshold(update, _ALWAYS, None)
        month = update_month(update)
        if month is not None and month.year % 100 < cu.released.year % 100:
            return _UpdateThreshold(update, _ALWAYS, None)
        newest = rows[0].update.build
        mine = [r.update.build for r in rows if r.cu.name == cu.name]
        needed = min([newest, *mine])
        return _UpdateThreshold(update, needed, needed)

    def _verdicts(self, product: Product, missing: Mapping[str, _UpdateThreshold]) -> dict[str, CveVerdict]:
        verdicts: dict[str, CveVerdict] = {}
        for cve, fixes in self._fix_updates(product).items():
            if not fixes:
                verdicts[cve] = CveVerdict(NOT_APPLICABLE, None, f"not listed for {product.name}")
                continue
            # A CVE listed under two updates (CVE-2023-21707) needs every one of them.
            fixed_by = fixes[-1]
            lacking = [update for update in fixes if update in missing]
            if lacking:
                needed = missing[lacking[-1]].needed_build
                where = f"build {needed} or later" if needed else "a newer CU"
                verdicts[cve] = CveVerdict(VULNERABLE, lacking[-1], f"{lacking[-1]} missing: needs {where}")
            else:
                verdicts[cve] = CveVerdict(PATCHED, fixed_by, f"{fixed_by} present")
        return verdicts

    def _profile(self, product: Product, cu: CumulativeUpdate) -> _CuProfile:
        key = (product.name, cu.name)
        profile = self._profiles.get(key)
        if profile is not None:
            return profile
        updates = {name: self._threshold(product, cu, name) for name in {f.update for f in self.table.fixes}}
        cut_points = sorted({u.threshold for u in updates.values() if u.threshold != _ALWAYS})
        # Filled on first use: most stretches of most CUs are never asked for.
        profile = _CuProfile(cut_points, [None] * (len(cut_points) + 1), updates)
        self._profiles[key] = profile
        return profile

    def _stretch(self, product: Product, profile: _CuProfile, index: int) -> dict[str, CveVerdict]:
        verdicts = profile.verdicts[index]
        if verdicts is None:
            # Builds below cut_points[index] lack every update whose threshold is above them.
            floor = profile.thresholds[index - 1] if index else _ALWAYS
            missing = {name: u for name, u in profile.updates.items() if u.threshold > floor}
            verdicts = self._verdicts(product, missing)
            profile.verdicts[index] = verdicts
        return verdicts

    def interval(self, product: Product, cu: CumulativeUpdate, build: Build) -> int:
        """Which stretch between the CU's thresholds the build falls in (same stretch, same CVEs)."""
        return bisect.bisect_right(self._profile(product, cu).thresholds, build)

    def evaluate(self, product: Product, cu: CumulativeUpdate, build: Build) -> dict[str, CveVerdict]:
        """CVE -> verdict by build alone. The returned dict is shared: copy before changing it."""
        profile = self._profile(product, cu)
        return self._stretch(product, profile, bisect.bisect_right(profile.thresholds, build))

    def evaluate_exchange_2010(self, product: Product, build: Build) -> dict[str, CveVerdict]:
        verdicts: dict[str, CveVerdict] = {}
        for cve in self.cve_ids:
            fixed = product.fixed_builds.get(cve)
            if fixed is None:
                verdicts[cve] = CveVerdict(NOT_APPLICABLE, None, f"not listed for {product.name}")
            elif build >= fixed:
                verdicts[cve] = CveVerdict(PATCHED, f"build {fixed}", f"build {fixed} (SP3 RU32) present")
            else:
                verdicts[cve] = CveVerdict(VULNERABLE, f"build {fixed}", f"needs build {fixed} (SP3 RU32)")
        return verdicts

    def unknown_all(self, reason: str) -> dict[str, CveVerdict]:
        return {cve: CveVerdict(UNKNOWN, None, reason) for cve in self.cve_ids}
