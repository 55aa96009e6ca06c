"""Active Directory preparation of the estate: is /PrepareSchema, /PrepareAD or
/PrepareAllDomains due before the first server is patched, and from which media.

The levels each CU expects are data (data/ad-levels.yml, the "AD levels per target CU" table of
exchange-builds.md). What the forest has now comes, in this order, from:
1. collected levels (server.json ``exchange.ad_levels`` {schema, organization, meso}); the most
   recently collected bundle wins, since AD only moves forward;
2. inference: an organisation is at least at the level of its newest installed CU, so the
   highest level of any installed CU in the table is a lower bound (said as such);
3. nothing: every step is due, with the reason "AD levels not collected".
Edge Transport servers are left out on both sides: they are not part of the AD organisation
(their configuration lives in AD LDS), so neither their CU nor their target says anything about
the forest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .build_catalog import BuildCatalog, CumulativeUpdate
from .build_number import Build

# (plan key, ad-levels.yml key, setup step that raises it), in the order setup runs them.
FIELDS = (("schema", "schema", "PrepareSchema"), ("organization", "org", "PrepareAD"),
          ("meso", "meso", "PrepareAllDomains"))
STEP_ORDER = tuple(step for _, _, step in FIELDS)


class AdLevelDataError(ValueError):
    """ad-levels.yml names a CU or update the catalog does not know."""


@dataclass(frozen=True)
class CuLevels:
    product_code: str
    cu: str
    schema: int
    meso: int
    org: int
    # (update, its build on this CU, MESO once the update is installed and /PrepareDomain ran)
    meso_after_update: tuple[str, Build, int] | None = None

    def values(self, target_build: Build | None = None) -> dict[str, int]:
        meso = self.meso
        after = self.meso_after_update
        if after is not None and target_build is not None and target_build >= after[1]:
            meso = self.meso_after_update[2]
        return {"schema": self.schema, "organization": self.org, "meso": meso}


@dataclass(frozen=True)
class UpdateStep:
    update: str
    step: str
    cus: Mapping[str, tuple[str, ...]]
    note: str


@dataclass(frozen=True)
class AdLevelTable:
    levels: Mapping[tuple[str, str], CuLevels]
    update_steps: tuple[UpdateStep, ...] = ()

    def level(self, product_code: str, cu: str) -> CuLevels | None:
        return self.levels.get((product_code, cu))

    def update_steps_due(self, product_code: str, cu: CumulativeUpdate, current_build: Build,
                         target_build: Build) -> tuple[UpdateStep, ...]:
        """Update-driven steps of a server whose build crosses the update on this CU."""
        due = []
        for step in self.update_steps:
            if cu.name not in step.cus.get(product_code, ()):
                continue
            release = next((u for u in cu.updates if u.name == step.update), None)
            if release is not None and current_build < release.build <= target_build:
                due.append(step)
        return tuple(due)


def _cu(catalog: BuildCatalog, code: str, name: str, where: str) -> CumulativeUpdate:
    product = catalog.product_named(code)
    cu = next((c for c in catalog.cus_of(product) if c.name == name), None) if product else None
    if cu is None:
        raise AdLevelDataError(f"ad-levels.yml {where}: {code} {name} is not in exchange-builds.csv")
    return cu


def load_ad_levels(data: Mapping[str, Any], catalog: BuildCatalog) -> AdLevelTable:
    """From the parsed ad-levels.yml (already schema-validated), checked against the catalog."""
    levels: dict[tuple[str, str], CuLevels] = {}
    for entry in data["levels"]:
        code, name = str(entry["product"]), entry["cu"]
        where = f"levels {code} {name}"
        cu = _cu(catalog, code, name, where)
        if (code, name) in levels:
            raise AdLevelDataError(f"ad-levels.yml {where}: listed twice")
        after = entry.get("meso_after_update")
        after_level = None
        if after:
            release = next((u for u in cu.updates if u.name == after["update"]), None)
            if release is None:
                raise AdLevelDataError(f"ad-levels.yml {where}: {after['update']} has no build on {code} {name}")
            after_level = (after["update"], release.build, int(after["meso"]))
        levels[(code, name)] = CuLevels(code, name, int(entry["schema"]), int(entry["meso"]), int(entry["org"]),
                                        after_level)
    steps = []
    for entry in data.get("update_steps") or ():
        cus = {str(code): tuple(names) for code, names in entry["cus"].items()}
        for code, names in cus.items():
            for name in names:
                cu = _cu(catalog, code, name, f"update_steps {entry['update']}")
                if not any(u.name == entry["update"] for u in cu.updates):
                    raise AdLevelDataError(f"ad-levels.yml update_steps: {entry['update']} has no build on "
                                           f"{code} {name}")
        steps.append(UpdateStep(entry["update"], entry["step"], cus, " ".join(entry["note"].split())))
    return AdLevelTable(levels, tuple(steps))


@dataclass(frozen=True)
class AdTarget:
    """A patch server's destination as AD preparation sees it."""

    host: str
    product_code: str
    product: str
    cu: str
    cu_build: Build
    target_build: Build
    media: str | None
    license_switch: str | None
    update_steps: tuple[UpdateStep, ...] = ()


@dataclass(frozen=True)
class InstalledCu:
    host: str
    product_code: str
    product: str
    cu: str


@dataclass(frozen=True)
class CollectedLevels:
    host: str
    collected_at: str
    values: Mapping[str, int | None] = field(default_factory=dict)


