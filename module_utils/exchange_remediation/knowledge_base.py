"""Load the data files (catalog, products, CVE table, March 2021 special case) from a directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import yaml

from .build_catalog import BuildCatalog, load_catalog
from .cve_table import CveTable, March21Special, load_cve_table, load_march21_special

CATALOG_FILE = "exchange-builds.csv"
PRODUCTS_FILE = "products.yml"
CVES_FILE = "cves.yml"
MARCH21_FILE = "march21-out-of-support.yml"


class KnowledgeError(ValueError):
    """A data file is missing or unreadable."""


@dataclass(frozen=True)
class KnowledgeBase:
    catalog: BuildCatalog
    table: CveTable
    march21: March21Special


def read_data_text(data_dir: str, name: str, error: type[ValueError] = KnowledgeError) -> str:
    """A data file as text; ``error`` is the loader's own error type, so each names its own data."""
    path = os.path.join(data_dir, name)
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}") from exc


def read_data_yaml(data_dir: str, name: str, error: type[ValueError] = KnowledgeError) -> Any:
    try:
        # The C loader, where PyYAML has it, reads the catalog five times faster.
        return yaml.load(read_data_text(data_dir, name, error), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise error(f"{os.path.join(data_dir, name)} is not valid YAML: {exc}") from exc


def load_knowledge(data_dir: str) -> KnowledgeBase:
    return KnowledgeBase(
        catalog=load_catalog(read_data_text(data_dir, CATALOG_FILE), read_data_yaml(data_dir, PRODUCTS_FILE)),
        table=load_cve_table(read_data_yaml(data_dir, CVES_FILE)),
        march21=load_march21_special(read_data_yaml(data_dir, MARCH21_FILE)),
    )
