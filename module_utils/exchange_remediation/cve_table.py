"""Which update fixed which CVE for which products, and which mitigations cover which CVE."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CveFix:
    update: str
    products: tuple[str, ...]
    cves: tuple[str, ...]


@dataclass(frozen=True)
class RewriteRuleSpec:
    """The one condition and the actions an effective mitigation rule must have (mitigations.md §7)."""

    name: str
    input: str
    pattern: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Mitigation:
    id: str
    title: str
    cves: tuple[str, ...]
    kind: str
    rewrite_rules: tuple[RewriteRuleSpec, ...] = ()
    services: tuple[str, ...] = ()
    app_pool: str = ""
    products: tuple[str, ...] = ()


@dataclass(frozen=True)
class CveTable:
    fixes: tuple[CveFix, ...]
    mitigations: tuple[Mitigation, ...]

    def cve_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for fix in self.fixes:
            for cve in fix.cves:
                seen.setdefault(cve, None)
        return list(seen)

    def fixes_for(self, cve: str, product_code: str) -> list[CveFix]:
        return [f for f in self.fixes if cve in f.cves and product_code in f.products]


def load_cve_table(data: Mapping[str, Any]) -> CveTable:
    fixes = tuple(
        CveFix(str(f["update"]), tuple(str(p) for p in f["products"]), tuple(str(c) for c in f["cves"]))
        for f in data["fixes"]
    )
    mitigations = tuple(
        Mitigation(
            id=m["id"],
            title=m["title"],
            cves=tuple(m["cves"]),
            kind=m["kind"],
            rewrite_rules=tuple(
                RewriteRuleSpec(r["name"], r["input"], r["pattern"], tuple(r["actions"]))
                for r in m.get("rewrite_rules") or ()
            ),
            services=tuple(m.get("services") or ()),
            app_pool=m.get("app_pool") or "",
            products=tuple(str(p) for p in m.get("products") or ()),
        )
        for m in data.get("mitigations") or ()
    )
    return CveTable(fixes, mitigations)


@dataclass(frozen=True)
class March21Special:
    """Data for the March 2021 SU built for out-of-support CUs (cves.md special case)."""

    update_kbs: Mapping[str, str]
    required_updates: Mapping[str, Mapping[str, tuple[str, ...]]]
    not_covered: Mapping[str, tuple[str, ...]]

    def covers(self, product_code: str, cu: str) -> bool:
        return cu in self.required_updates.get(product_code, {}) or cu in self.not_covered.get(product_code, ())


def load_march21_special(data: Mapping[str, Any]) -> March21Special:
    return March21Special(
        update_kbs=dict(data["update_kbs"]),
        required_updates={
            str(p): {cu: tuple(sus) for cu, sus in cus.items()} for p, cus in data["required_updates"].items()
        },
        not_covered={str(p): tuple(cus) for p, cus in data["not_covered"].items()},
    )
