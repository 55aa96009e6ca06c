"""Indicator rows and their CSV, on the real demo estate's report (hunted and assessed in-process)
and on the shared sample report with the observables the hunt would have recorded."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import functools
import hashlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from report_samples import sample_report

from exchange_remediation.estate_assessment import assess_estate
from exchange_remediation.estate_hunt import hunt_estate
from exchange_remediation.estate_report import build_report
from exchange_remediation.indicator_export import (
    CSV_COLUMNS,
    REDACTED,
    TYPES,
    HostRedactor,
    indicator_rows,
    indicators_csv,
    report_host_names,
    safe_cell,
    server_pseudonyms,
)

REPO = Path(__file__).resolve().parents[2]
DATA = str(REPO / "data")
DEMO = REPO / "inventories" / "demo" / "evidence"
SHELL = "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\4BETNm9k.aspx"
SHELL_COPY = DEMO / "ex16-legacy" / "files/C/inetpub/wwwroot/aspnet_client/system_web/4BETNm9k.aspx"


@functools.lru_cache(maxsize=1)
def _demo_report() -> dict[str, Any]:
    specs = {folder.name: {"evidence_dir": str(folder), "source": "evidence"}
             for folder in sorted(DEMO.iterdir()) if folder.is_dir()}
    hunt = hunt_estate(specs, DATA)
    hosts = assess_estate(specs, DATA, dt.date(2026, 11, 29), hunt=hunt).hosts
    return build_report(hosts, "2026-11-29T02:00:00Z", {"playbook": "playbooks/assess.yml"})


def demo_report() -> dict[str, Any]:
    """The demo estate's report.json as assess.yml builds it (a fresh copy each call)."""
    return copy.deepcopy(_demo_report())


def sample_with_observables() -> dict[str, Any]:
    """sample_report() with the observables the hunt records for its findings' rows (the IIS and
    HttpProxy lines of report_samples, log-formats.md §2 and §7)."""
    report = sample_report()
    ex16 = report["hosts"]["ex16"]["indicators"]
    by_rule = {indicator["rule"]: indicator for indicator in ex16}
    for rule in ("PL-26855-HTTPPROXY", "PL-26855-BLOG"):
        line = by_rule[rule]["evidence"].split(",")
        by_rule[rule]["observables"] = {"ip": line[17], "user_agent": line[16], "url": line[9]}
    access = by_rule["PL-WEBSHELL-ACCESS"]["evidence"].split()
    by_rule["PL-WEBSHELL-ACCESS"]["observables"] = {"ip": access[8], "user_agent": access[9], "url": access[4]}
    for indicator in report["hosts"]["ex16-patched"]["indicators"]:
        row = indicator["evidence"].split(" ")
        indicator["observables"] = {"ip": row[8], "url": row[4]}
    return report


