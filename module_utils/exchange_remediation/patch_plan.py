"""The patch plan of an estate (plan.json, schema 1): per server what to install and in which
order, the prerequisites and media, the Active Directory preparation, and the waves.

Inputs are the run's assessment entries (the update path is the assessment's ``next_step``;
support logic is not re-implemented here) and each host's server.json. A server is
``up_to_date``, ``patch`` or ``blocked``; a blocked server always says why, and nothing is
guessed: an unknown build, a half-done setup or an unsupported .NET stops the server, never
the estate.

Servers share a handful of builds, so the build-level decision (target, steps, media, license
switch) is made once per (product, CU, build, next step) and the prerequisite judgement once
per distinct set of facts; an estate of thousands of servers plans in a fraction of a second.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .ad_preparation import (
    AdTarget,
    CollectedLevels,
    InstalledCu,
    UpdateStep,
    collected_levels,
    plan_ad_preparation,
)
from .build_catalog import CumulativeUpdate, Product, UpdateRelease
from .build_number import Build, parse_file_version
from .license_switch import normalise_diagnostic_data, normalise_extended_protection_opt_out
from .patch_knowledge import PatchKnowledge
from .patch_media import MediaItem, Sha256Lookup, normalise_sha256_map
from .patch_prerequisites import (
    CuPosition,
    PrerequisiteStatus,
    ServerFacts,
    check_prerequisites,
    cu_position,
    half_done_setup,
    server_facts,
)
from .patch_waves import WaveServer, plan_waves
from .update_name import update_month

PLAN_SCHEMA = 1
PATCH = "patch"
UP_TO_DATE = "up_to_date"
BLOCKED = "blocked"

# A DNS name: labels of letters, digits and hyphens. It ends up on Setup.exe's command line.
_FQDN = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def _check_limit(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1 or null, got {value!r}")
    return value


@dataclass(frozen=True)
class PlanOptions:
    """What the operator chose. Every bad value is a ValueError that names the option."""

    max_per_wave: int | None = None
    max_per_site: int | None = None
    upgrade_to_se: bool = False
    diagnostic_data: str = "OFF"
    domain_controller: str | None = None
    extended_protection_opt_out: str | None = None
    media_sha256: Mapping[str, str] = field(default_factory=dict)
    # Plan only these inventory hosts (the rest of the assessment still counts as the estate:
    # DAG peers, redirect targets, installed CUs for AD levels). None = every host.
    hosts: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_limit("max_per_wave", self.max_per_wave)
        _check_limit("max_per_site", self.max_per_site)
        if not isinstance(self.upgrade_to_se, bool):
            raise ValueError(f"upgrade_to_se must be true or false, got {self.upgrade_to_se!r}")
        object.__setattr__(self, "diagnostic_data", normalise_diagnostic_data(self.diagnostic_data))
        controller = self.domain_controller
        if controller is not None and (not isinstance(controller, str) or not _FQDN.match(controller)):
            raise ValueError(f"domain_controller must be a DNS name (letters, digits, hyphens, dots), "
                             f"got {controller!r}")
        object.__setattr__(self, "extended_protection_opt_out",
                           normalise_extended_protection_opt_out(self.extended_protection_opt_out))
        object.__setattr__(self, "media_sha256", normalise_sha256_map(self.media_sha256, "media_sha256"))
        hosts = self.hosts
        if hosts is not None:
            if isinstance(hosts, str) or not isinstance(hosts, Sequence):
                raise ValueError(f"hosts must be a list of inventory host names, got {hosts!r}")
            if not all(isinstance(h, str) and h for h in hosts) or len(set(hosts)) != len(hosts):
                raise ValueError(f"hosts must be distinct, non-empty host names, got {list(hosts)!r}")
            object.__setattr__(self, "hosts", tuple(hosts))

    def to_plan(self) -> dict[str, Any]:
        return {"max_per_wave": self.max_per_wave, "max_per_site": self.max_per_site,
                "upgrade_to_se": self.upgrade_to_se, "diagnostic_data": self.diagnostic_data,
                "hosts": list(self.hosts) if self.hosts is not None else None,
                "domain_controller": self.domain_controller,
                "extended_protection_opt_out": self.extended_protection_opt_out,
                "media_sha256": dict(sorted(self.media_sha256.items()))}


@dataclass(frozen=True)
class _Target:
    product: Product
    cu: CumulativeUpdate
    su: UpdateRelease | None
    build: Build
    runs_setup: bool
    # Setup of another product's media upgrading the server in place (2019 -> SE).
    in_place_upgrade: bool = False

    def to_plan(self) -> dict[str, Any]:
        return {"product": self.product.name, "cu": self.cu.name, "cu_build": str(self.cu.build),
                "cu_kb": self.cu.kb, "su": self.su.name if self.su else None, "build": str(self.build),
                "su_kb": self.su.kb if self.su else None}


@dataclass(frozen=True)
class _Decision:
    """What follows from the build and the assessment's next step alone (shared by servers)."""

    state: str
    reasons: tuple[str, ...]
    product: Product | None = None
    # Blocked for good: nothing about the server's own facts can change the verdict.
    final: bool = False
    target: _Target | None = None
    current: CuPosition | None = None
    license_switch: str | None = None
    media: tuple[MediaItem, ...] = ()
    cu_step: Mapping[str, Any] | None = None
    su_step: Mapping[str, Any] | None = None
    # What AD preparation needs of the target: the CU media whose Setup.exe would run the
    # prep, its license switch, and the SU-driven steps this move crosses.
    ad_media: str | None = None
    ad_license_switch: str | None = None
    ad_update_steps: tuple[UpdateStep, ...] = ()


