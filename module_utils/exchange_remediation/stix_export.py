"""A report's indicators as a STIX 2.1 bundle, built and checked by the stix2 package.

What is in it (docs/exports.md):
- the producer, an identity "exchange-remediation"; one identity (class "system") per server with
  sightings, named by inventory name or, without hostnames, by its pseudonym ("server-01");
- one indicator per observable (IPv4/IPv6 address, user agent, file path, SHA-256) with a STIX
  pattern; URL stems stay in the CSV only: they are server-relative paths of Exchange itself and
  a url:value pattern needs an absolute URL;
- one sighting per indicator and server: first_seen, last_seen, count, where it was seen;
- attack-patterns per campaign (ProxyLogon, ProxyShell, ProxyNotShell, OWASSRF, ProxyToken,
  post-exploitation, and one per CVE of rules outside a campaign), malware "web shell" for
  Webshell rules, a vulnerability per CVE (external reference source_name "cve");
- relationships: indicator indicates attack-pattern/malware, attack-pattern targets
  vulnerability, and indicator related-to vulnerability where no attack-pattern carries the CVE.

Deterministic: ids are UUIDv5 and times come from the report, so the same report gives the same
bytes. Objects that are knowledge rather than this run's findings (producer, campaigns, malware,
vulnerabilities and their links) have ids from their names and a fixed creation time, so that
bundles of different runs agree on them; the rest is keyed by the report's generated_at.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .indicator_export import (
    HostRedactor,
    IndicatorRow,
    indicator_rows,
    parse_time,
    report_hosts,
    severity_rank,
)

PRODUCER = "exchange-remediation"
# Fixed creation time of the knowledge objects (the day this exporter was written).
KNOWLEDGE_CREATED = "2026-11-29T00:00:00.000Z"
NO_REPORT_TIME = "1970-01-01T00:00:00.000Z"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:exchange-remediation:stix")
STIX_TYPES = ("ipv4-addr", "ipv6-addr", "user-agent", "file-path", "sha256")
_EXPLOIT_PUBLIC_APP = {"source_name": "mitre-attack", "external_id": "T1190",
                       "url": "https://attack.mitre.org/techniques/T1190/"}
_WEB_SHELL_TECHNIQUE = {"source_name": "mitre-attack", "external_id": "T1505.003",
                        "url": "https://attack.mitre.org/techniques/T1505/003/"}
CAMPAIGNS = {
    "ProxyLogon": "ProxyLogon: SSRF in the Exchange front end (CVE-2021-26855) chained with post-authentication "
                  "file writes (CVE-2021-26858, CVE-2021-27065) and UM deserialisation (CVE-2021-26857).",
    "ProxyShell": "ProxyShell: autodiscover path confusion (CVE-2021-34473), PowerShell backend elevation "
                  "(CVE-2021-34523) and mailbox export to a web folder (CVE-2021-31207).",
    "ProxyNotShell": "ProxyNotShell: autodiscover SSRF (CVE-2022-41040) to remote PowerShell code execution "
                     "(CVE-2022-41082).",
    "OWASSRF": "OWASSRF: SSRF through OWA (CVE-2022-41080) to remote PowerShell code execution (CVE-2022-41082).",
    "ProxyToken": "ProxyToken: ECP authentication bypass (CVE-2021-33766) to change a mailbox's rules.",
}
POST_EXPLOITATION = "Exchange post-exploitation"
WEB_SHELL = "Exchange web shell"
_LABELS = {"ipv4-addr": "IP address", "ipv6-addr": "IPv6 address", "user-agent": "User agent",
           "file-path": "File", "sha256": "File SHA-256"}


def stix_bundle(report: Mapping[str, Any], include_hostnames: bool = True) -> str:
    """JSON text of the bundle (pretty-printed, ending in a newline). Raises ImportError without stix2."""
    return _Builder(report, include_hostnames).build()


def pattern_string(value: str) -> str:
    """A STIX pattern string literal: backslash and quote escaped, in quotes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def indicator_pattern(kind: str, value: str) -> str:
    if kind in ("ipv4-addr", "ipv6-addr"):
        return f"[{kind}:value = {pattern_string(value)}]"
    if kind == "user-agent":
        return ("[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = "
                f"{pattern_string(value)}]")
    if kind == "sha256":
        return f"[file:hashes.'SHA-256' = {pattern_string(value)}]"
    if kind == "file-path":
        folder, _sep, name = value.rpartition("\\")
        if folder and name:
            return (f"[file:name = {pattern_string(name)} AND "
                    f"file:parent_directory_ref.path = {pattern_string(folder)}]")
        return f"[file:name = {pattern_string(value)}]"
    raise ValueError(f"no STIX pattern for {kind}")


