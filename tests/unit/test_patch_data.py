"""The patch planner's data files: schemas (draft-07, strict), every CU and update they name is a
row of exchange-builds.csv, the AD levels are those of the reference table, no SHA-256 is
invented, and a broken file fails load_patch_knowledge loudly."""

from __future__ import annotations

import copy
import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from exchange_remediation.patch_knowledge import SCHEMAS, PatchDataError, PatchKnowledge, load_patch_knowledge

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
SCHEMA_DIR = DATA / "schemas"


def load(name: str) -> Any:
    return yaml.safe_load((DATA / name).read_text(encoding="utf-8"))


def validator(name: str) -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMA_DIR / SCHEMAS[name]).read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def knowledge() -> PatchKnowledge:
    return load_patch_knowledge(str(DATA))


def cus(knowledge: PatchKnowledge, code: str) -> dict[str, Any]:
    product = knowledge.catalog.product_named(code)
    assert product is not None, code
    return {cu.name: cu for cu in knowledge.catalog.cus_of(product)}


# --- schemas ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_data_file_validates(name: str) -> None:
    errors = [error.message for error in validator(name).iter_errors(load(name))]
    assert errors == []


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_style(name: str) -> None:
    schema = json.loads((SCHEMA_DIR / SCHEMAS[name]).read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["$id"] == f"urn:exchange-remediation:data:{name.removesuffix('.yml')}:1"
    assert schema["additionalProperties"] is False and schema["properties"]["schema"] == {
        "const": 1, "description": "Format version of this file."}


def _set(path: list[Any], value: Any) -> Callable[[Any], None]:
    def mutate(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value
    return mutate


def _drop(path: list[Any]) -> Callable[[Any], None]:
    def mutate(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        del data[path[-1]]
    return mutate


BROKEN = [
    ("patch-prerequisites.yml", "unknown top-level key", _set(["extra"], 1)),
    ("patch-prerequisites.yml", "feature install without feature", _drop(["prerequisites", 3, "feature"])),
    ("patch-prerequisites.yml", "package with a feature name", _set(["prerequisites", 0, "feature"], "X")),
    ("patch-prerequisites.yml", "url_rewrite check without min_version", _drop(["prerequisites", 2, "min_version"])),
    ("patch-prerequisites.yml", "unknown role scope", _set(["prerequisites", 0, "roles"], "edge")),
    ("patch-prerequisites.yml", "bad CU name", _set(["dotnet", 0, "supported_from", "2016"], "Cu13")),
    ("patch-prerequisites.yml", "Exchange 2010 product code", _set(["prerequisites", 0, "products"], ["2010"])),
    ("patch-prerequisites.yml", "os version with revision", _set(["prerequisites", 6, "os_versions"],
                                                                 ["10.0.14393.0"])),
    ("ad-levels.yml", "level without org", _drop(["levels", 0, "org"])),
    ("ad-levels.yml", "level as text", _set(["levels", 0, "schema"], "15312")),
    ("ad-levels.yml", "unknown step", _set(["update_steps", 0, "step"], "PrepareEverything")),
    ("ad-levels.yml", "bad update name", _set(["update_steps", 0, "update"], "July21SU")),
    ("patch-media.yml", "SU pattern without {kb}", _set(["products", "2016", "su_msp"], "Exchange2016.msp")),
    ("patch-media.yml", "file with a path", _set(["prerequisites", "urlrewrite", "file"], "x/rewrite.msi")),
    ("patch-media.yml", "upper-case hash", _set(["sha256"], {"a.iso": "AB" * 32})),
    ("patch-media.yml", "short hash", _set(["sha256"], {"a.iso": "ab" * 31})),
    ("patch-media.yml", "backslash key", _set(["sha256"], {"a\\b.iso": "ab" * 32})),
    ("patch-media.yml", "license threshold as text", _set(["setup_switches", "2016", "diagnostic_data_from_build"],
                                                          "2375")),
    ("patch-media.yml", "in-place upgrade without sources", _set(["in_place_upgrades", 0, "from"], {})),
    ("patch-durations.yml", "negative minutes", _set(["minutes", "reboot"], -1)),
    ("patch-durations.yml", "missing cu_setup", _drop(["minutes", "cu_setup"])),
    ("patch-durations.yml", "unknown duration", _set(["minutes", "coffee"], 5)),
]


@pytest.mark.parametrize(("name", "what", "mutate"), BROKEN, ids=[f"{n}: {w}" for n, w, _ in BROKEN])
def test_schema_rejects_broken_data(name: str, what: str, mutate: Callable[[Any], None]) -> None:
    data = copy.deepcopy(load(name))
    mutate(data)
    assert list(validator(name).iter_errors(data)), what


# --- cross-file invariants ------------------------------------------------------------------------------


def test_every_cu_named_is_in_the_catalog(knowledge: PatchKnowledge) -> None:
    prerequisites, levels, media = load("patch-prerequisites.yml"), load("ad-levels.yml"), load("patch-media.yml")
    named: list[tuple[str, str]] = []
    for version in prerequisites["dotnet"]:
        named += [(code, cu) for code, cu in version["supported_from"].items()]
    for item in prerequisites["prerequisites"]:
        named += [(code, cu) for code, cu in (item.get("from_cu") or {}).items()]
    named += [(entry["product"], entry["cu"]) for entry in levels["levels"]]
    for step in levels["update_steps"]:
        named += [(code, cu) for code, names in step["cus"].items() for cu in names]
    for upgrade in media["in_place_upgrades"]:
        named.append((upgrade["to"]["product"], upgrade["to"]["cu"]))
        named += [(code, cu) for code, names in upgrade["from"].items() for cu in names]
    missing = [pair for pair in named if pair[1] not in cus(knowledge, pair[0])]
    assert named and missing == []


def test_every_update_named_is_a_row_of_its_cu(knowledge: PatchKnowledge) -> None:
    levels = load("ad-levels.yml")
    for entry in levels["levels"]:
        after = entry.get("meso_after_update")
        if after:
            updates = {u.name for u in cus(knowledge, entry["product"])[entry["cu"]].updates}
            assert after["update"] in updates, entry
    for step in levels["update_steps"]:
        for code, names in step["cus"].items():
            for cu in names:
                assert step["update"] in {u.name for u in cus(knowledge, code)[cu].updates}, (step["update"], code, cu)


def test_ad_levels_cover_every_cu_a_plan_can_target(knowledge: PatchKnowledge) -> None:
    # A target is a CU that still gets SUs (latest or previous), or an in-place upgrade's CU.
    table = knowledge.ad_levels
    for code in knowledge.media.products:
        product = knowledge.catalog.product_named(code)
        assert product is not None
        for cu in knowledge.catalog.supported_cus(product):
            assert table.level(code, cu.name) is not None, (code, cu.name)
    for upgrade in knowledge.media.in_place_upgrades:
        assert table.level(upgrade.to_product, upgrade.to_cu) is not None


def test_ad_levels_never_fall_with_a_later_cu(knowledge: PatchKnowledge) -> None:
    by_product: dict[str, list[tuple[Any, dict[str, int]]]] = {}
    for (code, name), level in knowledge.ad_levels.levels.items():
        by_product.setdefault(code, []).append((cus(knowledge, code)[name].build, level.values()))
    for rows in by_product.values():
        rows.sort(key=lambda row: row[0])
        for (_, earlier), (_, later) in itertools.pairwise(rows):
            assert all(later[key] >= earlier[key] for key in earlier), (earlier, later)


def test_ad_levels_pin_the_reference_table(knowledge: PatchKnowledge) -> None:
    # exchange-builds.md "AD levels per target CU": Schema, MESO, Org.
    reference = {
        ("2013", "CU23"): (15312, 13237, 16133), ("2016", "CU21"): (15334, 13241, 16221),
        ("2016", "CU22"): (15334, 13242, 16222), ("2016", "CU23"): (15334, 13243, 16223),
        ("2019", "CU10"): (17003, 13241, 16758), ("2019", "CU11"): (17003, 13242, 16759),
        ("2019", "CU12"): (17003, 13243, 16760), ("2019", "CU13"): (17003, 13243, 16761),
        ("2019", "CU14"): (17003, 13243, 16762), ("2019", "CU15"): (17003, 13243, 16763),
        ("SE", "RTM"): (17003, 13243, 16763),
    }
    table = knowledge.ad_levels.levels
    assert set(table) == set(reference)
    for key, (schema, meso, org) in reference.items():
        assert (table[key].schema, table[key].meso, table[key].org) == (schema, meso, org), key
    after = {key: level.meso_after_update[0::2] for key, level in table.items() if level.meso_after_update}
    assert after == {("2013", "CU23"): ("May22SU", 13238), ("2016", "CU22"): ("May22SU", 13243),
                     ("2019", "CU11"): ("May22SU", 13243)}


def test_dotnet_thresholds_of_the_reference(knowledge: PatchKnowledge) -> None:
    releases = {version.id: version.release_min for version in knowledge.prerequisites.dotnet}
    assert releases == {"dotnet48": 528040, "dotnet481": 533320}
    dotnet481 = next(v for v in knowledge.prerequisites.dotnet if v.id == "dotnet481")
    assert set(dotnet481.supported_from) == {"2019", "SE"}
    assert dotnet481.supported_from["2019"] == cus(knowledge, "2019")["CU14"].build


def test_media_covers_every_prerequisite_installer(knowledge: PatchKnowledge) -> None:
    packages = {p.id for p in knowledge.prerequisites.prerequisites if p.install == "package"}
    packages |= {d.id for d in knowledge.prerequisites.dotnet}
    assert set(knowledge.media.prerequisite_files) == packages


def test_every_patchable_product_has_media_and_switches(knowledge: PatchKnowledge) -> None:
    assert set(knowledge.media.products) == {"2016", "2019", "SE"}  # 2010 and 2013: migrate, never patched
    assert set(knowledge.media.products) <= set(knowledge.switches.rules)


def test_no_sha256_is_invented() -> None:
    # The shared references publish no hash for any Microsoft file: the map must stay empty
    # until a hash comes from a vendor page or a verified copy (then add its source here).
    assert load("patch-media.yml")["sha256"] == {}


def test_cu_duration_is_microsofts_estimate(knowledge: PatchKnowledge) -> None:
    assert knowledge.durations.cu_setup == 180
    assert "Microsoft estimates about 180 minutes" in (DATA / "patch-durations.yml").read_text(encoding="utf-8")


def test_sources_are_cited() -> None:
    for name in SCHEMAS:
        text = (DATA / name).read_text(encoding="utf-8")
        assert "Source" in text or "source" in text or "Microsoft" in text, name
    assert "patch-procedure" in (DATA / "patch-prerequisites.yml").read_text(encoding="utf-8")
    assert "exchange-builds.md" in (DATA / "ad-levels.yml").read_text(encoding="utf-8")


# --- loading ----------------------------------------------------------------------------------------


def copy_data(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target, ignore=shutil.ignore_patterns("indicators"))
    return target


def rewrite(path: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


@pytest.mark.parametrize(("name", "change", "message"), [
    ("patch-durations.yml", _set(["minutes", "reboot"], "fifteen"), "patch-durations.yml does not match"),
    ("ad-levels.yml", _set(["levels", 0, "cu"], "CU24"), "2013 CU24 is not in exchange-builds.csv"),
    ("patch-prerequisites.yml", _set(["prerequisites", 2, "from_cu", "2016"], "CU30"),
     "2016 CU30 is not in exchange-builds.csv"),
    ("patch-media.yml", _drop(["prerequisites", "ucma4"]), "no installer file for ucma4"),
    ("patch-media.yml", _drop(["setup_switches", "SE"]), "setup_switches: no entry for SE"),
    ("patch-media.yml", _set(["in_place_upgrades", 0, "from", "2019"], ["CU16"]), "2019 CU16 is not in"),
])
def test_a_broken_file_fails_the_load(tmp_path: Path, name: str, change: Callable[[Any], None],
                                      message: str) -> None:
    data = copy_data(tmp_path)
    rewrite(data / name, change)
    with pytest.raises(PatchDataError, match=message):
        load_patch_knowledge(str(data))


def test_a_missing_file_fails_the_load(tmp_path: Path) -> None:
    data = copy_data(tmp_path)
    (data / "patch-media.yml").unlink()
    with pytest.raises(PatchDataError, match="cannot read"):
        load_patch_knowledge(str(data))
    shutil.copy(DATA / "patch-media.yml", data / "patch-media.yml")
    (data / "ad-levels.yml").write_text("levels: [", encoding="utf-8")
    with pytest.raises(PatchDataError, match="not valid YAML"):
        load_patch_knowledge(str(data))