def _as_dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class _Planner:
    def __init__(self, knowledge: PatchKnowledge, options: PlanOptions) -> None:
        self.knowledge = knowledge
        self.options = options
        self.catalog = knowledge.catalog
        self.minutes = knowledge.durations
        self._decisions: dict[tuple[Any, ...], _Decision] = {}
        self._prerequisites: dict[tuple[Any, ...], tuple[PrerequisiteStatus, ...]] = {}
        self._prerequisite_media: dict[str, MediaItem | None] = {}

    # --- build-level decision -----------------------------------------------------------------

    def decision(self, exchange: Mapping[str, Any], next_step: Mapping[str, Any]) -> _Decision:
        key = (exchange.get("product"), exchange.get("cu"), exchange.get("build"), exchange.get("su_known"),
               exchange.get("build_note"), bool(exchange.get("edge")), next_step.get("action"),
               next_step.get("target_cu"), next_step.get("target_su"), next_step.get("target_build"))
        found = self._decisions.get(key)
        if found is None:
            found = self._decide(exchange, next_step)
            self._decisions[key] = found
        return found

    def _cu(self, product: Product, name: Any) -> CumulativeUpdate | None:
        return next((cu for cu in self.catalog.cus_of(product) if cu.name == name), None)

    def _decide(self, exchange: Mapping[str, Any], next_step: Mapping[str, Any]) -> _Decision:
        product = self.catalog.product_named(exchange.get("product")) if _text(exchange.get("product")) else None
        build = parse_file_version(exchange.get("build")).build if _text(exchange.get("build")) else None
        if product is None or build is None:
            return _Decision(BLOCKED, (f"unknown build {exchange.get('build') or '(none)'}: no product or CU to plan "
                                       "from; collect the facts again",), final=True)
        if exchange.get("build_note") == "build not in catalog":
            return _Decision(BLOCKED, (f"build {build} is not in the catalog (private fix, newer release or disputed "
                                       "build): its update path cannot be told; check the server's ExSetup.exe "
                                       "version and the catalog",), product, final=True)
        if exchange.get("su_known") is False:
            return _Decision(BLOCKED, (f"SU level unknown: build {build} is CU level only (ExSetup.exe version not "
                                       "collected); collect it before planning updates",), product, final=True)
        if not self.knowledge.media.has_product(product.code):
            path = product.upgrade_path or f"{product.name} has no update path in the catalog."
            return _Decision(BLOCKED, (f"{product.name} is out of support, no automatic update path; migrate: "
                                       f"{path}",), product, final=True)
        cu = self._cu(product, exchange.get("cu"))
        if cu is None:
            return _Decision(BLOCKED, (f"CU {exchange.get('cu')!r} of {product.name} is not in the catalog",), product,
                             final=True)
        current = cu_position(product.code, cu)
        upgrade = self.knowledge.media.in_place_upgrade_to(product.code, cu.name)
        if self.options.upgrade_to_se and upgrade is not None:
            target_product = self.catalog.product_named(upgrade.to_product)
            target_cu = self._cu(target_product, upgrade.to_cu) if target_product else None
            assert target_product is not None and target_cu is not None  # checked when the data was loaded
            target = _Target(target_product, target_cu, target_cu.newest_update, target_cu.newest_build, True, True)
            return self._patch(product, current, target, build,
                               [f"in-place upgrade to {target_product.name} {target_cu.name} (option upgrade_to_se): "
                                "setup runs like a CU"])
        notes = self._support_notes(product, upgrade is not None)
        target_cu_name, target_build_text = next_step.get("target_cu"), next_step.get("target_build")
        target_build = parse_file_version(target_build_text).build if _text(target_build_text) else None
        if next_step.get("action") == "none" or (target_build is not None and build >= target_build):
            target = self._target_from_step(product, cu, next_step)
            return _Decision(UP_TO_DATE, tuple(notes), product, target=target, current=current)
        if not _text(target_cu_name) or target_build is None:
            what = "Edge Transport server" if exchange.get("edge") else "server"
            summary = next_step.get("summary") or "the assessment gives no target"
            return _Decision(BLOCKED, (f"{what} without an update path: {summary}",), product, final=True)
        target = self._target_from_step(product, cu, next_step)
        if target is None:
            return _Decision(BLOCKED, (f"the assessment's target {target_cu_name} {next_step.get('target_su') or ''} "
                                       f"({target_build_text}) is not in this catalog: assess again with the same "
                                       "data", ), product, final=True)
        sources = self.knowledge.media.in_place_sources(product.code)
        if self.options.upgrade_to_se and sources:
            notes.append(f"upgrade_to_se: the in-place upgrade starts only from {product.name} {', '.join(sources)}; "
                         f"this run brings the server to {target.cu.name}, the upgrade follows in a later run")
        return self._patch(product, current, target, build, notes)

    @staticmethod
    def _support_notes(product: Product, upgradable: bool) -> list[str]:
        if product.extended_support_end is None:
            return []
        text = product.upgrade_path or f"{product.name} is out of support since {product.extended_support_end}."
        if upgradable:
            text += " Plan the in-place upgrade with the option upgrade_to_se."
        return [" ".join(text.split())]

    def _target_from_step(self, product: Product, cu: CumulativeUpdate, step: Mapping[str, Any]) -> _Target | None:
        target_cu = self._cu(product, step.get("target_cu"))
        if target_cu is None:
            return None
        su = next((u for u in target_cu.updates if u.name == step.get("target_su")), None)
        if step.get("target_su") and su is None:
            return None
        build = su.build if su else target_cu.build
        if str(build) != step.get("target_build"):
            return None
        return _Target(product, target_cu, su, build, target_cu.name != cu.name)

    def _patch(self, product: Product, current: CuPosition, target: _Target, build: Build,
               notes: list[str]) -> _Decision:
        media = self.knowledge.media
        code = target.product.code
        items: list[MediaItem] = []
        cu_step = su_step = None
        license_switch = None
        if target.runs_setup:
            iso = media.cu_iso(code, target.cu.name)
            items.append(iso)
            license_switch = self.knowledge.switches.license_switch(code, target.cu.build, self.options.diagnostic_data)
            arguments = ["/Mode:Upgrade", license_switch]
            if self.options.domain_controller:
                arguments.append(f"/DomainController:{self.options.domain_controller}")
            opt_out = self.options.extended_protection_opt_out
            if opt_out and self.knowledge.switches.extended_protection_default(code, target.cu.build):
                arguments.append(f"/{opt_out}")
                notes.append(f"Extended Protection opt-out /{opt_out} requested: Microsoft warns that it weakens "
                             "security (CVE-2024-21410 is addressed by Extended Protection)")
            elif opt_out:
                notes.append(f"extended_protection_opt_out ignored: {target.product.name} {target.cu.name} setup does "
                             "not enable Extended Protection by default")
            cu_step = {"kind": "cu", "name": target.cu.name, "product": target.product.name,
                       "build": str(target.cu.build), "kb": target.cu.kb, "media": iso.id, "arguments": arguments,
                       "in_place_upgrade": target.in_place_upgrade, "reboot": True}
        if target.su is not None and (target.runs_setup or build < target.su.build):
            msp = media.su_msp(code, target.cu.name, target.su.name, target.su.kb)
            if msp is None:
                return _Decision(BLOCKED, (f"no KB for {target.product.name} {target.cu.name} {target.su.name} in the "
                                           "catalog: its package file cannot be named",), product, final=True)
            items.append(msp)
            su_step = {"kind": "su", "name": target.su.name, "build": str(target.su.build), "kb": target.su.kb,
                       "media": msp.id, "reboot": True}
        notes.extend(self._entitlement_note(target))
        return _Decision(PATCH, tuple(notes), product, target=target, current=current, license_switch=license_switch,
                         media=tuple(items), cu_step=cu_step, su_step=su_step,
                         ad_media=media.cu_iso(code, target.cu.name).id,
                         ad_license_switch=self.knowledge.switches.license_switch(code, target.cu.build,
                                                                                  self.options.diagnostic_data),
                         ad_update_steps=self.knowledge.ad_levels.update_steps_due(code, target.cu, build,
                                                                                   target.build))

    @staticmethod
    def _entitlement_note(target: _Target) -> list[str]:
        end = target.product.extended_support_end
        month = update_month(target.su.name) if target.su else None
        if end is None or month is None or (month.year, month.month) <= (end.year, end.month):
            return []
        return [f"{target.su.name if target.su else ''} was released after {target.product.name} left extended "
                f"support ({end}); the public sources do not establish entitlement to post-support updates"]

    # --- server-level plan --------------------------------------------------------------------

    def prerequisites(self, decision: _Decision, facts: ServerFacts) -> tuple[PrerequisiteStatus, ...]:
        assert decision.current is not None and decision.target is not None
        key = (decision.current, decision.target.product.code, decision.target.cu.name, facts)
        found = self._prerequisites.get(key)
        if found is None:
            target = cu_position(decision.target.product.code, decision.target.cu)
            found = check_prerequisites(self.knowledge.prerequisites, decision.current, target, facts)
            self._prerequisites[key] = found
        return found

    def prerequisite_media(self, media_key: str | None) -> MediaItem | None:
        if media_key is None:
            return None
        if media_key not in self._prerequisite_media:
            self._prerequisite_media[media_key] = self.knowledge.media.prerequisite(media_key)
        return self._prerequisite_media[media_key]

    def steps(self, decision: _Decision, prerequisites: Sequence[PrerequisiteStatus]
              ) -> tuple[list[dict[str, Any]], list[MediaItem], int]:
        """Steps in run order with their modelled minutes, the media they use, and the total
        including maintenance mode on and off."""
        minutes = self.minutes
        runs_setup = decision.cu_step is not None
        due = [p for p in prerequisites if p.install_step_due(runs_setup)]
        # Installers with their own reboot go last, so that reboot also clears what the others
        # left pending before setup starts.
        due.sort(key=lambda p: p.reboot)
        steps: list[dict[str, Any]] = []
        media: list[MediaItem] = []
        for prerequisite in due:
            item = self.prerequisite_media(prerequisite.media_key)
            if item is not None:
                media.append(item)
            steps.append({"kind": "prerequisite", "id": prerequisite.id, "name": prerequisite.name,
                          "install": prerequisite.install, "feature": prerequisite.feature,
                          "media": item.id if item else None, "reboot": prerequisite.reboot,
                          "minutes": minutes.prerequisite + (minutes.reboot if prerequisite.reboot else 0)})
        if decision.cu_step is not None:
            # Setup refuses to start with a reboot pending, and Microsoft advises one before a CU.
            before = bool(steps) and not steps[-1]["reboot"]
            steps.append({**decision.cu_step, "arguments": list(decision.cu_step["arguments"]), "reboot_before": before,
                          "minutes": minutes.cu_setup + minutes.reboot * (2 if before else 1)})
        if decision.su_step is not None:
            steps.append({**decision.su_step, "minutes": minutes.su_install + minutes.reboot})
        media.extend(decision.media)
        total = minutes.maintenance_enter + sum(step["minutes"] for step in steps) + minutes.maintenance_exit
        return steps, media, total