@dataclass
class _Rule:
    title: str
    attack: str
    cves: tuple[str, ...]


@dataclass
class _Observable:
    kind: str
    value: str
    rows: list[IndicatorRow] = field(default_factory=list)


class _Builder:
    def __init__(self, report: Mapping[str, Any], include_hostnames: bool) -> None:
        import stix2  # the package is only needed for this export

        self.stix2 = stix2
        self.report = report
        self.include_hostnames = include_hostnames
        self.redact = (lambda text: text) if include_hostnames else HostRedactor.of_report(report)
        generated = report.get("generated_at")
        self.report_time = generated if isinstance(generated, str) and parse_time(generated) else NO_REPORT_TIME
        self.rows = [row for row in indicator_rows(report, include_hostnames) if row.type in STIX_TYPES]
        self.rules = self._rules()
        self.objects: dict[str, Any] = {}
        self.producer = self._add(stix2.v21.Identity(
            id=self._knowledge_id("identity", PRODUCER), created=KNOWLEDGE_CREATED, modified=KNOWLEDGE_CREATED,
            name=PRODUCER, identity_class="system",
            description="Exchange Server assessment and compromise hunt (report.json), exported as STIX 2.1."))

    # ------------------------------------------------------------------ ids and times

    def _knowledge_id(self, kind: str, key: str) -> str:
        return f"{kind}--{uuid.uuid5(NAMESPACE, f'{kind}|{key}')}"

    def _report_id(self, kind: str, key: str) -> str:
        return f"{kind}--{uuid.uuid5(NAMESPACE, f'{self.report_time}|{kind}|{key}')}"

    def _add(self, obj: Any) -> Any:
        self.objects[obj.id] = obj
        return obj

    def _report_common(self) -> dict[str, Any]:
        return {"created": self.report_time, "modified": self.report_time, "created_by_ref": self.producer.id}

    def _knowledge_common(self) -> dict[str, Any]:
        return {"created": KNOWLEDGE_CREATED, "modified": KNOWLEDGE_CREATED, "created_by_ref": self.producer.id}

    # ------------------------------------------------------------------ report data

    def _rules(self) -> dict[str, _Rule]:
        """Rule id -> title, attack and CVEs, as the report's indicators state them."""
        rules: dict[str, _Rule] = {}
        for _name, host in sorted(report_hosts(self.report).items()):
            indicators = host.get("indicators")
            for indicator in indicators if isinstance(indicators, list) else ():
                if not isinstance(indicator, Mapping) or not indicator.get("rule"):
                    continue
                cves = indicator.get("cves")
                cve_list = [str(c) for c in cves] if isinstance(cves, list) else (
                    [str(indicator["cve"])] if indicator.get("cve") else [])
                rules.setdefault(str(indicator["rule"]), _Rule(
                    self.redact(str(indicator.get("title") or indicator["rule"])),
                    str(indicator.get("attack") or "Other"), tuple(cve_list)))
        return rules

    # ------------------------------------------------------------------ knowledge objects

    def vulnerability(self, cve: str) -> Any:
        object_id = self._knowledge_id("vulnerability", cve)
        if object_id not in self.objects:
            self._add(self.stix2.v21.Vulnerability(
                id=object_id, name=cve, **self._knowledge_common(),
                external_references=[{"source_name": "cve", "external_id": cve,
                                      "url": f"https://www.cve.org/CVERecord?id={cve}"}]))
        return self.objects[object_id]

    def relationship(self, source: str, kind: str, target: str, knowledge: bool) -> None:
        key = f"{source}|{kind}|{target}"
        object_id = self._knowledge_id("relationship", key) if knowledge else self._report_id("relationship", key)
        if object_id not in self.objects:
            common = self._knowledge_common() if knowledge else self._report_common()
            self._add(self.stix2.v21.Relationship(id=object_id, relationship_type=kind, source_ref=source,
                                                  target_ref=target, **common))

    def attack_pattern(self, name: str, description: str, cves: Iterable[str], technique: bool) -> Any:
        object_id = self._knowledge_id("attack-pattern", name)
        if object_id not in self.objects:
            self._add(self.stix2.v21.AttackPattern(
                id=object_id, name=name, description=description, **self._knowledge_common(),
                external_references=[_EXPLOIT_PUBLIC_APP] if technique else None))
        for cve in cves:
            self.relationship(object_id, "targets", self.vulnerability(cve).id, knowledge=True)
        return self.objects[object_id]

    def web_shell(self) -> Any:
        object_id = self._knowledge_id("malware", WEB_SHELL)
        if object_id not in self.objects:
            self._add(self.stix2.v21.Malware(
                id=object_id, name=WEB_SHELL, is_family=True, malware_types=["webshell"], **self._knowledge_common(),
                description="A page planted in an Exchange or IIS web folder that runs the attacker's commands.",
                external_references=[_WEB_SHELL_TECHNIQUE]))
        return self.objects[object_id]

    def targets_of(self, rule: _Rule) -> tuple[list[str], list[str]]:
        """(ids the indicator indicates, CVE vulnerability ids it is only related to) for one rule."""
        if rule.attack in CAMPAIGNS:
            return [self.attack_pattern(rule.attack, CAMPAIGNS[rule.attack], rule.cves, True).id], []
        if rule.attack == "PostExploitation":
            indicated = [self.attack_pattern(POST_EXPLOITATION, "Staging, credential dumping and commands run "
                                             "through a web shell after an Exchange compromise.", (), False).id]
            return indicated, [self.vulnerability(cve).id for cve in rule.cves]
        if rule.attack == "Webshell":
            return [self.web_shell().id], [self.vulnerability(cve).id for cve in rule.cves]
        if rule.cves:
            # A rule outside the named campaigns that is still about one vulnerability ("Other").
            return [self.attack_pattern(f"Exploitation of {cve}", f"Exploitation of {cve} on Exchange Server.",
                                        (cve,), True).id for cve in rule.cves], []
        return [], []

    # ------------------------------------------------------------------ report objects

    def server(self, server: str) -> Any:
        object_id = self._report_id("identity", server)
        if object_id not in self.objects:
            description = "Exchange server"
            if self.include_hostnames:
                host = report_hosts(self.report).get(server) or {}
                exchange = host.get("exchange") if isinstance(host.get("exchange"), Mapping) else {}
                product = " ".join(str(exchange[key]) for key in ("product", "cu", "su") if exchange.get(key))
                description = f"Exchange server ({product})" if product else description
            else:
                description = "Exchange server (name withheld; the pseudonym is stable for this estate)"
            self._add(self.stix2.v21.Identity(id=object_id, name=server, identity_class="system",
                                              description=description, **self._report_common()))
        return self.objects[object_id]

    def indicator(self, observable: _Observable) -> None:
        rows = observable.rows
        rule_ids = sorted({rule for row in rows for rule in row.rules})
        attacks = sorted({attack for row in rows for attack in row.attacks})
        cves = sorted({cve for row in rows for cve in row.cves})
        severity = max((row.severity for row in rows), key=severity_rank)
        attempt = all(row.attempt for row in rows)
        private = any(row.scope == "private" for row in rows)
        seen = sorted((parse_time(row.first_seen), row.first_seen) for row in rows if parse_time(row.first_seen))
        label = _LABELS[observable.kind]
        parts = [f"{label} in the evidence of {len(rows)} Exchange server{'s' if len(rows) != 1 else ''}, "
                 f"highest severity {severity}."]
        parts.append("Rules: " + "; ".join(
            f"{rule} ({self.rules[rule].title})" if rule in self.rules else rule for rule in rule_ids) + ".")
        if attacks:
            parts.append("Campaigns: " + ", ".join(attacks) + ".")
        if cves:
            parts.append("CVEs: " + ", ".join(cves) + ".")
        if attempt:
            parts.append("Attempt only: every sighting was logged when the server was no longer (or never) open to "
                         "the campaign.")
        if private:
            parts.append("Private address: not routable on the internet; it names a machine inside the network "
                         "(or a proxy).")
        if observable.kind == "user-agent":
            parts.append("The user agent is exactly as logged: IIS W3C logs write spaces as '+', Exchange CSV logs "
                         "write commas as spaces.")
        labels = {"exchange", f"severity-{severity}", *(attack.lower() for attack in attacks)}
        if attempt:
            labels.add("attempt")
        if private:
            labels.add("private-address")
        key = f"{observable.kind}|{observable.value}"
        indicator = self._add(self.stix2.v21.Indicator(
            id=self._report_id("indicator", key), **self._report_common(),
            name=f"{label} {observable.value}"[:250], description=" ".join(parts),
            indicator_types=["malicious-activity" if severity_rank(severity) >= severity_rank("high")
                             else "anomalous-activity"],
            pattern=indicator_pattern(observable.kind, observable.value), pattern_type="stix",
            pattern_version="2.1", valid_from=seen[0][1] if seen else self.report_time, labels=sorted(labels)))
        for rule_id in rule_ids:
            rule = self.rules.get(rule_id)
            if rule is None:
                continue
            indicated, related = self.targets_of(rule)
            for target in indicated:
                self.relationship(indicator.id, "indicates", target, knowledge=False)
            for target in related:
                self.relationship(indicator.id, "related-to", target, knowledge=False)
        for row in rows:
            self.sighting(indicator.id, row)

    def sighting(self, indicator_id: str, row: IndicatorRow) -> None:
        where = self.server(row.server)
        extra: dict[str, Any] = {}
        if row.first_seen and parse_time(row.first_seen):
            extra["first_seen"] = row.first_seen
        if row.last_seen and parse_time(row.last_seen):
            extra["last_seen"] = row.last_seen
        description = (f"{row.sightings} log line(s), event(s) or file(s) on {row.server}; rules "
                       f"{', '.join(row.rules)}; severity {row.severity}")
        if row.attempt:
            description += "; attempt only (the server was not open to the campaign then)"
        self._add(self.stix2.v21.Sighting(
            id=self._report_id("sighting", f"{indicator_id}|{row.server}"), **self._report_common(),
            sighting_of_ref=indicator_id, where_sighted_refs=[where.id], count=min(row.sightings, 999_999_999),
            description=description, labels=["attempt"] if row.attempt else None, **extra))

    # ------------------------------------------------------------------ the bundle

    def build(self) -> str:
        observables: dict[tuple[str, str], _Observable] = {}
        for row in self.rows:
            observables.setdefault((row.type, row.value), _Observable(row.type, row.value)).rows.append(row)
        for key in sorted(observables, key=lambda k: (STIX_TYPES.index(k[0]), k[1])):
            self.indicator(observables[key])
        order = ("identity", "vulnerability", "attack-pattern", "malware", "indicator", "sighting", "relationship")
        objects = sorted(self.objects.values(),
                         key=lambda obj: (order.index(obj.type), obj.id != self.producer.id, obj.id))
        content = "|".join(obj.id for obj in objects)
        bundle = self.stix2.v21.Bundle(
            id=f"bundle--{uuid.uuid5(NAMESPACE, f'{self.report_time}|{self.include_hostnames}|{content}')}",
            objects=objects, allow_custom=False)
        # stix2's pretty=True orders each object's properties with a search that grows with the
        # bundle (minutes for a thousand servers); its plain serialisation keeps the same order,
        # and json indents it.
        return json.dumps(json.loads(bundle.serialize()), indent=4, ensure_ascii=False) + "\n"

