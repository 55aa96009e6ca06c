"""Build numbers in every form Windows reports them (exchange-builds.md "Normalising and comparing").

Contract: ExSetup FileVersion is authoritative; AdminDisplayVersion and the Setup registry
DWORDs are CU level only (su_level_known False); anything else is rejected as unknown with a
clear error, never with an exception.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from exchange_remediation.build_number import (
    Build,
    ParsedVersion,
    best_version,
    parse_admin_display_version,
    parse_build_text,
    parse_file_version,
    parse_setup_registry,
)

PROPERTY = settings(max_examples=300, deadline=None, database=None)

REGISTRY_2176 = {"MsiProductMajor": 15, "MsiProductMinor": 1, "MsiBuildMajor": 2176, "MsiBuildMinor": 2}


# --- ExSetup.exe FileVersion ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("15.01.2176.009", Build(15, 1, 2176, 9)),
    ("15.01.2176.002", Build(15, 1, 2176, 2)),
    ("15.1.2176.9", Build(15, 1, 2176, 9)),
    ("15.00.1497.048", Build(15, 0, 1497, 48)),
    ("15.02.2562.017", Build(15, 2, 2562, 17)),
    ("14.03.0513.000", Build(14, 3, 513, 0)),
    ("  15.2.986.5", Build(15, 2, 986, 5)),
    ("15.2.986.5\r\n", Build(15, 2, 986, 5)),
    ("15.1.2176.9 (built by: Exchange)", Build(15, 1, 2176, 9)),
    ("15.01.2507.006 (Exchange 2016 CU23)", Build(15, 1, 2507, 6)),
    ("15.1.2176.9.1", Build(15, 1, 2176, 9)),
    ("0.0.0.0", Build(0, 0, 0, 0)),
    ("65535.65535.65535.65535", Build(65535, 65535, 65535, 65535)),
])
def test_file_version_forms(text: str, expected: Build) -> None:
    parsed = parse_file_version(text)
    assert parsed == ParsedVersion(expected, "exsetup", True, None)
    assert str(parsed.build) == ".".join(str(p) for p in expected)


@pytest.mark.parametrize("value", [
    None, "", "   ", "\t\n", "15.1", "15.1.2176", "a.b.c.d", "15.1.2176.x", "v15.1.2176.9", "15,1,2176,9",
    "15.1.2176.65536", "65536.1.1.1", "15.1.99999.1", "-15.1.2176.9", "15.1.-2176.9", "15. 1.2176.9",
    "Version 15.1 (Build 2176.2)", 15, 15.1, 1512176, True, [15, 1, 2176, 9], {"exsetup": "15.1.2176.9"},
    b"15.1.2176.9",
])
def test_file_version_rejects_garbage_without_raising(value: Any) -> None:
    parsed = parse_file_version(value)
    assert parsed.build is None
    assert parsed.source == "exsetup"
    assert isinstance(parsed.error, str) and parsed.error
    assert "ExSetup" in parsed.error


def test_file_version_error_names_the_bad_value() -> None:
    parsed = parse_file_version("not-a-version")
    assert parsed.error is not None and "not-a-version" in parsed.error
    long = parse_file_version("x" * 500)
    assert long.error is not None and len(long.error) < 200


def test_file_version_missing_error_says_missing() -> None:
    for value in (None, "", "  "):
        error = parse_file_version(value).error
        assert error is not None and "missing or empty" in error


def test_file_version_with_thousands_of_digits_is_rejected_without_raising() -> None:
    # Python refuses int() on strings of more than 4300 digits (ValueError); the parser must
    # still answer "unrecognised", not raise (exchange-builds.md: "Reject other shapes as unknown").
    parsed = parse_file_version("1" * 5000 + ".0.0.0")
    assert parsed.build is None and parsed.error


def test_parts_are_compared_as_integers_not_strings() -> None:
    assert parse_file_version("15.2.986.5").build < parse_file_version("15.2.1118.7").build
    assert Build(15, 2, 986, 5) < Build(15, 2, 1118, 7)
    assert Build(15, 1, 2176, 9) < Build(15, 1, 2176, 12)  # "9" > "12" as strings
    assert Build(15, 0, 1497, 48) < Build(15, 1, 225, 42)
    assert Build(14, 3, 513, 0) < Build(15, 0, 516, 32)
    builds = ["15.2.1118.7", "15.2.986.5", "15.2.986.36", "15.2.1118.20", "15.2.2562.17", "15.2.1748.10"]
    ordered = sorted(parse_file_version(b).build for b in builds)
    assert [str(b) for b in ordered] == ["15.2.986.5", "15.2.986.36", "15.2.1118.7", "15.2.1118.20",
                                         "15.2.1748.10", "15.2.2562.17"]


def test_build_str_is_normalised() -> None:
    assert str(Build(15, 1, 2176, 9)) == "15.1.2176.9"
    assert str(parse_file_version("15.01.2176.009").build) == "15.1.2176.9"


# --- AdminDisplayVersion --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("Version 15.2 (Build 986.5)", Build(15, 2, 986, 5)),
    ("Version 15.1 (Build 2176.2)", Build(15, 1, 2176, 2)),
    ("Version 15.0 (Build 1497.2)", Build(15, 0, 1497, 2)),
    ("Version 14.3 (Build 123.4)", Build(14, 3, 123, 4)),
    ("version 15.2 (build 1748.10)", Build(15, 2, 1748, 10)),
    ("  Version  15.2  (Build  2562.17)", Build(15, 2, 2562, 17)),
    ("Version 15.02 (Build 0986.005)", Build(15, 2, 986, 5)),
])
def test_admin_display_version_is_cu_level(text: str, expected: Build) -> None:
    parsed = parse_admin_display_version(text)
    assert parsed == ParsedVersion(expected, "admin_display_version", False, None)


@pytest.mark.parametrize("value", [
    None, "", "15.1.2176.2", "Version 15.1", "Version 15.1 (Build 2176)", "Build 2176.2", "Version 15.1 Build 2176.2",
    "Version 15.1 (Build 70000.2)", 15, {"Major": 15},
])
def test_admin_display_version_rejects_garbage(value: Any) -> None:
    parsed = parse_admin_display_version(value)
    assert parsed.build is None and parsed.su_level_known is False
    assert parsed.error and "AdminDisplayVersion" in parsed.error


def test_admin_display_version_with_thousands_of_digits_is_rejected_without_raising() -> None:
    parsed = parse_admin_display_version("Version 15.2 (Build " + "9" * 5000 + ".1)")
    assert parsed.build is None and parsed.error


def test_parse_build_text_accepts_both_text_forms() -> None:
    assert parse_build_text("15.01.2176.009") == Build(15, 1, 2176, 9)
    assert parse_build_text("Version 15.1 (Build 2176.2)") == Build(15, 1, 2176, 2)
    assert parse_build_text("garbage") is None
    assert parse_build_text(None) is None
    assert parse_build_text(15) is None


# --- Setup registry DWORDs ------------------------------------------------------------------


@pytest.mark.parametrize("values", [
    REGISTRY_2176,
    {"MsiProductMajor": "15", "MsiProductMinor": "1", "MsiBuildMajor": "2176", "MsiBuildMinor": "2"},
    {"MsiProductMajor": " 15 ", "MsiProductMinor": 1, "MsiBuildMajor": "2176", "MsiBuildMinor": 2},
    {**REGISTRY_2176, "MsiInstallPath": "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
     "OwaVersion": "15.1.2176.9", "services_present": True},
])
def test_setup_registry_dwords(values: dict[str, Any]) -> None:
    parsed = parse_setup_registry(values)
    assert parsed == ParsedVersion(Build(15, 1, 2176, 2), "setup_registry", False, None)


@pytest.mark.parametrize(("values", "key"), [
    ({"MsiProductMajor": 15, "MsiProductMinor": 1, "MsiBuildMajor": 2176}, "MsiBuildMinor"),
    ({**REGISTRY_2176, "MsiBuildMajor": None}, "MsiBuildMajor"),
    ({**REGISTRY_2176, "MsiBuildMajor": -1}, "MsiBuildMajor"),
    ({**REGISTRY_2176, "MsiBuildMajor": 65536}, "MsiBuildMajor"),
    ({**REGISTRY_2176, "MsiBuildMajor": "2176.2"}, "MsiBuildMajor"),
    ({**REGISTRY_2176, "MsiBuildMajor": "0x880"}, "MsiBuildMajor"),
    ({**REGISTRY_2176, "MsiBuildMajor": 2176.0}, "MsiBuildMajor"),
    ({**REGISTRY_2176, "MsiProductMajor": True}, "MsiProductMajor"),
    ({**REGISTRY_2176, "MsiProductMinor": ""}, "MsiProductMinor"),
    ({**REGISTRY_2176, "MsiProductMinor": [1]}, "MsiProductMinor"),
])
def test_setup_registry_rejects_bad_values(values: dict[str, Any], key: str) -> None:
    parsed = parse_setup_registry(values)
    assert parsed.build is None and parsed.su_level_known is False
    assert parsed.error is not None and key in parsed.error


@pytest.mark.parametrize("values", [None, [], "15.1.2176.2", 15, {}])
def test_setup_registry_missing(values: Any) -> None:
    parsed = parse_setup_registry(values)
    assert parsed.build is None and parsed.error


def test_setup_registry_digit_like_strings_are_rejected_without_raising() -> None:
    # "²" is str.isdigit() but not int()-convertible.
    parsed = parse_setup_registry({**REGISTRY_2176, "MsiBuildMinor": "²"})
    assert parsed.build is None and parsed.error


# --- best_version ---------------------------------------------------------------------------

ADMIN = "Version 15.1 (Build 2176.2)"
REGISTRY_2044 = {"MsiProductMajor": 15, "MsiProductMinor": 1, "MsiBuildMajor": 2044, "MsiBuildMinor": 4}


def test_best_version_prefers_exsetup() -> None:
    parsed = best_version({"exsetup_version": "15.01.2176.009", "admin_display_version": ADMIN,
                           "setup_registry": REGISTRY_2044})
    assert parsed == ParsedVersion(Build(15, 1, 2176, 9), "exsetup", True, None)


def test_best_version_falls_back_to_admin_display_version_with_unknown_su() -> None:
    parsed = best_version({"exsetup_version": None, "admin_display_version": ADMIN, "setup_registry": REGISTRY_2044})
    assert parsed.build == Build(15, 1, 2176, 2)
    assert parsed.source == "admin_display_version"
    assert parsed.su_level_known is False
    # The reason ExSetup could not be used travels with the fallback.
    assert parsed.error is not None and "ExSetup" in parsed.error


def test_best_version_garbage_exsetup_falls_back() -> None:
    parsed = best_version({"exsetup_version": "unreadable", "admin_display_version": ADMIN})
    assert parsed.build == Build(15, 1, 2176, 2) and parsed.su_level_known is False
    assert parsed.error is not None and "unreadable" in parsed.error


def test_best_version_then_setup_registry() -> None:
    parsed = best_version({"exsetup_version": "", "admin_display_version": "garbage", "setup_registry": REGISTRY_2044})
    assert parsed.build == Build(15, 1, 2044, 4)
    assert parsed.source == "setup_registry"
    assert parsed.su_level_known is False


def test_best_version_nothing_usable() -> None:
    parsed = best_version({"exsetup_version": "15.1", "admin_display_version": "Version 15.1",
                           "setup_registry": {"MsiProductMajor": 15}})
    assert parsed.build is None
    assert parsed.source == "exsetup"
    assert parsed.error is not None and "15.1" in parsed.error
    assert best_version({}).build is None


# --- properties -----------------------------------------------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30))
json_like = st.recursive(
    json_leaf,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children,
                                                                               max_size=4)),
    max_leaves=12,
)
version_like = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\A\s*\d{1,6}\.\d{1,6}\.\d{1,6}\.\d{1,6}.{0,10}\Z"),
    st.from_regex(r"\AVersion \d{1,6}\.\d{1,6} \(Build \d{1,6}\.\d{1,6}\)\Z"),
)
registry_like = st.one_of(
    json_like,
    st.fixed_dictionaries({}, optional={
        key: st.one_of(st.integers(), st.text(max_size=8), st.floats(), st.booleans(), st.none())
        for key in ("MsiProductMajor", "MsiProductMinor", "MsiBuildMajor", "MsiBuildMinor")
    }),
)


@PROPERTY
@given(value=st.one_of(version_like, json_like))
@example(value="1" * 5000 + ".0.0.0")
def test_parse_file_version_never_raises(value: Any) -> None:
    parsed = parse_file_version(value)
    assert (parsed.build is None) != (parsed.error is None)
    if parsed.build is not None:
        assert all(0 <= part <= 65535 for part in parsed.build)


@PROPERTY
@given(value=st.one_of(version_like, json_like))
@example(value="Version 15.2 (Build " + "9" * 5000 + ".1)")
def test_parse_admin_display_version_never_raises(value: Any) -> None:
    parsed = parse_admin_display_version(value)
    assert (parsed.build is None) != (parsed.error is None)
    assert parsed.su_level_known is False


@PROPERTY
@given(value=registry_like)
@example(value={**REGISTRY_2176, "MsiBuildMinor": "²"})
def test_parse_setup_registry_never_raises(value: Any) -> None:
    parsed = parse_setup_registry(value)
    assert (parsed.build is None) != (parsed.error is None)


@PROPERTY
@given(exchange=st.one_of(
    st.dictionaries(st.sampled_from(["exsetup_version", "admin_display_version", "setup_registry", "x"]),
                    st.one_of(version_like, registry_like), max_size=4),
    st.dictionaries(st.text(max_size=10), json_like, max_size=4),
))
@example(exchange={"exsetup_version": "1" * 5000 + ".0.0.0"})
@example(exchange={"exsetup_version": None, "setup_registry": {**REGISTRY_2176, "MsiBuildMinor": "²"}})
def test_best_version_never_raises(exchange: dict[str, Any]) -> None:
    parsed = best_version(exchange)
    if parsed.build is None:
        assert parsed.error
    else:
        assert parsed.su_level_known is (parsed.source == "exsetup")


@PROPERTY
@given(parts=st.tuples(*[st.integers(0, 65535)] * 4), widths=st.tuples(*[st.integers(0, 6)] * 4),
       suffix=st.sampled_from(["", " ", " (built by: x)", "\n"]))
def test_zero_padded_and_plain_forms_agree(parts: tuple[int, int, int, int], widths: tuple[int, int, int, int],
                                           suffix: str) -> None:
    plain = ".".join(str(p) for p in parts)
    padded = ".".join(str(p).zfill(w) for p, w in zip(parts, widths, strict=True)) + suffix
    assert parse_file_version(plain).build == parse_file_version(padded).build == Build(*parts)
    assert str(parse_file_version(padded).build) == plain
    admin = f"Version {parts[0]:02d}.{parts[1]:02d} (Build {parts[2]:04d}.{parts[3]:03d})"
    assert parse_admin_display_version(admin).build == Build(*parts)


@PROPERTY
@given(a=st.tuples(*[st.integers(0, 65535)] * 4), b=st.tuples(*[st.integers(0, 65535)] * 4))
def test_build_order_is_numeric_tuple_order(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    left = parse_file_version(".".join(map(str, a))).build
    right = parse_file_version(".".join(str(p).zfill(5) for p in b)).build
    assert left is not None and right is not None
    assert (left < right) == (a < b)
    assert (left == right) == (a == b)
