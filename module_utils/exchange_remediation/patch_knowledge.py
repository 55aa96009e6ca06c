"""Everything the patch planner knows, loaded and checked once per run.

The build catalog (exchange-builds.csv, products.yml) plus the planner's own data files:
patch-prerequisites.yml, ad-levels.yml, patch-media.yml and patch-durations.yml. Each of these
is validated against its JSON Schema in data/schemas/ (draft-07, the library and draft the
catalog tests use), and every CU or update they name is looked up in the catalog, so a bad data
file fails the plan loudly instead of producing a wrong one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from .ad_preparation import AdLevelTable, load_ad_levels
from .build_catalog import BuildCatalog, load_catalog
from .knowledge_base import read_data_text, read_data_yaml
from .license_switch import SetupSwitches, load_setup_switches
from .patch_media import MediaCatalog, load_media_catalog
from .patch_prerequisites import PrerequisiteRules, load_prerequisite_rules

CATALOG_FILE = "exchange-builds.csv"
PRODUCTS_FILE = "products.yml"
PREREQUISITES_FILE = "patch-prerequisites.yml"
AD_LEVELS_FILE = "ad-levels.yml"
MEDIA_FILE = "patch-media.yml"
DURATIONS_FILE = "patch-durations.yml"
SCHEMAS = {
    PREREQUISITES_FILE: "patch-prerequisites.schema.json",
    AD_LEVELS_FILE: "ad-levels.schema.json",
    MEDIA_FILE: "patch-media.schema.json",
    DURATIONS_FILE: "patch-durations.schema.json",
}


class PatchDataError(ValueError):
    """A planner data file is missing, unreadable, or does not match its schema or the catalog."""


@dataclass(frozen=True)
class Durations:
    """Modelled minutes of each part of a patch run (patch-durations.yml)."""

    cu_setup: int
    su_install: int
    reboot: int
    maintenance_enter: int
    maintenance_exit: int
    prerequisite: int


@dataclass(frozen=True)
class PatchKnowledge:
    catalog: BuildCatalog
    prerequisites: PrerequisiteRules
    ad_levels: AdLevelTable
    media: MediaCatalog
    switches: SetupSwitches
    durations: Durations


def _read(data_dir: str, name: str) -> str:
    return read_data_text(data_dir, name, PatchDataError)


def _yaml(data_dir: str, name: str) -> Any:
    return read_data_yaml(data_dir, name, PatchDataError)


def _validated(data_dir: str, name: str) -> Any:
    import jsonschema  # only the planner needs it; importing the package must not

    data = _yaml(data_dir, name)
    try:
        schema = json.loads(_read(data_dir, os.path.join("schemas", SCHEMAS[name])))
    except json.JSONDecodeError as exc:
        raise PatchDataError(f"schemas/{SCHEMAS[name]} is not valid JSON: {exc}") from exc
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(part) for part in errors[0].absolute_path) or "(top level)"
        raise PatchDataError(f"{name} does not match schemas/{SCHEMAS[name]} at {where}: {errors[0].message}")
    return data


def load_patch_knowledge(data_dir: str) -> PatchKnowledge:
    """Load and check every file the planner reads. Raises PatchDataError (a ValueError), or
    the catalog's CatalogError, when the data is not usable."""
    catalog = load_catalog(_read(data_dir, CATALOG_FILE), _yaml(data_dir, PRODUCTS_FILE))
    media_data = _validated(data_dir, MEDIA_FILE)
    try:
        knowledge = PatchKnowledge(
            catalog=catalog,
            prerequisites=load_prerequisite_rules(_validated(data_dir, PREREQUISITES_FILE), catalog),
            ad_levels=load_ad_levels(_validated(data_dir, AD_LEVELS_FILE), catalog),
            media=load_media_catalog(media_data),
            switches=load_setup_switches(media_data["setup_switches"]),
            durations=Durations(**_validated(data_dir, DURATIONS_FILE)["minutes"]),
        )
    except ValueError as exc:
        raise PatchDataError(str(exc)) from exc
    _check_media_covers_products(knowledge)
    return knowledge


def _check_media_covers_products(knowledge: PatchKnowledge) -> None:
    """Every product with media naming must be in the catalog and have a setup switch rule;
    every in-place upgrade must name CUs the catalog has; every prerequisite installer must
    belong to a prerequisite or .NET version."""
    catalog = knowledge.catalog
    for code in knowledge.media.products:
        product = catalog.product_named(code)
        if product is None or not catalog.cus_of(product):
            raise PatchDataError(f"{MEDIA_FILE} products: {code} has no CU in {CATALOG_FILE}")
        if code not in knowledge.switches.rules:
            raise PatchDataError(f"{MEDIA_FILE} setup_switches: no entry for {code}")
    for upgrade in knowledge.media.in_place_upgrades:
        pairs = [(upgrade.to_product, upgrade.to_cu)] + [(c, n) for c, names in upgrade.sources.items() for n in names]
        for code, name in pairs:
            product = catalog.product_named(code)
            if product is None or not any(cu.name == name for cu in catalog.cus_of(product)):
                raise PatchDataError(f"{MEDIA_FILE} in_place_upgrades: {code} {name} is not in {CATALOG_FILE}")
        if upgrade.to_product not in knowledge.media.products:
            raise PatchDataError(f"{MEDIA_FILE} in_place_upgrades: no media naming for {upgrade.to_product}")
    ids = {d.id for d in knowledge.prerequisites.dotnet}
    ids.update(p.id for p in knowledge.prerequisites.prerequisites if p.install == "package")
    missing = sorted(ids - set(knowledge.media.prerequisite_files))
    if missing:
        raise PatchDataError(f"{MEDIA_FILE} prerequisites: no installer file for {', '.join(missing)}")
    unused = sorted(set(knowledge.media.prerequisite_files) - ids)
    if unused:
        raise PatchDataError(f"{MEDIA_FILE} prerequisites: {', '.join(unused)} is no prerequisite of "
                             f"{PREREQUISITES_FILE}")
