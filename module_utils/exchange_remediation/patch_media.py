"""Installation media of a patch plan: which file, where it sits in the mirror, its SHA-256.

Names come from data/patch-media.yml: CU ISOs and SU packages per product (an SU package is
CU-specific, so the mirror keeps it under its CU's folder), prerequisite installers under their
own folders. A SHA-256 is never guessed: it comes from the data file (empty today, the
references publish none) or from the operator (option ``media_sha256``); a medium without one
is still planned, and exchange_media refuses it at run time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CU_ISO = "cu_iso"
SU_MSP = "su_msp"
PREREQUISITE = "prerequisite"

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class MediaItem:
    id: str
    kind: str
    file: str
    relative_path: str

    def to_plan(self, sha256: str | None, source: str) -> dict[str, Any]:
        # Every file in patch-media.yml is a Microsoft download: exchange_media checks the
        # Authenticode chain up to a Microsoft root before anything runs.
        return {"id": self.id, "kind": self.kind, "file": self.file, "relative_path": self.relative_path,
                "sha256": sha256, "sha256_source": source, "signed_by_microsoft": True}


@dataclass(frozen=True)
class ProductMedia:
    folder: str
    cu_iso: str
    su_msp: str


@dataclass(frozen=True)
class InPlaceUpgrade:
    """Media of ``to`` (product code, CU) whose setup upgrades these CUs of other products."""

    to_product: str
    to_cu: str
    sources: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class MediaCatalog:
    products: Mapping[str, ProductMedia]
    prerequisite_folder: str
    prerequisite_files: Mapping[str, str]
    sha256: Mapping[str, str]
    in_place_upgrades: tuple[InPlaceUpgrade, ...] = ()

    def has_product(self, product_code: str) -> bool:
        return product_code in self.products

    def cu_iso(self, product_code: str, cu: str) -> MediaItem:
        naming = self.products[product_code]
        file = naming.cu_iso.replace("{cu}", cu)
        return MediaItem(f"{product_code}-{cu}-iso", CU_ISO, file, f"{naming.folder}/{cu}/{file}")

    def su_msp(self, product_code: str, cu: str, update: str, kb: str | None) -> MediaItem | None:
        """None when the catalog has no KB for the update: its file name cannot be told."""
        if not kb:
            return None
        naming = self.products[product_code]
        file = naming.su_msp.replace("{kb}", kb)
        return MediaItem(f"{product_code}-{cu}-{update}-msp", SU_MSP, file, f"{naming.folder}/{cu}/{file}")

    def prerequisite(self, prerequisite_id: str) -> MediaItem | None:
        file = self.prerequisite_files.get(prerequisite_id)
        if file is None:
            return None
        return MediaItem(f"prereq-{prerequisite_id}", PREREQUISITE, file,
                         f"{self.prerequisite_folder}/{prerequisite_id}/{file}")

    def in_place_sources(self, product_code: str) -> tuple[str, ...]:
        """CUs of this product that some media upgrades in place."""
        return tuple(cu for upgrade in self.in_place_upgrades for cu in upgrade.sources.get(product_code, ()))

    def in_place_upgrade_to(self, product_code: str, cu: str) -> InPlaceUpgrade | None:
        """The in-place upgrade whose setup accepts this installed (product, CU), if any."""
        for upgrade in self.in_place_upgrades:
            if cu in upgrade.sources.get(product_code, ()):
                return upgrade
        return None


def load_media_catalog(data: Mapping[str, Any]) -> MediaCatalog:
    """From the parsed patch-media.yml (already schema-validated)."""
    return MediaCatalog(
        products={str(code): ProductMedia(p["folder"], p["cu_iso"], p["su_msp"])
                  for code, p in data["products"].items()},
        prerequisite_folder=data["prerequisite_folder"],
        prerequisite_files={key: value["file"] for key, value in data["prerequisites"].items()},
        sha256=normalise_sha256_map(data.get("sha256") or {}, "patch-media.yml sha256"),
        in_place_upgrades=tuple(
            InPlaceUpgrade(str(u["to"]["product"]), u["to"]["cu"],
                           {str(code): tuple(cus) for code, cus in u["from"].items()})
            for u in data.get("in_place_upgrades") or ()
        ),
    )


def _key(text: str) -> str:
    # Windows paths are case-insensitive and operators paste them with backslashes.
    return text.strip().replace("\\", "/").strip("/").casefold()


def normalise_sha256_map(value: Any, label: str = "media_sha256") -> dict[str, str]:
    """{file or relative_path: 64 hex digits}, lower-cased; anything else is a ValueError naming ``label``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{label} must be a mapping of file name or relative_path to SHA-256, "
                         f"got {type(value).__name__}")
    result: dict[str, str] = {}
    for key, digest in value.items():
        if not isinstance(key, str) or not _key(key):
            raise ValueError(f"{label}: every key must be a file name or relative_path, got {key!r}")
        if not isinstance(digest, str) or not _SHA256.match(digest.strip()):
            raise ValueError(f"{label}: {key!r} must map to a SHA-256 of 64 hexadecimal digits, got {digest!r}")
        normalised = _key(key)
        if normalised in result and result[normalised] != digest.strip().lower():
            raise ValueError(f"{label}: {key!r} is given twice with different SHA-256 values")
        result[normalised] = digest.strip().lower()
    return result


@dataclass(frozen=True)
class Sha256Lookup:
    """Finds the SHA-256 of each medium: the operator's value first, then the data file's.

    A key may be a relative_path or a bare file name. A file name that stands for several
    different files of the plan (vcredist_x64.exe of VC++ 2012 and 2013; an SU package built
    for two CUs under one KB) would give one hash to two files, so it is refused.
    """

    user: Mapping[str, str]
    data: Mapping[str, str]
    unused_user_keys: tuple[str, ...] = ()

    @classmethod
    def for_items(cls, items: Iterable[MediaItem], user: Mapping[str, str], data: Mapping[str, str]) -> Sha256Lookup:
        paths_by_file: dict[str, set[str]] = {}
        paths: set[str] = set()
        for item in items:
            paths_by_file.setdefault(_key(item.file), set()).add(_key(item.relative_path))
            paths.add(_key(item.relative_path))
        for label, mapping in (("media_sha256", user), ("patch-media.yml sha256", data)):
            for key in mapping:
                if "/" not in key and len(paths_by_file.get(key, ())) > 1:
                    where = ", ".join(sorted(paths_by_file[key]))
                    raise ValueError(f"{label}: {key!r} names {len(paths_by_file[key])} different files of this plan "
                                     f"({where}); key each by its relative_path")
        unused = tuple(sorted(key for key in user if key not in paths and key not in paths_by_file))
        return cls(user, data, unused)

    def find(self, item: MediaItem) -> tuple[str | None, str]:
        path, file = _key(item.relative_path), _key(item.file)
        for mapping, source in ((self.user, "user"), (self.data, "data")):
            for key in (path, file):
                if key in mapping:
                    return mapping[key], source
        return None, "none"
