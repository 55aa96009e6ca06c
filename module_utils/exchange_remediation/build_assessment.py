"""Everything that follows from a build number alone: identity, support, CVEs, next step.

Servers in an estate share a handful of builds, so results are memoised per build; the CVE
table inside is shared between servers and must not be modified (copy it first).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .build_catalog import BuildCatalog, CumulativeUpdate
from .build_identity import BuildIdentity, identify_build
from .build_number import Build
from .cve_status import VULNERABLE, CveEvaluator, CveVerdict
from .cve_table import CveTable


@dataclass(frozen=True)
class BuildAssessment:
    identity: BuildIdentity
    verdicts: Mapping[str, CveVerdict]
    supported: bool | None
    latest: bool | None
    vulnerable: bool
    next_step: Mapping[str, Any]

    @property
    def known(self) -> bool:
        """False when the build maps to no product or sits below every CU of its product."""
        product = self.identity.product
        return product is not None and (not product.in_catalog or self.identity.cu is not None)


def _label(name: str, build: Build, kb: str | None) -> str:
    return f"{name} ({build}" + (f", {kb}" if kb else "") + ")"


class BuildAssessor:
    def __init__(self, catalog: BuildCatalog, table: CveTable, today: dt.date) -> None:
        self.catalog = catalog
        self.today = today
        self.evaluator = CveEvaluator(catalog, table)
        self._memo: dict[tuple[Build, bool], BuildAssessment] = {}
        # Builds of one CU that fall in the same CVE interval and on the same side of the target
        # and newest builds share every judgement; only the identity differs.
        self._judgements: dict[tuple[Any, ...], tuple[Mapping[str, CveVerdict], bool | None, bool | None,
                                                      bool, Mapping[str, Any]]] = {}

    def assess(self, build: Build, su_level_known: bool = True) -> BuildAssessment:
        key = (build, su_level_known)
        found = self._memo.get(key)
        if found is None:
            found = self._assess(build, su_level_known)
            self._memo[key] = found
        return found

    def _assess(self, build: Build, su_level_known: bool) -> BuildAssessment:
        identity = identify_build(self.catalog, build, su_level_known)
        product = identity.product
        if product is None or (product.in_catalog and identity.cu is None):
            reason = f"unknown build {build}: {identity.note}"
            step = {"action": "investigate", "target_cu": None, "target_su": None, "target_build": None,
                    "summary": reason}
            return BuildAssessment(identity, self.evaluator.unknown_all(reason), None, None, False, step)
        cu = identity.cu
        key: tuple[Any, ...] = ()
        if cu is not None:
            key = (product.name, cu.name, identity.su_name, identity.note, su_level_known,
                   self.evaluator.interval(product, cu, build),
                   build >= self._target(identity).newest_build, build >= self.catalog.newest_cu(product).newest_build)
            known = self._judgements.get(key)
            if known is not None:
                return BuildAssessment(identity, *known)
        if cu is None:
            verdicts: Mapping[str, CveVerdict] = self.evaluator.evaluate_exchange_2010(product, build)
        else:
            verdicts = self.evaluator.evaluate(product, cu, build)
        if not su_level_known:
            verdicts = {
                cve: CveVerdict("unknown", v.fixed_by, f"{v.reason} unless an SU is installed (SU level unknown)")
                if v.status == VULNERABLE else v
                for cve, v in verdicts.items()
            }
        vulnerable = any(v.status == VULNERABLE for v in verdicts.values())
        supported, latest = self._support(identity)
        judgement = (verdicts, supported, latest, vulnerable, self.next_step(identity, vulnerable))
        if key:
            self._judgements[key] = judgement
        return BuildAssessment(identity, *judgement)

    def _support(self, identity: BuildIdentity) -> tuple[bool | None, bool | None]:
        product, cu, build = identity.product, identity.cu, identity.build
        assert product is not None
        lifecycle_ok = product.lifecycle_ok(self.today)
        if cu is None:
            newest_known = max((b for _, b in product.known_builds), default=None)
            return (None if lifecycle_ok else False), ((build >= newest_known) if newest_known else None)
        supported = lifecycle_ok and cu in self.catalog.supported_cus(product)
        newest = self.catalog.newest_cu(product)
        assert newest is not None
        if build >= newest.newest_build:
            return supported, True
        if cu.name != newest.name or identity.su_level_known:
            return supported, False
        return supported, None

    def _target(self, identity: BuildIdentity) -> CumulativeUpdate:
        """Stay on the installed CU while it still gets SUs; otherwise move to the newest CU."""
        assert identity.product is not None and identity.cu is not None
        if identity.cu in self.catalog.supported_cus(identity.product):
            return identity.cu
        return self.catalog.newest_cu(identity.product) or identity.cu

    def next_step(self, identity: BuildIdentity, vulnerable: bool) -> dict[str, Any]:
        product, cu, build = identity.product, identity.cu, identity.build
        assert product is not None
        # The upgrade path text already says when support ended; the plain sentence is the fallback.
        ended = "" if product.lifecycle_ok(self.today) else (
            product.upgrade_path or f"{product.name} is out of support since {product.extended_support_end}.")
        if cu is None:
            fixed = max(product.fixed_builds.values(), default=None)
            if fixed is not None and build < fixed:
                return {"action": "install_su", "target_cu": None, "target_su": "SP3 RU32",
                        "target_build": str(fixed),
                        "summary": f"Install Exchange 2010 SP3 RU32 ({fixed}) to close CVE-2021-26857. {ended}".strip()}
            return {"action": "upgrade_product", "target_cu": None, "target_su": None, "target_build": None,
                    "summary": ended or f"{product.name}: no update path in the catalog."}
        target_cu = self._target(identity)
        target_su = target_cu.newest_update
        target_build = target_cu.newest_build
        step: dict[str, Any] = {"target_cu": target_cu.name, "target_su": target_su.name if target_su else None,
                                "target_build": str(target_build)}
        label = target_cu.name + (f" {target_su.name}" if target_su else "")
        if build >= target_build and identity.su_level_known:
            if ended:
                return {"action": "upgrade_product", **step,
                        "summary": f"At the newest update of {target_cu.name} ({label}). {ended}"}
            return {"action": "none", **step, "summary": f"Up to date ({label}); apply new SUs as they ship."}
        if target_cu.name != cu.name:
            action = "install_cu"
            text = f"Install {_label(target_cu.name, target_cu.build, target_cu.kb)}"
            if target_su:
                text += f", then {_label(target_su.name, target_su.build, target_su.kb)}"
            text += f": {cu.name} gets no more security updates."
        else:
            action = "install_su"
            text = (f"Install {_label(target_su.name, target_su.build, target_su.kb)} on {cu.name}."
                    if target_su else f"Stay on {cu.name}.")
            if not identity.su_level_known:
                text = f"SU level unknown (ExSetup.exe version not collected); target is {label}. {text}"
        if vulnerable:
            text += " Open CVEs close with it."
        if ended:
            text += f" {ended}"
        return {"action": action, **step, "summary": text}
