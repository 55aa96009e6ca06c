"""The build catalog: Exchange products, cumulative updates and their security/hotfix updates.

Built from data files (``data/exchange-builds.csv``, ``data/products.yml``); no build number
is written in code.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .build_number import Build, parse_file_version
from .update_name import update_month

CSV_COLUMNS = ("product", "cu", "cu_build", "cu_release_date", "cu_kb", "update", "update_build", "update_kb")


class CatalogError(ValueError):
    """The catalog data is malformed; raised at load time so a bad data file fails loudly."""


@dataclass(frozen=True)
class UpdateRelease:
    """One SU/HU build of one CU."""

    name: str
    build: Build
    kb: str | None


@dataclass(frozen=True)
class CumulativeUpdate:
    product: str
    name: str
    build: Build
    released: dt.date
    kb: str | None
    updates: tuple[UpdateRelease, ...] = ()
    # The highest build shipped for this CU (SUs and HUs are cumulative within a CU); computed
    # once at load time because every assessment asks for it.
    newest_update: UpdateRelease | None = None

    @property
    def newest_build(self) -> Build:
        return self.newest_update.build if self.newest_update else self.build


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    major: int
    minors: tuple[int, ...]
    build_below: int | None
    build_from: int | None
    extended_support_end: dt.date | None
    in_catalog: bool
    fixed_builds: Mapping[str, Build] = field(default_factory=dict)
    known_builds: tuple[tuple[str, Build], ...] = ()
    upgrade_path: str | None = None

    def matches(self, build: Build) -> bool:
        if build.major != self.major or build.minor not in self.minors:
            return False
        if self.build_below is not None and build.build >= self.build_below:
            return False
        return self.build_from is None or build.build >= self.build_from

    def lifecycle_ok(self, today: dt.date) -> bool:
        return self.extended_support_end is None or today <= self.extended_support_end


@dataclass(frozen=True)
class UpdateRow:
    """A CSV update row with its CU, as the "patched against SU X" rule needs it."""

    product: str
    cu: CumulativeUpdate
    update: UpdateRelease


@dataclass
class BuildCatalog:
    products: tuple[Product, ...]
    cus: dict[str, tuple[CumulativeUpdate, ...]]
    rows_by_update: dict[tuple[str, str], tuple[UpdateRow, ...]]
    _builds_cache: dict[str, list[Build]] = field(default_factory=dict)
    _supported_cache: dict[str, tuple[CumulativeUpdate, ...]] = field(default_factory=dict)

    def product_for(self, build: Build) -> Product | None:
        for product in self.products:
            if product.matches(build):
                return product
        return None

    def product_named(self, name: str) -> Product | None:
        for product in self.products:
            if product.name == name or product.code == name:
                return product
        return None

    def cus_of(self, product: Product) -> tuple[CumulativeUpdate, ...]:
        return self.cus.get(product.name, ())

    def cu_for(self, product: Product, build: Build) -> CumulativeUpdate | None:
        """The CU with the greatest CU build at or below ``build``."""
        cus = self.cus_of(product)  # sorted by build at load time
        index = bisect.bisect_right(self._cu_builds(product), build)
        return cus[index - 1] if index else None

    def _cu_builds(self, product: Product) -> list[Build]:
        builds = self._builds_cache.get(product.name)
        if builds is None:
            builds = [cu.build for cu in self.cus_of(product)]
            self._builds_cache[product.name] = builds
        return builds

    def newest_cu(self, product: Product) -> CumulativeUpdate | None:
        cus = self.cus_of(product)  # sorted by build at load time
        return cus[-1] if cus else None

    def supported_cus(self, product: Product) -> tuple[CumulativeUpdate, ...]:
        """The CUs that still get security updates: the latest CU, and the one before it while it
        still gets them.

        Microsoft builds SUs "for the most recently released CU and for the immediately previous
        CU", but once a product stops getting CUs the previous one stops getting SUs too: 2016
        CU22's last SU was Nov22SU while CU23 went on to Aug26SU. A previous CU that did not get
        the product's newest update has therefore left the window (HealthChecker lists 2016 CU23
        alone). Without this, a 2016 CU22 server would be told to stay on CU22 Nov22SU with
        every later CVE open.
        """
        found = self._supported_cache.get(product.name)
        if found is not None:
            return found
        cus = self.cus_of(product)
        found = cus[-2:]
        if len(cus) >= 2:
            months = [month for cu in cus for month in (update_month(u.name) for u in cu.updates) if month]
            previous = {update_month(u.name) for u in cus[-2].updates}
            if months and max(months) not in previous:
                found = cus[-1:]
        self._supported_cache[product.name] = found
        return found

    def update_rows(self, product: Product, update: str) -> tuple[UpdateRow, ...]:
        return self.rows_by_update.get((product.name, update), ())




def _date(text: str, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CatalogError(f"{where}: invalid date {text!r}") from exc


def _build(text: str, where: str) -> Build:
    parsed = parse_file_version(text)
    if parsed.build is None or str(parsed.build) != text:
        raise CatalogError(f"{where}: build {text!r} is not a normalised four-part build")
    return parsed.build


def _kb(text: str) -> str | None:
    return text.strip() or None


def _products(data: Mapping[str, Any]) -> tuple[Product, ...]:
    paths = data.get("upgrade_paths") or {}
    products = []
    for entry in data["products"]:
        end = entry.get("extended_support_end")
        where = f"products.yml {entry['code']}"
        fixed = {cve: _build(b, where) for cve, b in (entry.get("fixed_builds") or {}).items()}
        known = tuple(
            (k["name"], _build(k["build"], f"products.yml {entry['code']}")) for k in entry.get("known_builds") or []
        )
        products.append(
            Product(
                code=str(entry["code"]),
                name=entry["name"],
                major=int(entry["major"]),
                minors=tuple(int(m) for m in entry["minor"]),
                build_below=entry.get("build_below"),
                build_from=entry.get("build_from"),
                extended_support_end=_date(end, f"products.yml {entry['code']}") if end else None,
                in_catalog=bool(entry.get("in_catalog")),
                fixed_builds=fixed,
                known_builds=known,
                upgrade_path=(paths.get(str(entry["code"])) or None),
            )
        )
    return tuple(products)


def load_catalog(csv_text: str, products_data: Mapping[str, Any]) -> BuildCatalog:
    """Build the catalog from the CSV text and the parsed products.yml."""
    reader = csv.DictReader(io.StringIO(csv_text))
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise CatalogError(f"exchange-builds.csv: expected columns {','.join(CSV_COLUMNS)}, got {reader.fieldnames}")
    products = _products(products_data)
    known_names = {p.name for p in products}
    cu_rows: dict[tuple[str, str], dict[str, Any]] = {}
    updates: dict[tuple[str, str], list[UpdateRelease]] = {}
    for number, row in enumerate(reader, start=2):
        where = f"exchange-builds.csv line {number}"
        product = row["product"]
        if product not in known_names:
            raise CatalogError(f"{where}: unknown product {product!r}")
        key = (product, row["cu"])
        cu_fields = {
            "build": _build(row["cu_build"], where),
            "released": _date(row["cu_release_date"], where),
            "kb": _kb(row["cu_kb"]),
        }
        if key in cu_rows and cu_rows[key]["build"] != cu_fields["build"]:
            raise CatalogError(f"{where}: {product} {row['cu']} has two different CU builds")
        cu_rows.setdefault(key, cu_fields)
        if row["update"]:
            if update_month(row["update"]) is None:
                raise CatalogError(f"{where}: update name {row['update']!r} does not follow MonYY(SU|HU)[vN]")
            release = UpdateRelease(row["update"], _build(row["update_build"], where), _kb(row["update_kb"]))
            updates.setdefault(key, []).append(release)
        elif row["update_build"] or row["update_kb"]:
            raise CatalogError(f"{where}: update build or KB without an update name")
    cus: dict[str, list[CumulativeUpdate]] = {}
    for (product, name), fields in cu_rows.items():
        ordered = tuple(sorted(updates.get((product, name), []), key=lambda u: u.build))
        real = [u for u in ordered if u.build != fields["build"]]
        cu = CumulativeUpdate(product, name, fields["build"], fields["released"], fields["kb"], ordered,
                              real[-1] if real else None)
        cus.setdefault(product, []).append(cu)
    rows: dict[tuple[str, str], list[UpdateRow]] = {}
    for product, product_cus in cus.items():
        for cu in product_cus:
            for update in cu.updates:
                rows.setdefault((product, update.name), []).append(UpdateRow(product, cu, update))
    for key in rows:
        # Newest CU first: the "patched against" rule compares with the newest CU that got X.
        rows[key].sort(key=lambda r: (r.cu.released, r.cu.build), reverse=True)
    return BuildCatalog(
        products=products,
        cus={p: tuple(sorted(c, key=lambda cu: cu.build)) for p, c in cus.items()},
        rows_by_update={k: tuple(v) for k, v in rows.items()},
    )
