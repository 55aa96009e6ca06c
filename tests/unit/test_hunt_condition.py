"""The condition language of the hunt rules (docs/hunt-rules.md) and the Record it reads."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_remediation.hunt_condition import (
    ConditionError,
    LikeSet,
    compile_condition,
    condition_fields,
    like,
    like_regex,
    ua_normalise,
    url_decode,
)
from exchange_remediation.hunt_record import DEFAULT_TOKENS, Record

TOKENS = dict(DEFAULT_TOKENS)


def check(condition: dict, fields: dict, lists: dict | None = None, tokens: dict | None = None,
          virtual: dict | None = None) -> bool:
    return compile_condition(condition, lists or {})(Record(fields, tokens or TOKENS, virtual))


# ------------------------------------------------------------------ like


@pytest.mark.parametrize(("value", "pattern", "expected"), [
    ("ServerInfo~a]@ex01.contoso.local:444/mapi/emsmdb/?#", "ServerInfo~*/*", True),
    ("serverinfo~A]@EX01:444/ecp/proxyLogon.ecp?#", "ServerInfo~*/*", True),  # case-insensitive
    ("ServerInfo~a]@ex01:444/autodiscover/autodiscover.xml?#", "ServerInfo~*/autodiscover*", True),
    ("ServerInfo~localhost/ecp/default.flt?", "ServerInfo~localhost*/*", True),
    ("ServerInfo~a]@ex01:444/mapi/emsmdb/?#", "ServerInfo~localhost*/*", False),
    ("ServerInfo~ex01", "ServerInfo~*/*", False),  # whole value: no path, no match
    ("xServerInfo~a/b", "ServerInfo~*/*", False),  # anchored at the start
    ("C:\\inetpub\\wwwroot\\aspnet_client\\x.aspx", "*\\aspnet_client\\*", True),  # '*' crosses '\'
    ("/owa/auth/Current/themes/x.aspx", "/owa/*.aspx", True),  # and '/'
    ("a]b", "a]b", True),  # brackets are literal
    ("a[b", "a[b", True),
    ("ab", "a[b]", False),
    ("lsass.dmp", "lsass.*dmp", True),
    ("lsass.exe_210303.dmp", "lsass.*dmp", True),
    ("lsass-notes.txt", "lsass.*dmp", False),
    ("t.aspx", "?.aspx", True),
    ("to.aspx", "?.aspx", False),
    ("", "*", True),
    ("", "", True),
    ("x", "", False),
])
def test_like_follows_powershell(value: str, pattern: str, expected: bool) -> None:
    assert like(value, pattern) is expected
    assert check({"field": "v", "like": pattern}, {"v": value}) is expected


_ALPHABET = st.sampled_from(list("ab/\\*?[]~."))


@given(st.lists(st.text(_ALPHABET, max_size=6), min_size=1, max_size=5), st.text(_ALPHABET, max_size=10))
def test_like_set_agrees_with_the_plain_regex(patterns: list[str], value: str) -> None:
    # The shape-sorted fast paths (set, startswith, endswith, substring) must give the regex's answer.
    expected = any(re.fullmatch(like_regex(p), value, re.S) for p in patterns)
    assert LikeSet(patterns).match(value) is expected


@given(st.text(st.characters(blacklist_characters="*?"), max_size=20))
def test_a_value_is_like_itself_and_like_star(value: str) -> None:
    assert like(value, value)
    assert like(value, "*")
    assert like(value + "tail", value + "*") and like("head" + value, "*" + value)


# ------------------------------------------------------------------ decoding


@pytest.mark.parametrize(("raw", "decoded"), [
    ("%40evil.example/%50owershell", "@evil.example/Powershell"),
    ("autodiscover.json%3F@x", "autodiscover.json?@x"),
    ("%2540", "@"),  # double-encoded: two rounds
    ("%25252540", "%40"),  # four levels: three rounds only
    ("a+b%20c", "a+b c"),  # '+' stays '+' in paths
    ("%zz%4", "%zz%4"),  # broken escapes stay
    ("plain", "plain"),
])
def test_url_decode_repeats_at_most_three_rounds(raw: str, decoded: str) -> None:
    assert url_decode(raw) == decoded


def test_url_decoded_leaf_sees_encoded_bypasses() -> None:
    condition = {"field": "uri", "decode": "url", "contains_all": ["autodiscover", "powershell"]}
    assert check(condition, {"uri": "/autodiscover/autodiscover.json?%40evil/%50owershell/"})
    assert not check(condition, {"uri": "/autodiscover/autodiscover.json?Email=alice%40contoso.com"})
    assert not check({"field": "uri", "contains": "powershell"}, {"uri": "/x?%50owershell"})  # decode: none


def test_user_agents_compare_the_same_in_every_log() -> None:
    iis = "Mozilla/5.0+(compatible;+Baiduspider/2.0;++http://www.baidu.com/search/spider.html)"
    proxy = "Mozilla/5.0 (compatible; Baiduspider/2.0;  http://www.baidu.com/search/spider.html)"
    assert ua_normalise(iis) == ua_normalise(proxy) == (
        "mozilla/5.0 (compatible; baiduspider/2.0; http://www.baidu.com/search/spider.html)")
    chrome_iis = "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)"
    chrome_rps = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML  like Gecko)"
    assert ua_normalise(chrome_iis) == ua_normalise(chrome_rps)
    # Constants are normalised like the values, so a rule may write either form.
    condition = {"field": "ua", "decode": "ua", "in": [iis]}
    assert check(condition, {"ua": proxy}) and check(condition, {"ua": iis})
    assert not check({"field": "ua", "decode": "ua", "equals": "ExchangeServicesClient/0.0.0.0"},
                     {"ua": "ExchangeServicesClient/15.00.0913.015"})


# ------------------------------------------------------------------ operators


@pytest.mark.parametrize(("condition", "value", "expected"), [
    ({"equals": "POST"}, "post", True),
    ({"equals": 200}, "200", True),  # a bare YAML number means its text
    ({"in": ["200", "241"]}, "241", True),
    ({"in": ["200", "241"]}, "2410", False),
    ({"like_any": ["*.aspx", "*.ashx"]}, "X.ASHX", True),
    ({"regex": r"^/ecp/[0-9a-z]{1,3}\.js$"}, "/ecp/Fd.js", True),
    ({"regex": r"^/ecp/[0-9a-z]{1,3}\.js$"}, "/ecp/abcd.js", False),
    ({"contains": "ServerInfo~"}, "x serverinfo~y", True),
    ({"contains_any": ["/mapi/nspi", "/EWS/"]}, "@x/ews/exchange.asmx", True),
    ({"contains_any": list("abcdefgh")}, "zzzH", True),  # the compiled-regex path for long lists
    ({"contains_all": ["-GenerateRequest", "-BinaryEncoded"]}, "-BinaryEncoded -GenerateRequest", True),
    ({"contains_all": ["-GenerateRequest", "-BinaryEncoded"]}, "-GenerateRequest", False),
    ({"starts_with": "/owa/auth/"}, "/OWA/Auth/x.aspx", True),
    ({"starts_with": ["/aspnet_client/", "/oab/"]}, "/oab/log.aspx", True),
    ({"ends_with": [".aspx", ".ashx"]}, "/x.asp", False),
    ({"empty": True}, "", True),
    ({"empty": True}, "-", True),
    ({"empty": True}, "CONTOSO\\alice", False),
    ({"empty": False}, "-", False),
])
def test_operators(condition: dict, value: str, expected: bool) -> None:
    assert check({"field": "F", **condition}, {"F": value}) is expected


def test_missing_fields_are_empty_and_field_names_are_case_insensitive() -> None:
    assert check({"field": "AuthenticatedUser", "empty": True}, {"UrlStem": "/ecp/y.js"})
    assert check({"field": "anchormailbox", "like": "ServerInfo~*/*"}, {"AnchorMailbox": "ServerInfo~a/b"})
    assert check({"field": "CS(USER-AGENT)", "contains": "antsword"}, {"cs(User-Agent)": "antSword/v2.1"})


def test_combinators() -> None:
    condition = {"all": [
        {"field": "AnchorMailbox", "like": "ServerInfo~*/*"},
        {"not": {"field": "AnchorMailbox", "like": "ServerInfo~localhost*/*"}},
        {"any": [{"field": "HttpStatus", "equals": "200"}, {"field": "HttpStatus", "equals": "241"},
                 {"field": "HttpStatus", "equals": "302"}]},
    ]}
    assert check(condition, {"AnchorMailbox": "ServerInfo~a]@ex01:444/ecp/proxyLogon.ecp?#", "HttpStatus": "241"})
    assert not check(condition, {"AnchorMailbox": "ServerInfo~localhost/ecp/default.flt?", "HttpStatus": "200"})
    assert not check(condition, {"AnchorMailbox": "ServerInfo~a]@ex01:444/mapi/", "HttpStatus": "500"})


def test_list_fields_hold_when_any_element_holds() -> None:
    critical = {"field": "yara", "in": ["exchange_jscript_china_chopper", "exchange_oab_config_dump_shell"]}
    assert check(critical, {"yara": ["exchange_generic_eval_page", "exchange_oab_config_dump_shell"]})
    assert not check(critical, {"yara": ["exchange_generic_eval_page"]})
    assert check({"field": "yara", "empty": True}, {"yara": []})
    assert check({"field": "yara", "empty": False}, {"yara": ["x"]})
    assert not check({"field": "yara", "empty": False}, {"yara": []})


def test_in_list_entries_follow_like() -> None:
    lists = {"names": ["shell.aspx", "Chack*.aspx", "SvmFeedback*"]}
    condition = {"field": "name", "in_list": "names"}
    assert check(condition, {"name": "SHELL.aspx"}, lists)
    assert check(condition, {"name": "ChackLogsPL.aspx"}, lists)
    assert check(condition, {"name": "SvmFeedback.aspx"}, lists)
    assert not check(condition, {"name": "myshell.aspx"}, lists)  # no wildcard: whole-value equality


# ------------------------------------------------------------------ tokens


def test_tokens_resolve_per_server_and_per_record() -> None:
    condition = compile_condition({"field": "capture.1", "starts_with": "'<EX>ClientAccess\\OAB"})
    default = dict(TOKENS)
    on_d = dict(TOKENS, **{"<EX>": "D:\\Exchange Server\\V15\\"})
    temp_c = "'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\ClientAccess\\OAB\\Temp\\x.tmp'"
    temp_d = "'D:\\Exchange Server\\V15\\ClientAccess\\OAB\\Temp\\x.tmp'"
    for _round in range(2):  # the second round is served from the per-server cache
        assert condition(Record({"capture.1": temp_c}, default))
        assert not condition(Record({"capture.1": temp_d}, default))
        assert condition(Record({"capture.1": temp_d}, on_d))
        assert not condition(Record({"capture.1": temp_c}, on_d))


def test_tokens_in_regex_are_escaped_and_missing_tokens_use_defaults() -> None:
    condition = compile_condition({"field": "path", "regex": "^<WWW>\\\\aspnet_client\\\\"})
    assert condition(Record({"path": "C:\\inetpub\\wwwroot\\aspnet_client\\x.aspx"}, {}))
    assert not condition(Record({"path": "C:\\inetpubXwwwroot\\aspnet_client\\x.aspx"}, {}))
    paths = {"paths": ["<EX>FrontEnd\\HttpProxy\\OAB\\log.aspx"]}
    listed = compile_condition({"field": "path", "in_list": "paths"}, paths)
    assert listed(Record({"path": "D:\\Exchange Server\\V15\\FrontEnd\\HttpProxy\\OAB\\log.aspx"},
                         {"<EX>": "D:\\Exchange Server\\V15\\"}))


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(("condition", "message"), [
    ({"field": "x", "equalz": "a"}, "unknown operator 'equalz'"),
    ({"field": "x", "equals": "a", "contains": "b"}, "exactly one operator"),
    ({"field": "x"}, "exactly one operator"),
    ({"equals": "a"}, "expected all/any/not or a leaf"),
    ({"field": "x", "decode": "base64", "equals": "a"}, "decode"),
    ({"all": []}, "non-empty list"),
    ({"all": [{"field": "x", "equals": "a"}], "field": "y"}, "cannot be combined"),
    ({"field": "x", "regex": "(unclosed"}, "invalid regex"),
    ({"field": "x", "in_list": "nope"}, "unknown list 'nope'"),
    ({"field": "x", "in": "a"}, "non-empty list"),
    ({"field": "x", "equals": ["a"]}, "expected a string"),
    ({"field": "x", "empty": "yes"}, "true or false"),
    ({"field": "x", "starts_with": "<EXCH>Logging"}, "unknown token <EXCH>"),
    ({"not": [{"field": "x", "equals": "a"}]}, "expected a mapping"),
])
def test_malformed_conditions_name_the_spot(condition: dict, message: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(message)):
        compile_condition(condition, {})


def test_error_messages_carry_the_path() -> None:
    with pytest.raises(ConditionError, match=r"condition\.all\[1\]\.any\[0\]\.regex"):
        compile_condition({"all": [{"field": "a", "equals": "x"}, {"any": [{"field": "b", "regex": "["}]}]})


def test_condition_fields() -> None:
    either = {"any": [{"field": "HttpStatus", "equals": "1"}, {"field": "page_on_disk", "equals": "x"}]}
    tree = {"all": [{"field": "AnchorMailbox", "like": "x"}, {"not": either}]}
    assert condition_fields(tree) == {"anchormailbox", "httpstatus", "page_on_disk"}


# ------------------------------------------------------------------ Record


def test_record_virtual_fields_are_lazy_and_computed_once() -> None:
    calls: list[str] = []

    def uri() -> str:
        calls.append("uri")
        return "/ecp/y.js?x=1"

    record = Record({"cs-uri-stem": "/ecp/y.js"}, TOKENS, {"uri": uri})
    assert calls == []
    assert record.get("URI") == "/ecp/y.js?x=1"
    assert record.get("uri") == "/ecp/y.js?x=1"
    assert calls == ["uri"]
    assert record.get("nothing") == ""
    assert record.has("Uri") and record.has("CS-URI-STEM") and not record.has("nothing")
    assert record.fields() == {"cs-uri-stem": "/ecp/y.js"}


def test_record_normalises_values() -> None:
    record = Record({"Id": 1, "yara": ("a", None), "flag": True, "none": None}, TOKENS)
    assert record.get("id") == "1"
    assert record.get("yara") == ["a", ""]
    assert record.get("flag") == "true"
    assert record.get("none") == ""