def rows_by(rows, **match):
    return [row for row in rows if all(getattr(row, key) == value for key, value in match.items())]


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def stamp(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


# --------------------------------------------------------------------------------- the demo estate


def test_attacker_address_row_matches_the_reports_indicators():
    report = demo_report()
    rows = indicator_rows(report)
    [row] = rows_by(rows, type="ipv4-addr", value="104.140.114.110")
    # Worked out from the report independently of the exporter.
    hits = [indicator for indicator in report["hosts"]["ex16-legacy"]["indicators"]
            if (indicator.get("observables") or {}).get("ip") == "104.140.114.110"]
    assert hits
    times = sorted(hits, key=lambda indicator: stamp(indicator["time"]))
    assert row.first_seen == times[0]["time"]
    assert row.last_seen == times[-1]["time"]
    assert row.first_seen.startswith("2021-03-03T06:49:30")
    assert row.sightings == len({(hit["source"].lower(), hit["line"], hit["time"]) for hit in hits})
    assert row.rules == tuple(sorted({hit["rule"] for hit in hits}))
    assert "PL-26855-HTTPPROXY" in row.rules
    assert row.cves == tuple(sorted({cve for hit in hits for cve in hit["cves"]}))
    assert row.server == "ex16-legacy"
    assert row.scope == "public"
    assert row.severity == "critical"
    assert row.attempt is False
    assert set(row.attacks) == {"Context", "ProxyLogon"}


def test_web_shell_file_and_hash_rows():
    rows = indicator_rows(demo_report())
    [path] = rows_by(rows, type="file-path", server="ex16-legacy")
    assert path.value == SHELL
    [sha] = rows_by(rows, type="sha256", server="ex16-legacy")
    assert sha.value == hashlib.sha256(SHELL_COPY.read_bytes()).hexdigest()
    assert sha.severity == "critical"
    assert "WEBSHELL-CONTENT" in sha.rules
    assert sha.attacks == ("Webshell",)
    assert sha.scope == "" and path.scope == ""


def test_refused_attempts_on_the_patched_server_are_marked():
    rows = rows_by(indicator_rows(demo_report()), server="ex16-patched")
    assert rows
    assert all(row.attempt for row in rows)
    addresses = {row.value: row for row in rows if row.type == "ipv4-addr"}
    # 192.0.2.0/24 is a documentation range: not globally routable, exported with scope private.
    assert set(addresses) == {"192.0.2.45", "192.0.2.91", "192.0.2.200"}
    assert all(row.scope == "private" for row in addresses.values())
    # The IIS row keeps '+' for spaces, the HttpProxy row the spaces: two values, as logged.
    agents = {row.value for row in rows if row.type == "user-agent"}
    assert {"Mozilla/5.0+zgrab/0.x", "Mozilla/5.0 zgrab/0.x"} <= agents


def test_one_row_per_observable_and_server_in_a_stable_order():
    rows = indicator_rows(demo_report())
    keys = [(row.type, row.value, row.server) for row in rows]
    assert len(keys) == len(set(keys))
    assert rows == sorted(rows, key=lambda row: (row.server, TYPES.index(row.type), row.value))
    assert {row.type for row in rows} == {"ipv4-addr", "user-agent", "file-path", "sha256", "url"}
    # Servers without findings have no rows; the benign ones of the demo have no observables.
    assert {row.server for row in rows} == {"ex16-legacy", "ex16-patched"}


def test_pseudonyms_follow_the_sorted_inventory():
    report = demo_report()
    names = sorted(report["hosts"])
    pseudonyms = server_pseudonyms(report)
    assert pseudonyms[names[0]] == "server-01"
    assert pseudonyms["ex16-legacy"] == f"server-{names.index('ex16-legacy') + 1:02d}"
    rows = indicator_rows(report, include_hostnames=False)
    assert {row.server for row in rows} == {pseudonyms["ex16-legacy"], pseudonyms["ex16-patched"]}
    # Apart from the server column the rows are those with hostnames.
    plain = indicator_rows(report)
    assert [(r.type, r.value, r.sightings, r.first_seen) for r in rows] == \
           [(r.type, r.value, r.sightings, r.first_seen) for r in plain]


def test_no_hostnames_leaves_no_server_name_in_the_csv():
    report = demo_report()
    # A request whose path names the server (as a planted page named after the host would).
    legacy = report["hosts"]["ex16-legacy"]
    legacy["indicators"].append({**legacy["indicators"][0], "line": 9999,
                                 "observables": {"url": "/owa/auth/EX16-LEGACY.aspx",
                                                 "user_agent": "curl/7.68 (ex16-legacy.contoso.local)"}})
    text = indicators_csv(indicator_rows(report, include_hostnames=False))
    for name in report_host_names(report):
        assert name.lower() not in text.lower(), name
    assert "/owa/auth/[redacted].aspx" in text
    assert f"curl/7.68 ({REDACTED})" in text
    with_names = indicators_csv(indicator_rows(report))
    assert "/owa/auth/EX16-LEGACY.aspx" in with_names


def test_redactor_takes_the_longest_name_and_escapes_regex_characters():
    report = sample_with_observables()
    redact = HostRedactor.of_report(report)
    assert redact("from EX16-PATCHED<B>|`X` to ex16-patched.contoso.local") == "from [redacted] to [redacted]"
    assert redact("ex16.CONTOSO.local:444 and EX16") == "[redacted]:444 and [redacted]"
    assert redact("nothing here") == "nothing here"


# --------------------------------------------------------------------------------- the CSV


def test_csv_is_rfc4180_with_crlf_and_reads_back():
    rows = indicator_rows(demo_report())
    text = indicators_csv(rows)
    assert text.startswith(",".join(CSV_COLUMNS) + "\r\n")
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    read = parse_csv(text)
    assert len(read) == len(rows)
    [address] = [line for line in read if line["value"] == "104.140.114.110"]
    [row] = rows_by(rows, value="104.140.114.110")
    assert address == {"type": "ipv4-addr", "value": "104.140.114.110", "scope": "public",
                       "first_seen": row.first_seen, "last_seen": row.last_seen, "sightings": str(row.sightings),
                       "server": "ex16-legacy", "severity": "critical", "attempt": "false",
                       "attacks": "Context ProxyLogon", "rules": " ".join(row.rules), "cves": " ".join(row.cves)}
    # The IIS user agent holds a comma: quoted, and read back whole.
    assert any(line["value"].startswith("Mozilla/5.0+(Windows+NT+10.0;") and "(KHTML,+like+Gecko)" in line["value"]
               for line in read)


@pytest.mark.parametrize("value", ["=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)*cmd|'/C calc'!A0",
                                   "\t=1+1"])
def test_formula_injection_is_defused(value):
    report = sample_with_observables()
    indicator = report["hosts"]["ex16"]["indicators"][0]
    indicator["observables"]["user_agent"] = value
    text = indicators_csv(indicator_rows(report))
    [line] = [line for line in parse_csv(text) if line["type"] == "user-agent" and line["value"].endswith(value)]
    assert line["value"] == "'" + value
    assert safe_cell("Mozilla/5.0") == "Mozilla/5.0"


def test_sample_report_rows():
    rows = indicator_rows(sample_with_observables())
    [proxy] = rows_by(rows, type="ipv4-addr", value="203.0.113.45")
    # Two findings on two HttpProxy lines of the same client.
    assert (proxy.sightings, proxy.first_seen, proxy.last_seen) == (2, "2021-03-03T06:49:42.162Z",
                                                                   "2021-03-03T06:49:46.210Z")
    assert proxy.severity == "critical" and proxy.scope == "private"
    [hostile] = rows_by(rows, type="ipv4-addr", value="198.51.100.7")
    # One IIS line, two rules: one sighting, both attempts.
    assert (hostile.sightings, hostile.attempt, hostile.rules) == (
        1, True, ("PNS-IIS-AUTODISCOVER-POWERSHELL", "PS-IIS-AUTODISCOVER"))


def test_reports_without_observables_give_no_rows():
    assert indicator_rows(sample_report()) == []
    assert indicators_csv([]) == ",".join(CSV_COLUMNS) + "\r\n"
    assert indicator_rows({"schema": 1, "hosts": {}}) == []


def test_bad_observables_are_skipped():
    report = sample_with_observables()
    indicator = report["hosts"]["ex16"]["indicators"][0]
    indicator["observables"] = {"ip": "not-an-address", "sha256": "46dd", "user_agent": 7, "colour": "red",
                                "path": SHELL}
    rows = rows_by(indicator_rows(report), server="ex16")
    assert {(row.type, row.value) for row in rows if row.rules == ("PL-26855-HTTPPROXY",)} == {("file-path", SHELL)}


def test_ipv6_addresses():
    report = sample_with_observables()
    report["hosts"]["ex16"]["indicators"][0]["observables"]["ip"] = "2001:db8:0::45"
    report["hosts"]["ex16"]["indicators"][1]["observables"] = {"ip": "2a03:2880:f12f:83:face:b00c::25de"}
    rows = indicator_rows(report)
    assert [(r.value, r.scope) for r in rows_by(rows, type="ipv6-addr")] == [
        ("2001:db8::45", "private"), ("2a03:2880:f12f:83:face:b00c:0:25de", "public")]


def test_same_report_same_bytes_whatever_the_order():
    report = demo_report()
    first = indicators_csv(indicator_rows(report, include_hostnames=False))
    shuffled = copy.deepcopy(report)
    shuffled["hosts"] = dict(reversed(list(shuffled["hosts"].items())))
    for host in shuffled["hosts"].values():
        host["indicators"] = list(reversed(host.get("indicators") or []))
    assert indicators_csv(indicator_rows(shuffled, include_hostnames=False)) == first
    assert re.search(r"server-\d\d", first)


def test_redactor_finds_names_inside_longer_words_but_not_inside_other_names():
    redact = HostRedactor(["ex16-legacy", "ex16-legacy.contoso.local", "ex19-dag1"])
    assert redact("ServerInfo~a]@ex16-legacy.contoso.local:444/ecp/x") == "ServerInfo~a]@[redacted]:444/ecp/x"
    assert redact("\\\\EX16-LEGACY\\c$") == "\\\\[redacted]\\c$"
    assert redact("ex16-legacy-ecp.contoso.local") == "[redacted]-ecp.contoso.local"
    assert redact("EX19-DAG1.contoso.local and ex19-dag10") == "[redacted].contoso.local and ex19-dag10"
    assert redact("mail.contoso.com") == "mail.contoso.com"


def test_redaction_over_thousands_of_names_finds_each_one():
    # 2,400 names: an MSP's thousand-server estate, FQDNs and host names.
    names = [f"ex19-mbx{index:04d}.corp.example" for index in range(1200)]
    names += [f"EX19-MBX{index:04d}" for index in range(1200)]
    redact = HostRedactor(names)
    line = "POST /ecp/y.js from 104.140.114.110 via EX19-MBX0999.corp.example to ex19-mbx1199 " * 50
    assert redact(line).count(REDACTED) == 100
    assert "mbx" not in redact(line).lower()
