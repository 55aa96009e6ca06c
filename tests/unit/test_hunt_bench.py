"""tools/hunt_bench.py in its small mode: the corpus, where its attacks are, and the tool comparisons."""

from __future__ import annotations

import json
import shutil

import hunt_bench
import pytest

EX = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return hunt_bench.generate_corpus(tmp_path_factory.mktemp("bench"), 5)


def test_small_corpus_is_an_evidence_bundle_of_the_requested_size(corpus):
    assert 4.5 * hunt_bench.MB < corpus.bytes < 5.5 * hunt_bench.MB
    server = json.loads((corpus.bundle / "server.json").read_text())
    assert server["exchange"] == {"exsetup_version": "15.01.2176.002", "install_path": EX}
    logging = corpus.bundle.joinpath(*hunt_bench.EX_BUNDLE, "Logging")
    protocols = {path.parent.name for path in (logging / "HttpProxy").glob("*/HttpProxy_*.LOG")}
    assert protocols == set(hunt_bench.PROTOCOL_WEIGHTS)
    first = next((logging / "HttpProxy" / "Ecp").glob("*.LOG")).read_bytes().split(b"\r\n")
    # Layout B with a BOM: bare header, then the directive block repeating it.
    assert first[0] == b"\xef\xbb\xbf" + hunt_bench.HTTPPROXY_HEADER.encode()
    assert first[5] == b"#Fields: " + hunt_bench.HTTPPROXY_HEADER.encode()
    assert all(line.count(b",") == 73 for line in first[6:] if line)
    assert list((logging / "ECP" / "Server").glob("ECPServer*-1.LOG"))
    iis = list(corpus.bundle.glob("files/C/inetpub/logs/LogFiles/W3SVC1/u_ex*.log"))
    assert len(iis) >= 2
    assert all(len(line.split(b" ")) == 15 for path in iis for line in path.read_bytes().split(b"\r\n")
               if line and not line.startswith(b"#"))
    # Ordinary rows that hold prefilter literals are there, not only plain traffic.
    assert {"literal:autodiscover.json-lookup", "literal:serverinfo-autodiscover-only", "literal:logon.css-get",
            "literal:ews-managed-api-ua", "literal:get-owavirtualdirectory"} <= set(corpus.categories)


def test_every_planted_line_is_where_the_bookkeeping_says(corpus):
    assert len(corpus.planted) == len(hunt_bench.PLANTS)
    assert hunt_bench.verify_planted(corpus) == []
    assert {plant.label for plant in corpus.planted} == {plant.label for plant in hunt_bench.PLANTS}


def test_generation_is_deterministic(tmp_path, corpus):
    again = hunt_bench.generate_corpus(tmp_path, 5)
    assert [(p.source, p.line, p.text) for p in again.planted] == [(p.source, p.line, p.text) for p in corpus.planted]
    assert again.bytes == corpus.bytes


def test_grep_counts_the_lines_holding_a_literal(corpus, tmp_path):
    literals = ["ServerInfo~", "autodiscover.json", "VirtualDirectory"]
    literals_file = tmp_path / "literals.txt"
    literals_file.write_text("".join(lit + "\n" for lit in literals))
    timed = hunt_bench.run_timed(hunt_bench.grep_command(literals_file, corpus.bundle))
    expected = sum(
        any(lit.lower().encode() in line.lower() for lit in literals)
        for path in corpus.bundle.rglob("*") if path.is_file()
        for line in path.read_bytes().split(b"\n"))
    assert hunt_bench.count_lines_output(timed.stdout) == expected > 0
    assert timed.seconds > 0 and timed.maxrss_kb > 0
    if shutil.which("rg"):
        rg = hunt_bench.run_timed(hunt_bench.rg_command(literals_file, corpus.bundle, 1))
        assert hunt_bench.count_lines_output(rg.stdout) == expected


def test_check_findings_reports_misses_and_noise(corpus):
    plant = corpus.planted[0]
    findings = [[rule, plant.source.upper(), plant.line, "high", "x"] for rule in plant.rules[1:]]
    findings.append(["PL-26855-BLOG", plant.source, plant.line + 1, "medium", "ordinary row"])
    missed, noise = hunt_bench.check_findings([plant], findings, {"PL-26855-BLOG"})
    assert [(p.line, rule, why) for p, rule, why in missed] == [
        (plant.line, plant.rules[0], " (no such rule in the rule set)")]
    assert noise == [f"PL-26855-BLOG at {plant.source}:{plant.line + 1} [medium] ordinary row"]


def test_small_bench_finds_every_planted_line_and_nothing_else(tmp_path, capsys):
    status = hunt_bench.main(["--size-mb", "3", "--rounds", "1", "--dir", str(tmp_path), "--no-install"])
    out = capsys.readouterr().out
    assert "findings on ordinary lines: 0" in out
    assert f"reported by every expected rule: {len(hunt_bench.PLANTS)}, missed: 0" in out
    assert "grep (LC_ALL=C)" in out and "engine peak RSS" in out
    assert status == 0
    # The corpus is removed unless --keep.
    assert not (tmp_path / "bundle").exists()
