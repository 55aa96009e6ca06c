"""The STIX 2.1 bundle of a report: valid for stix2's parser, valid patterns, the sightings and
links a CERT needs, no server names when asked, and the same bytes for the same report."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
import stix2
from report_samples import sample_report
from stix2patterns.validator import run_validator
from test_indicator_export import SHELL, SHELL_COPY, demo_report, sample_with_observables

from exchange_remediation.indicator_export import indicator_rows, report_host_names, server_pseudonyms
from exchange_remediation.stix_export import PRODUCER, indicator_pattern, pattern_string, stix_bundle


def objects(text: str) -> list[dict[str, Any]]:
    return json.loads(text)["objects"]


def of_type(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in items if item["type"] == kind]


def indicator_for(items: list[dict[str, Any]], pattern: str) -> dict[str, Any]:
    [found] = [item for item in of_type(items, "indicator") if item["pattern"] == pattern]
    return found


def targets(items: list[dict[str, Any]], source: str, kind: str) -> list[dict[str, Any]]:
    by_id = {item["id"]: item for item in items}
    return [by_id[item["target_ref"]] for item in of_type(items, "relationship")
            if item["source_ref"] == source and item["relationship_type"] == kind]


@pytest.fixture(scope="module")
def demo_text() -> str:
    return stix_bundle(demo_report())


@pytest.fixture(scope="module")
def demo_objects(demo_text: str) -> list[dict[str, Any]]:
    return objects(demo_text)


def test_the_bundle_parses_strictly(demo_text):
    bundle = stix2.parse(demo_text, allow_custom=False)
    assert bundle.type == "bundle"
    kinds = {obj.type for obj in bundle.objects}
    assert kinds == {"identity", "vulnerability", "attack-pattern", "malware", "indicator", "sighting", "relationship"}
    assert all(obj.spec_version == "2.1" for obj in bundle.objects)


def test_every_pattern_is_valid_stix_2_1(demo_objects):
    indicators = of_type(demo_objects, "indicator")
    assert indicators
    for indicator in indicators:
        assert indicator["pattern_type"] == "stix"
        assert run_validator(indicator["pattern"], stix_version="2.1") == [], indicator["pattern"]


def test_attacker_address_sighting_matches_the_report(demo_objects):
    report = demo_report()
    [row] = [row for row in indicator_rows(report) if row.value == "104.140.114.110"]
    indicator = indicator_for(demo_objects, "[ipv4-addr:value = '104.140.114.110']")
    assert indicator["indicator_types"] == ["malicious-activity"]
    assert {"exchange", "proxylogon", "severity-critical"} <= set(indicator["labels"])
    assert "attempt" not in indicator["labels"] and "private-address" not in indicator["labels"]
    [sighting] = [item for item in of_type(demo_objects, "sighting") if item["sighting_of_ref"] == indicator["id"]]
    assert sighting["count"] == row.sightings
    hits = [hit["time"] for hit in report["hosts"]["ex16-legacy"]["indicators"]
            if (hit.get("observables") or {}).get("ip") == "104.140.114.110"]
    parsed = stix2.parse(json.dumps(sighting), allow_custom=False)
    assert parsed.first_seen == min(stix2.utils.parse_into_datetime(time) for time in hits)
    assert parsed.last_seen == max(stix2.utils.parse_into_datetime(time) for time in hits)
    [where] = [item for item in demo_objects if item["id"] == sighting["where_sighted_refs"][0]]
    assert (where["type"], where["name"], where["identity_class"]) == ("identity", "ex16-legacy", "system")
    assert "Exchange Server 2016 CU19" in where["description"]
    producer = [item for item in of_type(demo_objects, "identity") if item["name"] == PRODUCER]
    assert len(producer) == 1 and sighting["created_by_ref"] == producer[0]["id"]
    # The address indicates the ProxyLogon campaign, which targets CVE-2021-26855.
    [campaign] = [item for item in targets(demo_objects, indicator["id"], "indicates") if item["name"] == "ProxyLogon"]
    assert campaign["type"] == "attack-pattern"
    assert "CVE-2021-26855" in {item["name"] for item in targets(demo_objects, campaign["id"], "targets")}


def test_web_shell_hash_and_file_indicators(demo_objects):
    digest = hashlib.sha256(SHELL_COPY.read_bytes()).hexdigest()
    sha = indicator_for(demo_objects, f"[file:hashes.'SHA-256' = '{digest}']")
    [malware] = targets(demo_objects, sha["id"], "indicates")
    assert (malware["type"], malware["malware_types"], malware["is_family"]) == ("malware", ["webshell"], True)
    path = indicator_for(demo_objects, "[file:name = '4BETNm9k.aspx' AND file:parent_directory_ref.path = "
                                       "'C:\\\\inetpub\\\\wwwroot\\\\aspnet_client\\\\system_web']")
    assert path["name"] == f"File {SHELL}"


def test_user_agents_are_patterns_on_the_http_header(demo_objects):
    indicator = indicator_for(demo_objects, "[network-traffic:extensions.'http-request-ext'.request_header."
                                            "'User-Agent' = 'python-requests/2.25.1']")
    assert indicator["valid_from"].startswith("2021-03-03T06:49:38")
    crawler = [item for item in of_type(demo_objects, "indicator") if "Baiduspider" in item["pattern"]]
    assert crawler and "spaces as '+'" in crawler[0]["description"]
    # URL stems are Exchange's own relative paths: CSV only, never a STIX url pattern.
    assert not any(item["pattern"].startswith("[url:") for item in of_type(demo_objects, "indicator"))


def test_vulnerabilities_carry_cve_references(demo_objects):
    vulnerabilities = of_type(demo_objects, "vulnerability")
    names = {item["name"] for item in vulnerabilities}
    rows = indicator_rows(demo_report())
    assert names == {cve for row in rows if row.type != "url" for cve in row.cves}
    for item in vulnerabilities:
        assert item["external_references"][0]["source_name"] == "cve"
        assert item["external_references"][0]["external_id"] == item["name"]
    campaigns = {item["name"] for item in of_type(demo_objects, "attack-pattern")}
    assert {"ProxyLogon", "ProxyShell", "ProxyNotShell"} <= campaigns


def test_every_reference_resolves_inside_the_bundle(demo_objects):
    ids = {item["id"] for item in demo_objects}
    assert len(ids) == len(demo_objects)
    for item in demo_objects:
        for key in ("created_by_ref", "sighting_of_ref", "source_ref", "target_ref"):
            if key in item:
                assert item[key] in ids, (item["id"], key)
        for ref in item.get("where_sighted_refs", []):
            assert ref in ids
    # Every demo observable was seen by a campaign or web shell rule, not only by context rules.
    for indicator in of_type(demo_objects, "indicator"):
        assert targets(demo_objects, indicator["id"], "indicates"), indicator["pattern"]


def test_attempts_and_private_addresses_are_labelled(demo_objects):
    indicator = indicator_for(demo_objects, "[ipv4-addr:value = '192.0.2.45']")
    assert {"attempt", "private-address", "proxyshell", "proxynotshell"} <= set(indicator["labels"])
    assert "Attempt only" in indicator["description"]
    assert "Private address" in indicator["description"]
    [sighting] = [item for item in of_type(demo_objects, "sighting") if item["sighting_of_ref"] == indicator["id"]]
    assert sighting["labels"] == ["attempt"]


def test_no_hostnames_names_no_server():
    report = demo_report()
    legacy = report["hosts"]["ex16-legacy"]
    legacy["indicators"].append({**legacy["indicators"][0], "line": 9999,
                                 "title": "Planted page named after EX16-LEGACY",
                                 "rule": "TEST-HOSTNAME-IN-PATH",
                                 "observables": {"path": "C:\\inetpub\\wwwroot\\aspnet_client\\ex16-legacy.aspx"}})
    text = stix_bundle(report, include_hostnames=False)
    stix2.parse(text, allow_custom=False)
    for name in report_host_names(report):
        assert name.lower() not in text.lower(), name
    servers = {item["name"] for item in of_type(objects(text), "identity")} - {PRODUCER}
    pseudonyms = server_pseudonyms(report)
    assert servers == {pseudonyms["ex16-legacy"], pseudonyms["ex16-patched"]}
    assert "[redacted].aspx" in text
    assert "ex16-legacy.aspx" in stix_bundle(report)


def test_same_report_same_bytes(demo_text):
    assert stix_bundle(demo_report()) == demo_text
    shuffled = demo_report()
    shuffled["hosts"] = dict(reversed(list(shuffled["hosts"].items())))
    assert stix_bundle(shuffled) == demo_text
    assert stix_bundle(demo_report(), include_hostnames=False) == stix_bundle(demo_report(), include_hostnames=False)
    # Another run of the same estate shares the knowledge objects, not the findings.
    later = demo_report()
    later["generated_at"] = "2026-11-30T02:00:00Z"
    first, second = objects(demo_text), objects(stix_bundle(later))
    shared = {item["id"] for item in first} & {item["id"] for item in second}
    assert {item["type"] for item in first if item["id"] in shared} == {
        "identity", "vulnerability", "attack-pattern", "malware", "relationship"}
    assert not {item["id"] for item in of_type(first, "indicator")} & shared


def test_older_reports_give_a_bundle_with_only_the_producer():
    text = stix_bundle(sample_report())
    stix2.parse(text, allow_custom=False)
    assert [item["name"] for item in objects(text)] == [PRODUCER]


def test_sample_report_with_observables():
    text = stix_bundle(sample_with_observables(), include_hostnames=False)
    stix2.parse(text, allow_custom=False)
    items = objects(text)
    indicator = indicator_for(items, "[ipv4-addr:value = '198.51.100.7']")
    assert {"attempt", "private-address"} <= set(indicator["labels"])
    assert "ex16" not in text.lower() and "contoso" not in text.lower()


@pytest.mark.parametrize("value", ["Mozilla/5.0 'quoted' \\backslash\\", "a'];[ipv4-addr:value = '1.2.3.4"])
def test_hostile_values_stay_one_valid_pattern(value):
    pattern = indicator_pattern("user-agent", value)
    assert run_validator(pattern, stix_version="2.1") == []
    assert pattern.endswith(pattern_string(value) + "]")
    report = sample_with_observables()
    report["hosts"]["ex16"]["indicators"][0]["observables"]["user_agent"] = value
    items = objects(stix_bundle(copy.deepcopy(report)))
    assert indicator_for(items, pattern)["name"] == f"User agent {value}"
