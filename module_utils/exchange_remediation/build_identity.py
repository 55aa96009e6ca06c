"""Build number -> product, CU and SU, following the lookup rules of exchange-builds.md."""

from __future__ import annotations

from dataclasses import dataclass

from .build_catalog import BuildCatalog, CumulativeUpdate, Product, UpdateRelease
from .build_number import Build


@dataclass(frozen=True)
class BuildIdentity:
    build: Build
    product: Product | None
    cu: CumulativeUpdate | None
    su: UpdateRelease | None
    # False when the SU level cannot be told (only a CU-level version was available).
    su_level_known: bool
    note: str | None = None

    @property
    def su_name(self) -> str | None:
        return self.su.name if self.su else None


def _exchange_2010_level(product: Product, build: Build) -> str | None:
    """Name the newest known 2010 level at or below the build (SP3, SP3 RU32)."""
    levels = [(b, name) for name, b in product.known_builds if b <= build]
    return max(levels)[1] if levels else None


def identify_build(catalog: BuildCatalog, build: Build, su_level_known: bool = True) -> BuildIdentity:
    product = catalog.product_for(build)
    if product is None:
        return BuildIdentity(build, None, None, None, su_level_known, f"build {build} is not an Exchange 2010-SE build")
    if not product.in_catalog:
        # No CU for 2010: its service pack and rollup level stands in the report's CU field.
        level = _exchange_2010_level(product, build)
        note = level or "below SP3"
        return BuildIdentity(build, product, None, None, su_level_known, note)
    cu = catalog.cu_for(product, build)
    if cu is None:
        return BuildIdentity(build, product, None, None, su_level_known, "build is below every CU in the catalog")
    if build == cu.build or not su_level_known:
        return BuildIdentity(build, product, cu, None, su_level_known)
    for update in cu.updates:
        # Rows whose update build equals the CU build (Feb19SU shipped inside the CU) are never
        # an installed SU.
        if update.build == build and update.build != cu.build:
            return BuildIdentity(build, product, cu, update, su_level_known)
    return BuildIdentity(build, product, cu, None, su_level_known, "build not in catalog")
