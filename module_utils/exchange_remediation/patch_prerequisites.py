"""Prerequisites of a patch run, judged from a server's collected facts (server.json).

The rules are data (data/patch-prerequisites.yml). A prerequisite is ``present`` or ``missing``
only when a collected fact decides it (.NET Release, IIS URL Rewrite version); everything the
collector does not read is ``unknown`` and left to an idempotent install task at run time. One
case blocks the plan: a .NET Framework the target CU does not support (4.8.1 on Exchange 2016)
cannot be downgraded, and .NET must be supported by the installed CU too, because it goes in
(with its own reboot) before the new CU.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .build_catalog import BuildCatalog, CumulativeUpdate
from .build_number import Build

PRESENT = "present"
MISSING = "missing"
UNKNOWN = "unknown"

SETUP = "setup"
MAINTENANCE = "maintenance"

_VERSION = re.compile(r"^\s*(\d+(?:\.\d+){0,3})")


class PrerequisiteDataError(ValueError):
    """patch-prerequisites.yml names something the catalog does not know."""


@dataclass(frozen=True)
class CuPosition:
    """A CU as the rules compare it: product code and CU build (a later CU has a higher build)."""

    product_code: str
    name: str
    build: Build


@dataclass(frozen=True)
class DotNetVersion:
    id: str
    name: str
    release_min: int
    # Product code -> build of the first CU that supports this version.
    supported_from: Mapping[str, Build]

    def supported_by(self, cu: CuPosition) -> bool:
        first = self.supported_from.get(cu.product_code)
        return first is not None and cu.build >= first


@dataclass(frozen=True)
class Prerequisite:
    id: str
    name: str
    install: str
    feature: str | None
    check: str
    min_version: tuple[int, ...] | None
    products: tuple[str, ...]
    from_cu: Mapping[str, Build]
    roles: str
    dag_only: bool
    os_versions: tuple[str, ...]
    needed_for: str
    reboot: bool

    def applies(self, target: CuPosition, facts: ServerFacts) -> bool:
        if target.product_code not in self.products:
            return False
        first = self.from_cu.get(target.product_code)
        if self.from_cu and (first is None or target.build < first):
            return False
        if self.roles == "mailbox" and (facts.edge or not facts.mailbox):
            return False
        if self.dag_only and not facts.dag_member:
            return False
        return not self.os_versions or facts.os_version in self.os_versions


@dataclass(frozen=True)
class PrerequisiteRules:
    dotnet: tuple[DotNetVersion, ...]
    prerequisites: tuple[Prerequisite, ...]
    watermark_keys: tuple[str, ...]


@dataclass(frozen=True)
class ServerFacts:
    """The parts of server.json the prerequisites look at; None = not collected."""

    dotnet_release: int | None
    # url_rewrite_known False: not collected (or collection failed); then url_rewrite is None.
    url_rewrite_known: bool
    url_rewrite: str | None
    os_version: str | None
    mailbox: bool
    edge: bool
    dag_member: bool


@dataclass(frozen=True)
class PrerequisiteStatus:
    id: str
    name: str
    status: str
    detail: str
    blocking: bool
    install: str
    feature: str | None
    needed_for: str
    reboot: bool
    # Installer to stage: a prerequisite id of patch-media.yml (for .NET the version to
    # install), None for Windows features and when nothing is to be installed.
    media_key: str | None

    def install_step_due(self, setup_runs: bool) -> bool:
        """Missing: always install. Unknown: install when something needs it on this run (a
        setup's own prerequisite check; the DAG scripts on every run). Unknown .NET is left to
        the run-time pre-check: the installer to use depends on the version found there."""
        if self.blocking or self.status == PRESENT or (self.media_key is None and self.install != "feature"):
            return False
        if self.status == MISSING:
            return True
        return self.needed_for == MAINTENANCE or setup_runs


def _version_tuple(text: Any) -> tuple[int, ...] | None:
    if not isinstance(text, str):
        return None
    match = _VERSION.match(text)
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def _first_cu_builds(catalog: BuildCatalog, mapping: Mapping[str, str], where: str) -> dict[str, Build]:
    builds = {}
    for code, cu_name in (mapping or {}).items():
        product = catalog.product_named(str(code))
        cu = next((c for c in catalog.cus_of(product) if c.name == cu_name), None) if product else None
        if cu is None:
            raise PrerequisiteDataError(f"patch-prerequisites.yml {where}: {code} {cu_name} is not in "
                                        "exchange-builds.csv")
        builds[str(code)] = cu.build
    return builds


def load_prerequisite_rules(data: Mapping[str, Any], catalog: BuildCatalog) -> PrerequisiteRules:
    """From the parsed patch-prerequisites.yml (already schema-validated); CU names are
    resolved to builds here, so a name the catalog lacks fails the load."""
    dotnet = tuple(
        DotNetVersion(d["id"], d["name"], int(d["release_min"]),
                      _first_cu_builds(catalog, d["supported_from"], d["id"]))
        for d in data["dotnet"]
    )
    if [d.release_min for d in dotnet] != sorted({d.release_min for d in dotnet}):
        raise PrerequisiteDataError("patch-prerequisites.yml dotnet: versions must be listed oldest first")
    prerequisites = tuple(
        Prerequisite(
            id=p["id"], name=p["name"], install=p["install"], feature=p.get("feature"), check=p["check"],
            min_version=_version_tuple(p.get("min_version")), products=tuple(str(c) for c in p["products"]),
            from_cu=_first_cu_builds(catalog, p.get("from_cu") or {}, p["id"]), roles=p["roles"],
            dag_only=bool(p.get("dag_only")), os_versions=tuple(p.get("os_versions") or ()),
            needed_for=p["needed_for"], reboot=bool(p["reboot"]),
        )
        for p in data["prerequisites"]
    )
    return PrerequisiteRules(dotnet, prerequisites, tuple(data["setup_watermark"]["role_keys"]))


def _collection_failed(server: Mapping[str, Any], section: str) -> bool:
    errors = server.get("collection_errors")
    if not isinstance(errors, list):
        return False
    return any(isinstance(e, str) and e.split(":", 1)[0].strip() == section for e in errors)


def server_facts(server: Mapping[str, Any], roles: Sequence[str], edge: bool, dag_member: bool) -> ServerFacts:
    """Read the facts from server.json; a value that is absent, malformed or reported as a
    collection error is "not collected", never "missing"."""
    release = server.get("dotnet_release")
    if isinstance(release, str) and release.strip().isdigit():
        release = int(release.strip())
    if (isinstance(release, bool) or not isinstance(release, int) or release <= 0
            or _collection_failed(server, "dotnet_release")):
        release = None
    iis = server.get("iis")
    known = (isinstance(iis, Mapping) and "url_rewrite_version" in iis
             and not _collection_failed(server, "iis.url_rewrite_version"))
    rewrite = iis.get("url_rewrite_version") if known and isinstance(iis, Mapping) else None
    if rewrite is not None and not isinstance(rewrite, str):
        known, rewrite = False, None
    os_info = server.get("os")
    os_version = os_info.get("version") if isinstance(os_info, Mapping) else None
    mailbox = any(isinstance(r, str) and r.replace(" ", "").lower() == "mailbox" for r in roles)
    return ServerFacts(release, bool(known), rewrite.strip() if rewrite else None,
                       ".".join(os_version.split(".")[:3]) if isinstance(os_version, str) else None,
                       mailbox, edge, dag_member)


def _dotnet_status(rules: PrerequisiteRules, current: CuPosition, target: CuPosition,
                   release: int | None) -> PrerequisiteStatus:
    def status(version: DotNetVersion | None, state: str, detail: str, blocking: bool = False,
               install: bool = False) -> PrerequisiteStatus:
        return PrerequisiteStatus("dotnet", version.name if version else ".NET Framework", state, detail, blocking,
                                  "package", None, SETUP, True, version.id if version and install else None)

    for_target = [d for d in rules.dotnet if d.supported_by(target)]
    both = [d for d in for_target if d.supported_by(current)]
    if release is None:
        return status(both[-1] if both else None, UNKNOWN, "Release not collected; the pre-check reads it before setup")
    # The installed version is the newest whose lowest Release the value reaches.
    installed = next((d for d in reversed(rules.dotnet) if release >= d.release_min), None)
    if installed is not None and installed in for_target:
        detail = f"Release {release} >= {installed.release_min}"
        if not installed.supported_by(current):
            detail += f"; not supported by the installed {current.name}: the upgrade to {target.name} ends that"
        return status(installed, PRESENT, detail)
    if not for_target:
        return status(installed, UNKNOWN, f"no supported .NET version is known for {target.name}", blocking=True)
    if installed is not None and installed.release_min > for_target[-1].release_min:
        return status(installed, PRESENT,
                      f"Release {release}: {target.name} supports at most {for_target[-1].name}, and .NET cannot be "
                      "downgraded", blocking=True)
    if not both:
        return status(for_target[-1], MISSING,
                      f"Release {release} is below what {target.name} needs and no .NET version is supported by both "
                      f"the installed {current.name} and {target.name}: move to an intermediate CU first",
                      blocking=True)
    return status(both[-1], MISSING, f"Release {release} < {both[-1].release_min}: install {both[-1].name} "
                  f"(supported by {current.name} and {target.name}) with its own reboot", install=True)


def _other_status(prerequisite: Prerequisite, facts: ServerFacts) -> PrerequisiteStatus:
    media = prerequisite.id if prerequisite.install == "package" else None

    def status(state: str, detail: str) -> PrerequisiteStatus:
        return PrerequisiteStatus(prerequisite.id, prerequisite.name, state, detail, False, prerequisite.install,
                                  prerequisite.feature, prerequisite.needed_for, prerequisite.reboot, media)

    if prerequisite.check == "url_rewrite" and prerequisite.min_version is not None:
        wanted = ".".join(str(p) for p in prerequisite.min_version)
        if not facts.url_rewrite_known:
            return status(UNKNOWN, "URL Rewrite version not collected")
        if facts.url_rewrite is None:
            return status(MISSING, f"not installed; {wanted} or later required")
        found = _version_tuple(facts.url_rewrite)
        if found is None:
            return status(UNKNOWN, f"unrecognised version {facts.url_rewrite[:40]!r}")
        if found >= prerequisite.min_version:
            return status(PRESENT, f"{facts.url_rewrite} >= {wanted}")
        return status(MISSING, f"{facts.url_rewrite} < {wanted}")
    what = f"Windows feature {prerequisite.feature}" if prerequisite.install == "feature" else "installed software"
    return status(UNKNOWN, f"{what} not collected; installed idempotently at run time")


def check_prerequisites(rules: PrerequisiteRules, current: CuPosition, target: CuPosition,
                        facts: ServerFacts) -> tuple[PrerequisiteStatus, ...]:
    """Every prerequisite that applies to moving this server from ``current`` to ``target``."""
    statuses = [_dotnet_status(rules, current, target, facts.dotnet_release)]
    statuses.extend(_other_status(p, facts) for p in rules.prerequisites if p.applies(target, facts))
    return tuple(statuses)


def cu_position(product_code: str, cu: CumulativeUpdate) -> CuPosition:
    return CuPosition(product_code, f"{cu.product} {cu.name}", cu.build)


def _records(exchange: Mapping[str, Any], role_keys: Sequence[str]) -> list[tuple[str, Mapping[str, Any]]]:
    """(role key, {Watermark, Action, UnpackedVersion, ConfiguredVersion}) from whichever shape
    the bundle holds:
    - ``exchange.watermarks``: a list of {role, watermark, action, unpacked_version,
      configured_version}, the record the exchange_patch pre-check reads on the server;
    - ``exchange.setup_registry.roles.<RoleKey>`` or ``exchange.setup_registry.<RoleKey>``: the
      registry values under their own names.
    """
    records: list[tuple[str, Mapping[str, Any]]] = []
    listed = exchange.get("watermarks")
    if isinstance(listed, list):
        for record in listed:
            if isinstance(record, Mapping) and record.get("role") in role_keys:
                records.append((str(record["role"]), {
                    "Watermark": record.get("watermark"), "Action": record.get("action"),
                    "UnpackedVersion": record.get("unpacked_version"),
                    "ConfiguredVersion": record.get("configured_version")}))
    registry = exchange.get("setup_registry")
    if isinstance(registry, Mapping):
        nested = registry.get("roles")
        for key in role_keys:
            values = (nested.get(key) if isinstance(nested, Mapping) else None) or registry.get(key)
            if isinstance(values, Mapping):
                records.append((key, values))
    return records


def half_done_setup(server: Mapping[str, Any], role_keys: Sequence[str]) -> list[str]:
    """Role keys whose values show a setup that stopped half way (patch-procedure §1): a
    Watermark or Action value, or UnpackedVersion without ConfiguredVersion. Not collected =>
    nothing found (the exchange_patch pre-check reads them again on the server)."""
    exchange = server.get("exchange")
    if not isinstance(exchange, Mapping):
        return []
    found = []
    for key, values in _records(exchange, role_keys):

        def has(name: str, values: Mapping[str, Any] = values) -> bool:
            value = values.get(name)
            return value is not None and value != ""

        signs = [f"{name}={str(values[name])[:60]}" for name in ("Watermark", "Action") if has(name)]
        if has("UnpackedVersion") and not has("ConfiguredVersion"):
            signs.append(f"UnpackedVersion={str(values['UnpackedVersion'])[:30]} without ConfiguredVersion")
        if signs:
            found.append(f"{key} ({', '.join(signs)})")
    return found
