"""The literal prefilter against a naive line-by-line reference, at chunk sizes that split everything."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange_remediation import log_prefilter
from exchange_remediation.log_prefilter import (
    MAX_LONG_LINE_WARNINGS,
    ScannedFile,
    plan_search,
    prepare_literals,
    scan_file,
)

BOM = b"\xef\xbb\xbf"
HTTPPROXY_HEADER = b"DateTime,RequestId,UrlStem,AnchorMailbox"


def naive_scan(data: bytes, literals, *, max_line_bytes=1 << 20, max_candidates=100_000,
               max_kept_bytes=64 << 20) -> ScannedFile:
    """The documented semantics, one line at a time, everything in memory."""
    lits = [(lit if isinstance(lit, bytes) else lit.encode()).lower() for lit in literals]
    nul = data.count(b"\x00")
    total = len(data)
    if data.startswith(BOM):
        data = data[3:]
    raws = data.split(b"\n")
    if raws[-1] == b"":
        raws.pop()
    res = ScannedFile(lines=len(raws), bytes=total)
    long_lines: list[int] = []
    caps: list[str] = []
    cand_bytes = dir_bytes = 0
    cand_done = dir_done = False
    data_lines: list[tuple[int, bytes]] = []
    for number, raw in enumerate(raws, 1):
        content = raw[:-1] if raw.endswith(b"\r") else raw
        cut = content[:max_line_bytes]
        if len(content) > max_line_bytes:
            long_lines.append(number)
        if number == 1:
            res.first_line = (1, cut)
        if raw.startswith(b"#"):
            if dir_done:
                continue
            if len(res.directives) >= max_candidates or dir_bytes + len(cut) > max_kept_bytes:
                dir_done = True
                res.capped = True
                caps.append(f"directive cap reached at line {number}: kept {len(res.directives)} directive "
                            "lines, later ones dropped")
                continue
            dir_bytes += len(cut)
            res.directives.append((number, cut))
            continue
        if content:
            data_lines.append((number, cut))
        if cand_done or not any(lit in raw.lower() for lit in lits):
            continue
        if len(res.candidates) >= max_candidates or cand_bytes + len(cut) > max_kept_bytes:
            cand_done = True
            res.capped = True
            caps.append(f"candidate cap reached at line {number}: kept {len(res.candidates)} candidate lines, "
                        "later ones dropped")
            continue
        cand_bytes += len(cut)
        res.candidates.append((number, cut))
    if data_lines and data_lines[0][0] == 1:
        header = data_lines[0][1].strip().lower()
        if any(text.lower().startswith(b"#fields:") and text[8:].strip().lower() == header
               for _, text in res.directives):
            data_lines.pop(0)
    res.first_data = data_lines[0] if data_lines else None
    res.last_data = data_lines[-1] if data_lines else None
    warnings = [f"line {n}: longer than {max_line_bytes} bytes, cut" for n in long_lines[:MAX_LONG_LINE_WARNINGS]]
    if len(long_lines) > MAX_LONG_LINE_WARNINGS:
        warnings.append(f"{len(long_lines) - MAX_LONG_LINE_WARNINGS} more lines longer than {max_line_bytes} "
                        "bytes were cut")
    warnings.extend(caps)
    if nul:
        warnings.append(f"binary data: {nul} NUL bytes")
    res.warnings = warnings
    return res


def scan_bytes(data: bytes, literals, **kwargs) -> ScannedFile:
    handle, path = tempfile.mkstemp(suffix=".LOG")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        return scan_file(path, literals, **kwargs)
    finally:
        os.unlink(path)


# Module settings that choose the search plan and the block size, set for one scan.
PLANS = {
    "find": {"COST_REGEX_PASS": 1e9, "USE_YARA": False},
    "regex": {"COST_FIND": 1e9, "USE_YARA": False},
    "yara": {"USE_YARA": True},
}


@contextlib.contextmanager
def settings_of(plan: str, block: int, sample: int):
    values = {**PLANS[plan], "SEARCH_BLOCK": block, "SAMPLE_BYTES": sample}
    saved = {name: getattr(log_prefilter, name) for name in values}
    try:
        for name, value in values.items():
            setattr(log_prefilter, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(log_prefilter, name, value)


PIECES = [b"\n", b"\r\n", b"\r", b"\n#", b"#", BOM, b"\x00", b"a", b"Z", b",", b"  ", b"\xff\xfe",
          b"Serv", b"erInfo~", b"ServerInfo~a]@ex01:444/ecp/", b"SERVERINFO~", b"serverinfo", b"~",
          b"auto", b"Discover.json", b"AUTODISCOVER.JSON?@x/powershell", b"#Fields: a,b", b"a,b",
          b"2021-03-03T06:49:42.162Z,", b"\xc3\xa9", b"\xc3\x89"]
LITERALS = ["ServerInfo~", "autodiscover.json", "Powershell", "~", "a,b", "\u00e9", "Z", "serverinfo~a]", "%",
            "erI", "on~", "\x01x"]

data_strategy = st.lists(
    st.one_of(st.sampled_from(PIECES), st.binary(max_size=6)), max_size=80).map(b"".join)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=data_strategy,
       literals=st.lists(st.sampled_from(LITERALS), max_size=5),
       chunk=st.integers(min_value=1, max_value=40),
       max_line=st.integers(min_value=0, max_value=30),
       max_candidates=st.integers(min_value=0, max_value=6),
       max_kept=st.integers(min_value=0, max_value=80),
       plan=st.sampled_from(sorted(PLANS)),
       block=st.integers(min_value=1, max_value=50),
       sample=st.integers(min_value=1, max_value=60))
def test_matches_naive_reference(data, literals, chunk, max_line, max_candidates, max_kept, plan, block, sample):
    kwargs = {"max_line_bytes": max_line, "max_candidates": max_candidates, "max_kept_bytes": max_kept}
    with settings_of(plan, block, sample):
        scanned = scan_bytes(data, literals, chunk_bytes=chunk, **kwargs)
    assert scanned == naive_scan(data, literals, **kwargs)


@settings(max_examples=300, deadline=None)
@given(data=data_strategy, literals=st.lists(st.sampled_from(LITERALS), min_size=1, max_size=5),
       chunk=st.integers(min_value=1, max_value=64), plan=st.sampled_from(sorted(PLANS)))
def test_default_limits_match_reference_at_any_chunk_size(data, literals, chunk, plan):
    with settings_of(plan, 1 << 16, 1 << 16):
        scanned = scan_bytes(data, literals, chunk_bytes=chunk)
    assert scanned == naive_scan(data, literals)


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(st.binary(max_size=300).filter(lambda b: b"\n" not in b), max_size=40),
       chunk=st.integers(min_value=1, max_value=700),
       literals=st.lists(st.binary(min_size=1, max_size=3).filter(lambda b: b"\n" not in b and b"\r" not in b),
                         min_size=1, max_size=3))
def test_random_binary_lines_and_literals(lines, chunk, literals):
    data = b"\r\n".join(lines)
    kwargs = {"max_line_bytes": 100, "max_candidates": 20}
    expected = naive_scan(data, literals, **kwargs)
    for plan in PLANS:
        with settings_of(plan, 97, 200):
            assert scan_bytes(data, literals, chunk_bytes=chunk, **kwargs) == expected


SMALL = st.sampled_from(b"aAb~\x01\x00\r#")


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.lists(SMALL, max_size=12).map(bytes), max_size=30),
       literals=st.lists(st.lists(SMALL, min_size=1, max_size=4).map(bytes).filter(lambda b: b"\r" not in b),
                         min_size=1, max_size=5),
       chunk=st.integers(min_value=1, max_value=50), block=st.integers(min_value=1, max_value=40))
def test_small_alphabet_collisions_under_both_plans(lines, literals, chunk, block):
    # Few distinct bytes: anchors collide, literals overlap and contain the marker byte itself.
    data = b"\n".join(lines)
    expected = naive_scan(data, literals)
    for plan in PLANS:
        with settings_of(plan, block, block * 2):
            assert scan_bytes(data, literals, chunk_bytes=chunk) == expected


def test_many_literals_share_regex_passes_and_one_literal_is_a_find():
    sample = b"2021-03-01 08:14:02 10.0.10.11 GET /owa/ &CorrelationID=<empty>; 443 - 198.51.100.23 200\n".lower() * 50
    lits = prepare_literals(["/webconfig/", "/webcccsd/", "/ews/auto/", "/current/script/", "/owa/calendar/a",
                             "antSword", "%"])
    plan = plan_search(lits, sample)
    # Fewer passes than literals: regexes over literals sharing a rare byte; '%' stays a find (memchr).
    assert plan.groups and len(plan.groups) + len(plan.finds) < len(lits)
    assert b"%" in plan.finds
    grouped = [lit for lit in lits if lit not in plan.finds]
    assert all(any(group.search(lit) for group in plan.groups) for lit in grouped)
    assert plan_search(prepare_literals(["ServerInfo~"]), sample) == log_prefilter.SearchPlan(finds=(b"serverinfo~",))


def test_regex_plan_finds_literals_anchored_first_last_or_repeated(tmp_path: Path):
    lines = [b"x x-rps-cat=y", b"Q POWERSHELL", b"aspnet_client/ z", b"nothing here", b"AUTODISCOVER.JSON?@x"]
    path = tmp_path / "u_ex210301.log"
    path.write_bytes(b"\r\n".join(lines * 300) + b"\r\n")
    literals = ["autodiscover.json", "X-Rps-CAT=", "/aspnet_client/", "aspnet_client/", "powershell", "q", "="]
    with settings_of("regex", 1 << 10, 1 << 10):
        scanned = scan_file(str(path), literals, chunk_bytes=4096)
    assert scanned == naive_scan(path.read_bytes(), literals)
    assert len(scanned.candidates) == 1200


def test_layout_b_file_with_bom_and_crlf():
    data = (BOM + HTTPPROXY_HEADER + b"\r\n"
            b"#Software: Microsoft Exchange Server\r\n#Log-type: HttpProxy Logs\r\n"
            b"#Fields: " + HTTPPROXY_HEADER + b"\r\n"
            b"2021-03-03T06:49:40.000Z,1,/owa/,Sid~S-1-5-21\r\n"
            b"2021-03-03T06:49:42.162Z,2,/ecp/y.js,SERVERINFO~a]@ex01:444/ecp/proxyLogon.ecp?#\r\n"
            b"2021-03-03T06:59:59.000Z,3,/ews/,Smtp~a@contoso.com\r\n")
    for chunk in (1, 2, 3, 7, 64, 8 << 20):
        result = scan_bytes(data, ["ServerInfo~"], chunk_bytes=chunk)
        assert result.lines == 7
        assert result.bytes == len(data)
        assert result.first_line == (1, HTTPPROXY_HEADER)
        assert [n for n, _ in result.directives] == [2, 3, 4]
        assert result.candidates == [(6, b"2021-03-03T06:49:42.162Z,2,/ecp/y.js,SERVERINFO~a]@ex01:444/ecp/"
                                          b"proxyLogon.ecp?#")]
        # The bare header is not a data row: coverage starts at the first real row.
        assert result.first_data == (5, b"2021-03-03T06:49:40.000Z,1,/owa/,Sid~S-1-5-21")
        assert result.last_data == (7, b"2021-03-03T06:59:59.000Z,3,/ews/,Smtp~a@contoso.com")
        assert result.warnings == []
        assert result.capped is False


def test_last_line_without_eol_counts_and_blank_lines_are_not_data():
    result = scan_bytes(b"#Fields: a\nx1\n\r\n\nServerInfo~last\r", ["serverinfo~"])
    assert result.lines == 5
    assert result.candidates == [(5, b"ServerInfo~last")]
    assert result.first_data == (2, b"x1")
    assert result.last_data == (5, b"ServerInfo~last")


def test_empty_file_and_bom_only_file():
    assert scan_bytes(b"", ["x"]) == ScannedFile()
    only_bom = scan_bytes(BOM, ["x"])
    assert (only_bom.lines, only_bom.bytes, only_bom.first_line) == (0, 3, None)


def test_directive_lines_are_never_candidates():
    result = scan_bytes(b"#Fields: ServerInfo~\nServerInfo~x\n", ["ServerInfo~"])
    assert result.directives == [(1, b"#Fields: ServerInfo~")]
    assert result.candidates == [(2, b"ServerInfo~x")]


def test_over_long_line_is_cut_and_named_and_memory_stays_bounded(tmp_path: Path):
    path = tmp_path / "big.LOG"
    with path.open("wb") as out:
        out.write(b"head\n")
        out.write(b"x" * (3 << 20) + b"ServerInfo~" + b"y" * 1000 + b"\r\n")
        out.write(b"tail ServerInfo~\n")
    result = scan_file(str(path), ["ServerInfo~"], max_line_bytes=1000, chunk_bytes=1 << 16)
    assert result.lines == 3
    assert result.candidates == [(2, b"x" * 1000), (3, b"tail ServerInfo~")]
    assert result.warnings == ["line 2: longer than 1000 bytes, cut"]
    assert result.last_data == (3, b"tail ServerInfo~")


def test_many_over_long_lines_are_summed_up():
    data = b"".join(b"%d" % i + b"a" * 50 + b"\n" for i in range(15))
    result = scan_bytes(data, ["zz"], max_line_bytes=20)
    assert len(result.warnings) == MAX_LONG_LINE_WARNINGS + 1
    assert result.warnings[0] == "line 1: longer than 20 bytes, cut"
    assert result.warnings[-1] == "5 more lines longer than 20 bytes were cut"


def test_nul_bytes_give_one_binary_warning():
    result = scan_bytes(b"a\x00b\nServerInfo~\x00\x00\n", ["serverinfo~"])
    assert result.warnings == ["binary data: 3 NUL bytes"]
    assert result.candidates == [(2, b"ServerInfo~\x00\x00")]


def test_candidate_cap_sets_capped_and_keeps_counting():
    data = b"".join(b"row %d ServerInfo~\n" % i for i in range(10))
    exact = scan_bytes(data, ["ServerInfo~"], max_candidates=10)
    assert exact.capped is False and len(exact.candidates) == 10
    capped = scan_bytes(data, ["ServerInfo~"], max_candidates=3)
    assert capped.capped is True
    assert [n for n, _ in capped.candidates] == [1, 2, 3]
    assert capped.lines == 10
    assert capped.last_data == (10, b"row 9 ServerInfo~")
    assert capped.warnings == ["candidate cap reached at line 4: kept 3 candidate lines, later ones dropped"]


def test_case_folding_is_ascii_and_literals_are_utf8():
    result = scan_bytes("x AUTODISCOVER.JSON\ny caf\u00e9\nz CAF\u00c9\n".encode(), ["autodiscover.json", "caf\u00e9"])
    assert [n for n, _ in result.candidates] == [1, 2]


def test_prepare_literals_drops_duplicates_and_superstrings():
    kept = prepare_literals(["ServerInfo~", "serverinfo~", "ServerInfo~a]", "Autodiscover"])
    assert sorted(kept) == [b"autodiscover", b"serverinfo~"]


def test_literal_with_line_break_is_a_rule_error():
    with pytest.raises(ValueError, match="line break"):
        prepare_literals(["a\nb"])


def test_missing_file_raises_oserror(tmp_path: Path):
    with pytest.raises(OSError):
        scan_file(str(tmp_path / "absent.LOG"), ["x"])


@settings(max_examples=300, deadline=None)
@given(data=data_strategy, literals=st.lists(st.sampled_from(LITERALS), min_size=1, max_size=6),
       chunk=st.integers(min_value=1, max_value=64))
def test_yara_search_names_exactly_the_literals_on_each_candidate(data, literals, chunk):
    with settings_of("yara", 1 << 16, 1 << 16):
        scanned = scan_bytes(data, literals, chunk_bytes=chunk, max_line_bytes=40)
    if scanned.candidate_masks is None:
        return  # yara-x refused this literal set: the Python search, which names none, ran
    assert len(scanned.candidate_masks) == len(scanned.candidates)
    keys = [(lit if isinstance(lit, bytes) else lit.encode()).lower() for lit in literals]
    for (_, line), mask in zip(scanned.candidates, scanned.candidate_masks, strict=True):
        if mask == 0 or len(line) >= 40:
            continue  # not known, or a line cut at max_line_bytes: its literals may lie past the cut
        lower = line.lower()
        # Duplicates map to the first equal literal; every other literal's bit is exact.
        expected = {keys.index(key) for key in keys if key in lower}
        assert {bit for bit in range(len(keys)) if mask >> bit & 1} == expected