def collected_levels(host: str, server: Mapping[str, Any] | None) -> CollectedLevels | None:
    """``exchange.ad_levels`` of a bundle, when it holds at least one whole number."""
    exchange = server.get("exchange") if isinstance(server, Mapping) else None
    raw = exchange.get("ad_levels") if isinstance(exchange, Mapping) else None
    if not isinstance(raw, Mapping):
        return None
    values: dict[str, int | None] = {}
    for key, _, _ in FIELDS:
        value = raw.get(key)
        values[key] = value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
    if all(value is None for value in values.values()):
        return None
    collected_at = server.get("collected_at") if isinstance(server, Mapping) else None
    return CollectedLevels(host, collected_at if isinstance(collected_at, str) else "", values)


@dataclass(frozen=True)
class _Known:
    value: int | None
    source: str  # collected | inferred | unknown
    detail: str


def _estate_levels(table: AdLevelTable, installed: Sequence[InstalledCu],
                   collected: Sequence[CollectedLevels]) -> dict[str, _Known]:
    newest = max(collected, key=lambda c: (c.collected_at, c.host), default=None)
    best: dict[str, tuple[int, InstalledCu]] = {}
    for server in sorted(installed, key=lambda s: s.host):
        level = table.level(server.product_code, server.cu)
        if level is None:
            continue
        for key, value in level.values().items():
            if key not in best or value > best[key][0]:
                best[key] = (value, server)
    known = {}
    for key, _, _ in FIELDS:
        if newest is not None and newest.values.get(key) is not None:
            when = f" at {newest.collected_at}" if newest.collected_at else ""
            known[key] = _Known(newest.values[key], "collected", f"collected from {newest.host}{when}")
        elif key in best:
            value, server = best[key]
            known[key] = _Known(value, "inferred",
                                f"inferred from the installed {server.product} {server.cu} on {server.host}: an "
                                "organisation is at least at the level of its newest installed CU")
        else:
            known[key] = _Known(None, "unknown", "AD levels not collected")
    return known


def plan_ad_preparation(table: AdLevelTable, targets: Sequence[AdTarget], installed: Sequence[InstalledCu],
                        collected: Sequence[CollectedLevels]) -> dict[str, Any]:
    """The ``ad_preparation`` block of plan.json."""
    known = _estate_levels(table, installed, collected)
    sources = {k.source for k in known.values()}
    source = sources.pop() if len(sources) == 1 else "mixed"
    estate = {key: known[key].value for key, _, _ in FIELDS}
    estate["source"] = source
    result: dict[str, Any] = {"needed": False, "steps": [], "target": None, "media": None, "license_switch": None,
                              "reasons": [], "estate_levels": estate, "required_levels": None}
    if not targets:
        result["reasons"].append("no server to patch")
        return result
    reasons: list[str] = []
    steps: set[str] = set()
    required: dict[str, tuple[int, AdTarget]] = {}
    unknown_targets = []
    for target in sorted(targets, key=lambda t: t.host):
        level = table.level(target.product_code, target.cu)
        if level is None:
            unknown_targets.append(target)
            continue
        for key, value in level.values(target.target_build).items():
            if key not in required or value > required[key][0]:
                required[key] = (value, target)
    for target in unknown_targets:
        reasons.append(f"no AD levels known for {target.product} {target.cu} (target of {target.host}): "
                       "every preparation step is planned")
        steps.update(STEP_ORDER)
    for key, _, step in FIELDS:
        if key not in required:
            continue
        value, target = required[key]
        have = known[key]
        label = "organization" if key == "organization" else key
        if have.value is None:
            steps.add(step)
            reasons.append(f"{label} {value} needed by {target.product} {target.cu}; {have.detail}")
        elif value > have.value:
            steps.add(step)
            bound = "at most" if have.source == "collected" else "at least"
            reasons.append(f"{label} {value} needed by {target.product} {target.cu}, estate shows {bound} "
                           f"{have.value} ({have.detail})")
        else:
            reasons.append(f"{label} {value} needed by {target.product} {target.cu} is met: {have.value} "
                           f"({have.detail})")
    seen_notes: set[str] = set()
    for target in sorted(targets, key=lambda t: t.host):
        for update in target.update_steps:
            level = table.level(target.product_code, target.cu)
            backed = (update.step == "PrepareAllDomains" and level is not None
                      and level.meso_after_update is not None and level.meso_after_update[0] == update.update)
            if backed:
                # The MESO comparison above already decided this step from the numbers.
                continue
            steps.add(update.step)
            if update.note not in seen_notes:
                seen_notes.add(update.note)
                reasons.append(f"{update.note} (target of {target.host})")
    # The prep runs from the newest media among the targets: its levels cover the others.
    chosen = max(targets, key=lambda t: (_levels_key(table, t), t.cu_build, t.host))
    result["required_levels"] = {key: value for key, (value, _) in required.items()} or None
    result["reasons"] = reasons
    if steps:
        result.update(needed=True, steps=[s for s in STEP_ORDER if s in steps],
                      target={"product": chosen.product, "cu": chosen.cu}, media=chosen.media,
                      license_switch=chosen.license_switch)
    return result


def _levels_key(table: AdLevelTable, target: AdTarget) -> tuple[int, int, int]:
    level = table.level(target.product_code, target.cu)
    if level is None:
        return (0, 0, 0)
    values = level.values(target.target_build)
    return (values["schema"], values["organization"], values["meso"])