def _roles(exchange: Mapping[str, Any]) -> list[str]:
    roles = exchange.get("roles")
    return [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []


def _is_mailbox(roles: Sequence[str]) -> bool:
    return any(r.replace(" ", "").lower() == "mailbox" for r in roles)


@dataclass
class _Host:
    """One assessment host as the estate-wide parts (peers, redirect, AD) see it."""

    name: str
    entry: Mapping[str, Any]
    exchange: Mapping[str, Any]
    server: Mapping[str, Any] | None
    dag: str | None
    site: str | None
    edge: bool
    fqdn: str | None
    roles: list[str]
    product_code: str | None
    # Assessed, and an Exchange 2013-or-later product (the catalog's products).
    in_catalog: bool
    redirect_candidate: bool


def _host(name: str, entry: Any, server: Any, knowledge: PatchKnowledge) -> _Host:
    entry = _as_dict(entry)
    exchange = _as_dict(entry.get("exchange"))
    server = server if isinstance(server, Mapping) else None
    facts_exchange = _as_dict(server.get("exchange")) if server else {}
    dag = _text(exchange.get("dag")) or _text(facts_exchange.get("dag"))
    site = _text(exchange.get("site")) or _text(facts_exchange.get("site"))
    edge = bool(exchange.get("edge"))
    fqdn = _text(entry.get("fqdn")) or (_text(server.get("fqdn")) if server else None)
    roles = _roles(exchange)
    product = knowledge.catalog.product_named(exchange["product"]) if _text(exchange.get("product")) else None
    in_catalog = entry.get("status") == "ok" and product is not None and product.in_catalog
    # Redirect-Message needs an Exchange 2013-or-later Mailbox server (not Edge, not 2010).
    candidate = in_catalog and not edge and _is_mailbox(roles) and fqdn is not None
    return _Host(name, entry, exchange, server, dag, site, edge, fqdn, roles, product.code if product else None,
                 in_catalog, candidate)


def _fold(value: str | None) -> str | None:
    return value.casefold() if value is not None else None


def plan_estate(assessment: Mapping[str, Any], servers: Mapping[str, Any], knowledge: PatchKnowledge,
                options: PlanOptions, generated_at: str) -> dict[str, Any]:
    """plan.json (schema 1) for the assessed estate. ``servers`` maps each host to its
    server.json dict (None when there is none). Raises ValueError naming the option for bad
    options, or ``hosts`` for hosts missing from the assessment."""
    if not isinstance(options, PlanOptions):
        raise TypeError("options must be a PlanOptions")
    names = sorted(assessment)
    if options.hosts is not None:
        unknown = sorted(set(options.hosts) - set(assessment))
        if unknown:
            raise ValueError(f"hosts: {', '.join(unknown)} not in the assessment")
        planned = sorted(options.hosts)
    else:
        planned = names
    hosts = {name: _host(name, assessment[name], servers.get(name), knowledge) for name in names}
    planner = _Planner(knowledge, options)
    plans: dict[str, dict[str, Any]] = {}
    media_of: dict[str, list[MediaItem]] = {}
    ad_targets: list[AdTarget] = []
    for name in planned:
        plans[name], media_of[name], ad_target = _plan_server(planner, hosts[name])
        if ad_target is not None:
            ad_targets.append(ad_target)

    wave_plan = plan_waves([WaveServer(name, hosts[name].dag, hosts[name].site, plans[name]["modelled_minutes"])
                            for name in planned if plans[name]["state"] == PATCH],
                           options.max_per_wave, options.max_per_site)
    for number, wave in enumerate(wave_plan.waves, start=1):
        for name in wave:
            plans[name]["wave"] = number
    _place_in_estate(plans, hosts)

    all_items = {item.id: item for items in media_of.values() for item in items}
    ad = plan_ad_preparation(knowledge.ad_levels, ad_targets, _installed(hosts), _collected(hosts))
    if ad["needed"] and ad["media"] and ad["media"] not in all_items:
        target = ad["target"]
        product = knowledge.catalog.product_named(target["product"])
        if product is not None:
            all_items[ad["media"]] = knowledge.media.cu_iso(product.code, target["cu"])
    lookup = Sha256Lookup.for_items(all_items.values(), options.media_sha256, knowledge.media.sha256)
    media_plans = {item_id: item.to_plan(*lookup.find(item)) for item_id, item in sorted(all_items.items())}
    for name, items in media_of.items():
        plan = plans[name]
        plan["media"] = [dict(media_plans[item.id]) for item in items]
        unverified = [item.relative_path for item in items if media_plans[item.id]["sha256"] is None]
        if unverified and plan["state"] == PATCH:
            plan["reasons"].append(f"no known SHA-256 for {', '.join(unverified)}: exchange_media refuses unverified "
                                   "media; supply the hashes with the option media_sha256")

    waves = [{"number": number, "servers": list(wave),
              "modelled_minutes": max((plans[name]["modelled_minutes"] for name in wave), default=0)}
             for number, wave in enumerate(wave_plan.waves, start=1)]
    counts = {state: sum(1 for plan in plans.values() if plan["state"] == state)
              for state in (PATCH, UP_TO_DATE, BLOCKED)}
    modelled, serial = wave_plan.modelled_minutes(), wave_plan.serial_minutes()
    warnings = [f"media_sha256 key {key!r} matches no medium of this plan" for key in lookup.unused_user_keys]
    return {
        "schema": PLAN_SCHEMA,
        "generated_at": generated_at,
        "options": options.to_plan(),
        "ad_preparation": ad,
        "servers": plans,
        "waves": waves,
        "media": list(media_plans.values()),
        "warnings": warnings,
        "summary": {
            "servers": len(plans), "patch": counts[PATCH], "up_to_date": counts[UP_TO_DATE],
            "blocked": counts[BLOCKED],
            "patch_live": sum(1 for plan in plans.values() if plan["state"] == PATCH and plan["live"]),
            "waves": len(waves), "lower_bound": wave_plan.lower_bound, "limited_by": wave_plan.limited_by,
            "modelled_window_minutes": modelled, "serial_window_minutes": serial,
            "speedup": round(serial / modelled, 2) if modelled else None,
        },
    }


def _plan_server(planner: _Planner, host: _Host) -> tuple[dict[str, Any], list[MediaItem], AdTarget | None]:
    entry, exchange, server = host.entry, host.exchange, host.server
    roles = host.roles
    plan: dict[str, Any] = {
        "state": BLOCKED, "reasons": [],
        # Offline evidence bundles are planned like any server but never applied.
        "live": entry.get("source", "evidence") != "evidence",
        "hostname": _text(entry.get("hostname")), "fqdn": host.fqdn,
        "product": _text(exchange.get("product")), "product_code": host.product_code,
        "roles": list(roles), "edge": host.edge,
        "maintenance": "edge" if host.edge else ("dag" if host.dag else "standalone"),
        "dag": host.dag, "dag_peers": [], "dag_member_count": 0, "site": host.site, "redirect_target": None,
        "wave": None,
        "current": {"build": _text(exchange.get("build")), "cu": _text(exchange.get("cu")),
                    "su": _text(exchange.get("su"))},
        "target": None, "license_switch": None, "prerequisites": [], "steps": [], "media": [],
        "modelled_minutes": 0,
    }
    if entry.get("status") != "ok":
        plan["reasons"].append(f"not assessed: {entry.get('error') or 'status ' + str(entry.get('status'))}")
        return plan, [], None
    if server is None:
        plan["reasons"].append("no server facts (server.json) to plan from")
        return plan, [], None
    decision = planner.decision(exchange, _as_dict(entry.get("next_step")))
    plan["reasons"].extend(decision.reasons)
    if decision.final:
        return plan, [], None
    if decision.target is not None:
        plan["target"] = decision.target.to_plan()
    watermark = half_done_setup(server, planner.knowledge.prerequisites.watermark_keys)
    if watermark:
        plan["reasons"].insert(0, "setup watermark under HKLM\\SOFTWARE\\Microsoft\\ExchangeServer\\v15: "
                               f"{'; '.join(watermark)}: a previous setup is half done. Never delete the watermark; "
                               "resume setup manually, then assess again")
    if decision.state == UP_TO_DATE:
        plan["state"] = BLOCKED if watermark else UP_TO_DATE
        return plan, [], None
    facts = server_facts(server, roles, host.edge, host.dag is not None)
    prerequisites = planner.prerequisites(decision, facts)
    plan["prerequisites"] = [_prerequisite_plan(p, planner) for p in prerequisites]
    blocking = [f"prerequisite {p.name}: {p.detail}" for p in prerequisites if p.blocking]
    plan["reasons"][0:0] = blocking
    if watermark or blocking:
        return plan, [], None
    steps, media, minutes = planner.steps(decision, prerequisites)
    target = decision.target
    assert target is not None and decision.current is not None
    plan.update(state=PATCH, license_switch=decision.license_switch, steps=steps, modelled_minutes=minutes)
    # Edge Transport servers are outside the AD organisation: their target prepares nothing.
    ad_target = None if host.edge else AdTarget(
        host.name, target.product.code, target.product.name, target.cu.name, target.cu.build, target.build,
        decision.ad_media, decision.ad_license_switch, decision.ad_update_steps)
    return plan, media, ad_target


def _prerequisite_plan(status: PrerequisiteStatus, planner: _Planner) -> dict[str, Any]:
    item = planner.prerequisite_media(status.media_key)
    return {"id": status.id, "name": status.name, "status": status.status, "detail": status.detail,
            "media": item.id if item else None, "blocking": status.blocking}


def _place_in_estate(plans: dict[str, dict[str, Any]], hosts: Mapping[str, _Host]) -> None:
    """DAG peers and member counts, and where each server's queues go while it is drained."""
    dags: dict[str, list[str]] = {}
    by_site: dict[str | None, list[_Host]] = {}
    by_site_dag: dict[tuple[str | None, str | None], list[_Host]] = {}
    by_site_product: dict[tuple[str | None, str | None], list[_Host]] = {}
    by_dag: dict[str | None, list[_Host]] = {}
    for host in sorted(hosts.values(), key=lambda h: h.name):
        if host.dag is not None:
            dags.setdefault(host.dag.casefold(), []).append(host.name)
        if host.redirect_candidate:
            site = _fold(host.site)
            by_site.setdefault(site, []).append(host)
            by_site_dag.setdefault((site, _fold(host.dag)), []).append(host)
            by_site_product.setdefault((site, host.product_code), []).append(host)
            by_dag.setdefault(_fold(host.dag), []).append(host)
    everywhere = sorted((h for group in by_site.values() for h in group), key=lambda h: h.name)
    chooser = _RedirectChooser(plans)
    for name, plan in plans.items():
        host = hosts[name]
        if host.dag is not None:
            members = dags[host.dag.casefold()]
            plan["dag_peers"] = [member for member in members if member != name]
            plan["dag_member_count"] = len(members)
        if host.edge or not host.in_catalog:
            # Edge drains its transport only; Exchange 2010 has no Redirect-Message; a host that
            # could not be assessed has nothing to plan.
            continue
        site, dag = _fold(host.site), _fold(host.dag)
        # Same AD site first: a DAG peer there (it takes over the databases), then a server of
        # the same product, then any. A DAG member may also redirect across sites (the DAG spans
        # them), a stand-alone server only within its site (patch-procedure §2.2). A server
        # patched in the same wave is never chosen while another one is available.
        pools: list[Sequence[_Host]] = []
        if host.site is not None:
            if dag is not None:
                pools.append(by_site_dag.get((site, dag), []))
            pools += [by_site_product.get((site, host.product_code), []), by_site.get(site, [])]
        if dag is not None:
            pools += [by_dag.get(dag, []), everywhere]
        wave = plan["wave"]
        target = chooser.choose(name, wave, pools)
        plan["redirect_target"] = target
        if target is None and plan["state"] == PATCH:
            where = f"site {host.site}" if host.site else "its (unknown) site"
            plan["reasons"].append(f"no other Mailbox server in {where}: Redirect-Message has no target, so its "
                                   "queues wait for the maintenance window to end")


class _RedirectChooser:
    """First candidate of a pool that is not the server itself and not patched in its wave.

    Scanning a pool for every server would be quadratic in a large site whose servers share a
    wave, so the first candidate outside each wave is found once per (pool, wave) and kept.
    """

    def __init__(self, plans: Mapping[str, Mapping[str, Any]]) -> None:
        self.plans = plans
        self._outside: dict[tuple[int, int], _Host | None] = {}

    def _wave(self, host: _Host) -> int | None:
        plan = self.plans.get(host.name)
        return plan["wave"] if plan is not None else None

    def _first_outside(self, pool: Sequence[_Host], wave: int) -> _Host | None:
        key = (id(pool), wave)
        if key not in self._outside:
            self._outside[key] = next((c for c in pool if self._wave(c) != wave), None)
        return self._outside[key]

    def choose(self, name: str, wave: int | None, pools: Sequence[Sequence[_Host]]) -> str | None:
        for pool in pools:
            if wave is None:
                # Not patched: any other server will do (the first or, if that is itself, the second).
                found = next((c for c in pool[:2] if c.name != name), None)
            else:
                # The server's own wave is ``wave``, so the first candidate outside it is never itself.
                found = self._first_outside(pool, wave)
            if found is not None:
                return found.fqdn
        # Every candidate is patched in the same wave: still better than no target at all.
        return next((c.fqdn for pool in pools for c in pool[:2] if c.name != name), None)


def _installed(hosts: Mapping[str, _Host]) -> list[InstalledCu]:
    return [InstalledCu(host.name, host.product_code, str(host.exchange.get("product")), str(host.exchange.get("cu")))
            for host in hosts.values()
            if host.entry.get("status") == "ok" and not host.edge and host.product_code
            and _text(host.exchange.get("cu"))]


def _collected(hosts: Mapping[str, _Host]) -> list[CollectedLevels]:
    return [levels for host in hosts.values() if (levels := collected_levels(host.name, host.server)) is not None]
