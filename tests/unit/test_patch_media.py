"""Media items of the plan: names and mirror paths from data/patch-media.yml, and where each
SHA-256 comes from (operator, data file, none); bad and ambiguous hash keys are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange_remediation.patch_knowledge import PatchKnowledge, load_patch_knowledge
from exchange_remediation.patch_media import (
    CU_ISO,
    PREREQUISITE,
    SU_MSP,
    MediaCatalog,
    MediaItem,
    Sha256Lookup,
    normalise_sha256_map,
)

REPO = Path(__file__).resolve().parents[2]
HASH = "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def media() -> MediaCatalog:
    knowledge: PatchKnowledge = load_patch_knowledge(str(REPO / "data"))
    return knowledge.media


def test_cu_iso(media: MediaCatalog) -> None:
    assert media.cu_iso("2019", "CU15") == MediaItem("2019-CU15-iso", CU_ISO, "ExchangeServer2019-x64-CU15.ISO",
                                                     "Exchange2019/CU15/ExchangeServer2019-x64-CU15.ISO")
    assert media.cu_iso("2016", "CU23").relative_path == "Exchange2016/CU23/ExchangeServer2016-x64-CU23.ISO"
    assert media.cu_iso("SE", "RTM").file == "ExchangeServerSE-x64.ISO"


def test_su_packages_are_kept_under_their_cu(media: MediaCatalog) -> None:
    # Nov24SUv2 is KB5049233 for both 2019 CU14 and CU15: one file name, two different packages.
    cu14 = media.su_msp("2019", "CU14", "Nov24SUv2", "KB5049233")
    cu15 = media.su_msp("2019", "CU15", "Nov24SUv2", "KB5049233")
    assert cu14 is not None and cu15 is not None
    assert cu14.file == cu15.file == "Exchange2019-KB5049233-x64-en.msp"
    assert cu14.relative_path == "Exchange2019/CU14/Exchange2019-KB5049233-x64-en.msp"
    assert cu15.relative_path == "Exchange2019/CU15/Exchange2019-KB5049233-x64-en.msp"
    assert (cu14.id, cu14.kind) == ("2019-CU14-Nov24SUv2-msp", SU_MSP)
    assert media.su_msp("2016", "CU23", "Aug26SU", "KB5121576") == MediaItem(
        "2016-CU23-Aug26SU-msp", SU_MSP, "Exchange2016-KB5121576-x64-en.msp",
        "Exchange2016/CU23/Exchange2016-KB5121576-x64-en.msp")
    se = media.su_msp("SE", "RTM", "Aug26SU", "KB5121573")
    assert se is not None and se.file == "ExchangeSubscriptionEdition-KB5121573-x64-en.msp"


def test_su_without_kb_has_no_file(media: MediaCatalog) -> None:
    assert media.su_msp("2016", "CU18", "Jan21SU", None) is None


def test_prerequisite_installers(media: MediaCatalog) -> None:
    assert media.prerequisite("urlrewrite") == MediaItem(
        "prereq-urlrewrite", PREREQUISITE, "rewrite_amd64_en-US.msi",
        "Prerequisites/urlrewrite/rewrite_amd64_en-US.msi")
    first, second = media.prerequisite("vcredist2012"), media.prerequisite("vcredist2013")
    assert first is not None and second is not None
    assert first.file == second.file and first.relative_path != second.relative_path
    assert media.prerequisite("media_foundation") is None  # a Windows feature has no file


def test_to_plan(media: MediaCatalog) -> None:
    assert media.cu_iso("2016", "CU23").to_plan(HASH, "user") == {
        "id": "2016-CU23-iso", "kind": "cu_iso", "file": "ExchangeServer2016-x64-CU23.ISO",
        "relative_path": "Exchange2016/CU23/ExchangeServer2016-x64-CU23.ISO", "sha256": HASH,
        "sha256_source": "user", "signed_by_microsoft": True}


def test_in_place_upgrade(media: MediaCatalog) -> None:
    upgrade = media.in_place_upgrade_to("2019", "CU14")
    assert upgrade is not None and (upgrade.to_product, upgrade.to_cu) == ("SE", "RTM")
    assert media.in_place_upgrade_to("2019", "CU13") is None
    assert media.in_place_upgrade_to("2016", "CU23") is None
    assert media.in_place_sources("2019") == ("CU14", "CU15")


def test_sha256_map_is_normalised() -> None:
    assert normalise_sha256_map({"Exchange2019\\CU14\\A.msp": HASH.upper(), " b.iso ": f" {HASH} "}) == {
        "exchange2019/cu14/a.msp": HASH, "b.iso": HASH}
    assert normalise_sha256_map(None) == {}


@pytest.mark.parametrize("value", [
    {"a.iso": HASH[:-1]}, {"a.iso": HASH + "0"}, {"a.iso": "g" * 64}, {"a.iso": None}, {"": HASH}, {5: HASH},
    {"a.iso": HASH, "A.ISO": "1" * 64}, "a.iso", ["a.iso"],
], ids=["short", "long", "not_hex", "null", "empty_key", "int_key", "conflict", "string", "list"])
def test_bad_sha256_values_name_the_option(value: object) -> None:
    with pytest.raises(ValueError, match=r"^media_sha256"):
        normalise_sha256_map(value)


def test_lookup_order_and_sources(media: MediaCatalog) -> None:
    iso = media.cu_iso("2016", "CU23")
    msp = media.su_msp("2016", "CU23", "Aug26SU", "KB5121576")
    assert msp is not None
    data = normalise_sha256_map({iso.relative_path: "1" * 64, msp.file: "2" * 64})
    user = normalise_sha256_map({iso.file: "3" * 64})
    lookup = Sha256Lookup.for_items([iso, msp], user, data)
    assert lookup.find(iso) == ("3" * 64, "user")
    assert lookup.find(msp) == ("2" * 64, "data")
    assert Sha256Lookup.for_items([iso], {}, {}).find(iso) == (None, "none")


def test_ambiguous_file_name_is_refused_but_a_path_is_fine(media: MediaCatalog) -> None:
    first, second = media.prerequisite("vcredist2012"), media.prerequisite("vcredist2013")
    assert first is not None and second is not None
    with pytest.raises(ValueError, match=r"^media_sha256: 'vcredist_x64\.exe' names 2 different files"):
        Sha256Lookup.for_items([first, second], normalise_sha256_map({"vcredist_x64.exe": HASH}), {})
    with pytest.raises(ValueError, match=r"^patch-media\.yml sha256"):
        Sha256Lookup.for_items([first, second], {}, normalise_sha256_map({"vcredist_x64.exe": HASH}))
    lookup = Sha256Lookup.for_items([first, second], normalise_sha256_map({first.relative_path: HASH}), {})
    assert lookup.find(first) == (HASH, "user") and lookup.find(second) == (None, "none")
    # A file name used by one medium only is a fine key.
    assert Sha256Lookup.for_items([first], normalise_sha256_map({"vcredist_x64.exe": HASH}), {}).find(first)[0] == HASH


def test_unused_user_keys_are_reported(media: MediaCatalog) -> None:
    iso = media.cu_iso("2016", "CU23")
    lookup = Sha256Lookup.for_items([iso], normalise_sha256_map({"other.iso": HASH, iso.file: HASH}), {})
    assert lookup.unused_user_keys == ("other.iso",)
