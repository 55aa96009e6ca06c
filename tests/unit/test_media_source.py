"""Tests of media_source.py (where media comes from, where it is staged, which SHA-256 it needs) and of
role exchange_media as a whole: its task files, and runs of the "stage" and "verify" entry points with
ansible-playbook against localhost, where the ansible.windows modules are replaced by stand-ins that
act on a folder standing for the server, its share and its mirror.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from exchange_remediation.media_source import (
    MediaSource,
    expected_sha256,
    input_problems,
    mismatch_message,
    missing_message,
    no_hash_message,
    normalise_sha256,
    parse_dest_dir,
    parse_item,
    parse_items,
    parse_source,
    parse_user_hashes,
    pending_media,
    relative_parts,
    resolve_media,
    staging_folders,
)

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "exchange_media"

ISO = {
    "id": "2019-CU15-iso",
    "kind": "cu_iso",
    "file": "ExchangeServer2019-x64-CU15.ISO",
    "relative_path": "Exchange2019/CU15/ExchangeServer2019-x64-CU15.ISO",
    "sha256": None,
    "sha256_source": "none",
}
# Hashes in these tests are made up for the tests; they name no real Microsoft file.
PLAN_HASH = "ab" * 32
USER_HASH = "cd" * 32
SU = {
    "id": "2019-CU15-su",
    "kind": "su_msp",
    "file": "Exchange2019-KB0000001-x64-en.msp",
    "relative_path": "Exchange2019/CU15/Exchange2019-KB0000001-x64-en.msp",
    "sha256": PLAN_HASH,
    "sha256_source": "data",
}
UNC = {"type": "unc", "location": "\\\\fs01\\exchange-media"}
HTTP = {"type": "http", "location": "https://mirror.corp.example/exchange"}
LOCAL = {"type": "local", "location": "D:\\Media"}


def _one(item, source=UNC, dest="C:\\ExchangeMedia", hashes=None, require=True):
    (resolved,) = resolve_media([item], source, dest, hashes or {}, require)
    return resolved


# =========================================================================== sources


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("\\\\fs01\\exchange-media", "\\\\fs01\\exchange-media"),
        ("\\\\fs01\\exchange-media\\", "\\\\fs01\\exchange-media"),
        ("//fs01/exchange-media/Exchange", "\\\\fs01\\exchange-media\\Exchange"),
        ("  \\\\fs01.contoso.local\\media$\\Exchange Media  ", "\\\\fs01.contoso.local\\media$\\Exchange Media"),
    ],
)
def test_unc_locations_are_normalised(location, expected):
    assert parse_source({"type": "unc", "location": location}) == MediaSource("unc", expected)


def test_unc_join_uses_backslashes():
    entry = _one(SU)
    assert entry.source == "\\\\fs01\\exchange-media\\Exchange2019\\CU15\\Exchange2019-KB0000001-x64-en.msp"
    assert entry.path == "C:\\ExchangeMedia\\Exchange2019\\CU15\\Exchange2019-KB0000001-x64-en.msp"
    assert entry.folder == "C:\\ExchangeMedia\\Exchange2019\\CU15"
    assert entry.source_type == "unc"


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("\\\\fs01", "names no share"),
        ("\\\\fs01\\", "names no share"),
        ("fs01\\share", "is not a UNC path"),
        ("C:\\Media", "is not a UNC path"),
        ("\\\\?\\C:\\Media", "device path"),
        ("\\\\.\\pipe\\x", "device path"),
        ("\\\\fs01\\share\\..\\other", "contains '..'"),
        ("\\\\fs01\\share\\\\x", "empty path segment"),
        ("\\\\fs01\\sha|re", "does not allow"),
    ],
)
def test_bad_unc_locations_are_refused(location, why):
    with pytest.raises(ValueError, match=r"exchange_media_source\.location") as raised:
        parse_source({"type": "unc", "location": location})
    assert why in str(raised.value)


def test_http_join_percent_encodes_each_segment():
    item = {
        **SU,
        "file": "Exchange Server 2019 SU (Größe) #1.msp",
        "relative_path": "Exchange 2019/CU15/Exchange Server 2019 SU (Größe) #1.msp",
    }
    entry = _one(item, HTTP)
    assert entry.source == (
        "https://mirror.corp.example/exchange/Exchange%202019/CU15/"
        "Exchange%20Server%202019%20SU%20%28Gr%C3%B6%C3%9Fe%29%20%231.msp"
    )
    # The staged path keeps the real name.
    assert entry.path == "C:\\ExchangeMedia\\Exchange 2019\\CU15\\Exchange Server 2019 SU (Größe) #1.msp"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("https://mirror.corp.example/exchange/", "https://mirror.corp.example/exchange"),
        ("HTTPS://mirror.corp.example:8443/a/b", "https://mirror.corp.example:8443/a/b"),
        ("http://10.0.0.5", "http://10.0.0.5"),
        ("https://mirror.corp.example/exchange%20media", "https://mirror.corp.example/exchange%20media"),
        ("https://mirror.corp.example/médias", "https://mirror.corp.example/m%C3%A9dias"),
    ],
)
def test_http_locations_are_normalised(location, expected):
    assert parse_source({"type": "http", "location": location}).location == expected


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("ftp://mirror/exchange", "not an http:// or https:// URL"),
        ("mirror.corp.example/exchange", "not an http:// or https:// URL"),
        ("https:///exchange", "not an http:// or https:// URL"),
        ("https://mirror/exchange?token=1", "query or fragment"),
        ("https://mirror/exchange#x", "query or fragment"),
        ("https://mirror/exchange/../secret", "contains '..'"),
        ("https://mirror/exchange/%2e%2e/secret", "contains '..'"),
        ("https://mirror/exchange media", "backslash or a space"),
        ("https://mirror\\exchange", "backslash or a space"),
        ("https://mirror/100%", "percent-escape"),
    ],
)
def test_bad_http_locations_are_refused(location, why):
    with pytest.raises(ValueError, match=r"exchange_media_source\.location") as raised:
        parse_source({"type": "http", "location": location})
    assert why in str(raised.value)


def test_credentials_in_a_url_are_refused_without_repeating_them():
    with pytest.raises(ValueError) as raised:
        parse_source({"type": "http", "location": "https://admin:Pa55word@mirror/exchange"})
    message = str(raised.value)
    assert "exchange_media_url_username" in message and "exchange_media_url_password" in message
    assert "Pa55word" not in message


def test_local_source_is_verified_in_place():
    entry = _one(SU, {"type": "local", "location": "d:/Media/"})
    assert entry.source == entry.path == "D:\\Media\\Exchange2019\\CU15\\Exchange2019-KB0000001-x64-en.msp"
    assert entry.source_type == "local"


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("Media", "not an absolute folder path"),
        ("\\Media", "not an absolute folder path"),
        ("\\\\fs01\\share", "use type unc"),
        ("D:\\Media\\..\\Windows", "contains '..'"),
        ("D:\\Media\\.\\x", "contains '.'"),
    ],
)
def test_bad_local_locations_are_refused(location, why):
    with pytest.raises(ValueError, match=r"exchange_media_source\.location") as raised:
        parse_source({"type": "local", "location": location})
    assert why in str(raised.value)


@pytest.mark.parametrize(
    ("source", "why"),
    [
        (None, "must be a dict"),
        ("\\\\fs01\\share", "must be a dict"),
        ({"type": "smb", "location": "\\\\fs01\\share"},
         "exchange_media_source.type 'smb' is not one of unc, http, local"),
        ({"type": "unc"}, "exchange_media_source.location is empty"),
        ({"type": "unc", "location": "  "}, "exchange_media_source.location is empty"),
    ],
)
def test_source_shape_errors_name_the_variable(source, why):
    with pytest.raises(ValueError, match="exchange_media_source") as raised:
        parse_source(source)
    assert why in str(raised.value)


def test_source_type_is_case_insensitive():
    assert parse_source({"type": "UNC", "location": "\\\\fs01\\share"}).type == "unc"


# =========================================================================== staging folder and relative paths


@pytest.mark.parametrize(
    ("value", "expected"),
    [("C:\\ExchangeMedia", "C:\\ExchangeMedia"), ("c:/ExchangeMedia/", "C:\\ExchangeMedia"), ("E:\\", "E:")],
)
def test_dest_dir_is_normalised(value, expected):
    assert parse_dest_dir(value) == expected


def test_dest_dir_on_a_drive_root_joins_cleanly():
    assert _one(SU, dest="E:\\").path == "E:\\Exchange2019\\CU15\\Exchange2019-KB0000001-x64-en.msp"


@pytest.mark.parametrize("value", ["", "ExchangeMedia", "\\\\fs01\\share", "C:\\Media\\..\\Windows", None])
def test_bad_dest_dirs_name_the_variable(value):
    with pytest.raises(ValueError, match="exchange_media_dest_dir"):
        parse_dest_dir(value)


def test_relative_paths_accept_both_separators():
    assert relative_parts("Exchange2019\\CU15/a.msp", "x") == ("Exchange2019", "CU15", "a.msp")


@pytest.mark.parametrize(
    ("relative_path", "why"),
    [
        ("../secret/a.msp", "contains '..'"),
        ("Exchange2019/../../a.msp", "contains '..'"),
        ("/Exchange2019/a.msp", "must be relative"),
        ("\\Exchange2019\\a.msp", "must be relative"),
        ("C:/Exchange2019/a.msp", "does not allow"),
        ("Exchange2019//a.msp", "empty path segment"),
        ("Exchange2019/a.msp.", "ends with a dot or a space"),
        ("NUL.msp", "device name"),
        ("", "is empty"),
    ],
)
def test_bad_relative_paths_are_refused(relative_path, why):
    with pytest.raises(ValueError, match="x") as raised:
        relative_parts(relative_path, "x")
    assert why in str(raised.value)


# =========================================================================== items


def test_item_without_relative_path_sits_at_the_top_of_the_source():
    item = parse_item({**SU, "relative_path": None}, 0)
    assert item.relative_path == SU["file"] and item.parts == (SU["file"],)


def test_item_relative_path_with_backslashes_is_kept_with_slashes():
    item = parse_item({**SU, "relative_path": "Exchange2019\\CU15\\" + SU["file"]}, 0)
    assert item.relative_path == SU["relative_path"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"id": ""}, "exchange_media_items[0].id is empty"),
        ({"kind": "cu"}, "exchange_media_items[0].kind 'cu' is not one of cu_iso, su_msp, prerequisite"),
        ({"file": ""}, "exchange_media_items[0].file is empty"),
        ({"file": "a/b.msp"}, "exchange_media_items[0].file 'a/b.msp' is not a file name"),
        ({"relative_path": "Exchange2019/../x.msp"}, "exchange_media_items[0].relative_path"),
        ({"relative_path": "Exchange2019/CU15/other.msp"}, "does not end with its file"),
        ({"sha256": "xyz"}, "exchange_media_items[0].sha256 'xyz' is not a SHA-256"),
    ],
)
def test_bad_items_name_the_field(change, why):
    with pytest.raises(ValueError) as raised:
        parse_item({**SU, **change}, 0)
    assert why in str(raised.value)


def test_items_must_be_a_list():
    for value in (None, "x", {"id": "a"}):
        with pytest.raises(ValueError, match="exchange_media_items must be a list"):
            parse_items(value)


def test_the_same_item_twice_is_kept_once_but_a_conflicting_one_is_refused():
    assert len(parse_items([SU, dict(SU)])) == 1
    with pytest.raises(ValueError, match=r"exchange_media_items\[1\]\.id '2019-CU15-su' is given twice"):
        parse_items([SU, {**SU, "sha256": USER_HASH}])


def test_two_ids_at_one_path_must_expect_the_same_hash():
    twin = {**SU, "id": "other-id"}
    assert len(resolve_media([SU, twin], UNC, "C:\\M", {})) == 2
    with pytest.raises(ValueError, match="both staged at"):
        resolve_media([SU, {**twin, "sha256": USER_HASH}], UNC, "C:\\M", {})


def test_kind_decides_which_items_are_images():
    assert _one({**ISO, "sha256": PLAN_HASH}).image is True
    assert _one(SU).image is False
    assert _one({**SU, "kind": "prerequisite", "file": "x.iso", "relative_path": "x.iso"}).image is True


# =========================================================================== hashes


def test_user_hash_wins_over_the_plan():
    entry = _one(SU, hashes={SU["relative_path"]: USER_HASH})
    assert (entry.sha256, entry.sha256_source) == (USER_HASH, "user")


def test_plan_hash_is_used_with_its_source():
    entry = _one(SU)
    assert (entry.sha256, entry.sha256_source, entry.refused) == (PLAN_HASH, "data", None)
    assert _one({**SU, "sha256_source": None}).sha256_source == "data"


def test_user_hash_keys_match_case_and_separators_loosely():
    key = "exchange2019\\cu15\\EXCHANGE2019-KB0000001-X64-EN.MSP"
    assert _one(SU, hashes={key: USER_HASH.upper()}).sha256 == USER_HASH


def test_a_relative_path_key_beats_a_file_name_key():
    hashes = {SU["file"]: "ee" * 32, SU["relative_path"]: USER_HASH}
    assert _one(SU, hashes=hashes).sha256 == USER_HASH
    assert _one(SU, hashes={SU["file"]: "ee" * 32}).sha256 == "ee" * 32


def test_a_file_name_key_must_not_stand_for_two_files():
    # The VC++ 2012 and 2013 installers are both called vcredist_x64.exe.
    vc2012 = {**SU, "id": "vc2012", "kind": "prerequisite", "file": "vcredist_x64.exe",
              "relative_path": "Prerequisites/vcredist2012/vcredist_x64.exe", "sha256": None}
    vc2013 = {**vc2012, "id": "vc2013", "relative_path": "Prerequisites/vcredist2013/vcredist_x64.exe"}
    with pytest.raises(ValueError, match=r"exchange_media_sha256\['vcredist_x64.exe'\] names 2 different files"):
        resolve_media([vc2012, vc2013], UNC, "C:\\M", {"vcredist_x64.exe": USER_HASH})
    # Keyed by relative path (or with one of them keyed so), each file has its own hash.
    hashes = {"Prerequisites/vcredist2012/vcredist_x64.exe": PLAN_HASH, "vcredist_x64.exe": USER_HASH}
    first, second = resolve_media([vc2012, vc2013], UNC, "C:\\M", hashes)
    assert (first.sha256, second.sha256) == (PLAN_HASH, USER_HASH)
    assert len(resolve_media([vc2012], UNC, "C:\\M", {"vcredist_x64.exe": USER_HASH})) == 1


def test_an_unrelated_user_hash_is_ignored():
    assert _one(SU, hashes={"Exchange2016/CU23/other.msp": USER_HASH}).sha256 == PLAN_HASH


def test_expected_sha256_none_when_nobody_knows():
    expected = expected_sha256(parse_item(ISO, 0), {})
    assert (expected.value, expected.source) == (None, "none")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("  ", None), ("AB" * 32, "ab" * 32), (" " + "ab" * 32 + "\n", "ab" * 32)],
)
def test_sha256_normalisation(value, expected):
    assert normalise_sha256(value, "v") == expected


@pytest.mark.parametrize("value", ["ab" * 31, "ab" * 33, "zz" * 32, "sha256:" + "ab" * 32, 12345])
def test_malformed_sha256_is_refused_naming_where(value):
    with pytest.raises(ValueError, match=r"^v .* is not a SHA-256 \(64 hexadecimal digits\)$"):
        normalise_sha256(value, "v")


def test_user_hashes_are_checked_and_name_their_key():
    assert parse_user_hashes(None) == {}
    with pytest.raises(ValueError, match=r"exchange_media_sha256\['Exchange2019/a.msp'\] 'nope'"):
        parse_user_hashes({"Exchange2019/a.msp": "nope"})
    with pytest.raises(ValueError, match=r"exchange_media_sha256\['a.msp'\] is empty"):
        parse_user_hashes({"a.msp": ""})
    with pytest.raises(ValueError, match="must be a dict"):
        parse_user_hashes(["a"])
    with pytest.raises(ValueError, match="the same path is given twice"):
        parse_user_hashes({"A/b.msp": USER_HASH, "a\\B.msp": PLAN_HASH})


def test_an_item_without_a_hash_is_refused_by_default():
    entry = _one(ISO)
    assert entry.refused == (
        "ExchangeServer2019-x64-CU15.ISO: no SHA-256 known: "
        "set exchange_media_sha256['Exchange2019/CU15/ExchangeServer2019-x64-CU15.ISO']"
    )


def test_an_item_without_a_hash_is_allowed_only_when_not_required_and_signed():
    assert _one(ISO, require=False).refused is None
    unsigned = _one({**ISO, "signed_by_microsoft": False}, require=False)
    assert unsigned.refused is not None and unsigned.signature_required is False
    assert _one({**ISO, "signed_by_microsoft": False}, hashes={ISO["file"]: USER_HASH}).refused is None


def test_input_problems_lists_every_variable_at_once():
    problems = input_problems(
        [{**SU, "kind": "nope"}],
        {"type": "ftp", "location": "x"},
        "relative",
        {"a.msp": "bad"},
    )
    assert len(problems) == 4
    joined = " | ".join(problems)
    for variable in ("exchange_media_source.type", "exchange_media_dest_dir", "exchange_media_sha256['a.msp']",
                     "exchange_media_items[0].kind"):
        assert variable in joined
    assert input_problems([SU, ISO], UNC, "C:\\ExchangeMedia", {}) == []


# =========================================================================== messages


def test_failure_message_wording():
    assert missing_message("a.msp", "C:\\M\\a.msp") == "a.msp: missing at C:\\M\\a.msp"
    assert mismatch_message("ExchangeServer2019-x64-CU15.ISO", "ab", "cd") == (
        "ExchangeServer2019-x64-CU15.ISO: SHA-256 mismatch (expected ab, got cd)"
    )
    assert no_hash_message(parse_item(SU, 0)) == (
        "Exchange2019-KB0000001-x64-en.msp: no SHA-256 known: "
        "set exchange_media_sha256['Exchange2019/CU15/Exchange2019-KB0000001-x64-en.msp']"
    )


# =========================================================================== what to stage


def test_pending_media_copies_missing_and_wrong_files_only():
    resolved = [entry.as_dict() for entry in resolve_media(
        [SU, {**SU, "id": "b", "file": "b.msp", "relative_path": "b.msp"},
         {**SU, "id": "c", "file": "c.msp", "relative_path": "c.msp"}, ISO],
        UNC, "C:\\M", {})]
    stats = {
        resolved[0]["path"].upper().casefold(): {"exists": True, "checksum": PLAN_HASH.upper()},
        resolved[1]["path"].casefold(): {"exists": True, "checksum": USER_HASH},
    }
    pending = pending_media(resolved, stats)
    assert [(entry["id"], entry["replace"]) for entry in pending] == [("b", True), ("c", False)]
    assert staging_folders(pending) == ["C:\\M"]


def test_pending_media_skips_local_sources_refused_items_and_repeated_paths():
    local = [entry.as_dict() for entry in resolve_media([SU], LOCAL, "C:\\M", {})]
    assert pending_media(local, {}) == []
    refused = [entry.as_dict() for entry in resolve_media([ISO], UNC, "C:\\M", {})]
    assert pending_media(refused, {}) == []
    twins = [entry.as_dict() for entry in resolve_media([SU, {**SU, "id": "twin"}], UNC, "C:\\M", {})]
    assert [entry["id"] for entry in pending_media(twins, {})] == [SU["id"]]


def test_pending_media_without_a_hash_only_fetches_a_missing_file():
    (entry,) = [e.as_dict() for e in resolve_media([ISO], HTTP, "C:\\M", {}, require_sha256=False)]
    assert pending_media([entry], {entry["path"].casefold(): {"exists": True, "checksum": USER_HASH}}) == []
    assert pending_media([entry], {entry["path"].casefold(): {"exists": True, "isdir": True}})[0]["replace"] is True
    assert len(pending_media([entry], {})) == 1


def test_staging_folders_are_unique_whatever_their_case():
    pending = [{"folder": "C:\\M\\Exchange2019\\CU15"}, {"folder": "c:\\m\\exchange2019\\cu15"}, {"folder": "C:\\M"}]
    assert staging_folders(pending) == ["C:\\M\\Exchange2019\\CU15", "C:\\M"]


# =========================================================================== filter plugin


def _filters():
    sys.path.insert(0, str(REPO / "filter_plugins"))
    try:
        import exchange_media
    finally:
        sys.path.remove(str(REPO / "filter_plugins"))
    return exchange_media.FilterModule().filters()


def test_filters_adapt_loop_results():
    filters = _filters()
    resolved = filters["exchange_media_resolve"]([SU], UNC, "C:\\M", {})
    path = resolved[0]["path"]
    stat_results = {
        "results": [
            {"item": resolved[0], "stat": {"exists": True, "isdir": False, "checksum": PLAN_HASH}},
            {"item": {"path": "C:\\M\\skipped.msp"}, "skipped": True},
        ]
    }
    stats = filters["exchange_media_stat_map"](stat_results)
    assert stats == {path.casefold(): {"exists": True, "isdir": False, "checksum": PLAN_HASH}}
    assert filters["exchange_media_to_stage"](resolved, stats) == []
    copy_results = {
        "results": [
            {"item": resolved[0], "failed": True,
             "msg": "Cannot copy src file:\r\n  '\\\\fs01\\x' as it does not exist"},
            {"item": {"path": "C:\\M\\other.msp"}, "skipped": True, "failed": False},
        ]
    }
    errors = filters["exchange_media_error_map"](copy_results, {"c:\\m\\earlier.msp": "x"})
    assert errors == {path.casefold(): "Cannot copy src file: '\\\\fs01\\x' as it does not exist",
                      "c:\\m\\earlier.msp": "x"}
    # A loop that never ran registers no results at all.
    assert filters["exchange_media_error_map"]({"skipped": True, "results": []}) == {}


def test_resolve_filter_reports_bad_input_as_a_filter_error():
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match=r"exchange_media_source\.location"):
        _filters()["exchange_media_resolve"]([SU], {"type": "unc", "location": "C:\\x"}, "C:\\M", {})


# =========================================================================== the role's files


def _load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _iter_tasks(tasks):
    for task in tasks or []:
        yield task
        for section in ("block", "rescue", "always"):
            yield from _iter_tasks(task.get(section))


def _module(task) -> str | None:
    from ansible.playbook.task import Task

    if any(section in task for section in ("block", "rescue", "always")):
        return None
    candidates = [key for key in task if key not in set(Task.fattributes) | {"local_action"}]
    assert len(candidates) == 1, candidates
    return candidates[0]


def _role_tasks():
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for task in _iter_tasks(_load(path)):
            module = _module(task)
            if module:
                yield path.name, module, task


def test_entry_points_start_with_an_always_tagged_assert_and_never_fail_the_host():
    specs = _load(ROLE / "meta" / "argument_specs.yml")["argument_specs"]
    assert set(specs) == {"stage", "verify"}
    for entry in specs:
        tasks = _load(ROLE / "tasks" / f"{entry}.yml")
        first = tasks[0]
        assert "ansible.builtin.assert" in first and first["tags"] == ["always"]
        assert "exchange_media_input_problems" in json.dumps(first)
        assert "exchange_media_" in first["ansible.builtin.assert"]["fail_msg"]
        # Everything after the checks of the inputs sits in one block whose rescue records failures.
        assert len(tasks) == 2 and {"block", "rescue"} <= set(tasks[1])
        rescue = json.dumps(tasks[1]["rescue"])
        assert "exchange_media_failures" in rescue and "exchange_media_verified" in rescue
        assert "ansible_failed_task" in rescue and "ansible_failed_result.msg" in rescue


def test_every_module_is_fqcn_and_every_variable_role_prefixed():
    for name, module, task in _role_tasks():
        assert module.startswith(("ansible.builtin.", "ansible.windows.")), (name, module)
        assert task.get("name"), (name, module)
        if "register" in task:
            assert task["register"].startswith("exchange_media_")
        for key in task.get("ansible.builtin.set_fact", {}):
            assert key.startswith("exchange_media_")
        for key in task.get("vars", {}):
            assert key.startswith("exchange_media_") or key == "ansible_become_password", key


def test_read_only_tasks_run_under_check_mode_and_change_nothing():
    reads = [(name, task) for name, module, task in _role_tasks()
             if module in ("ansible.windows.win_stat", "ansible.windows.win_powershell")]
    assert len(reads) == 3
    for name, task in reads:
        assert task["check_mode"] is False, name
        if "ansible.windows.win_powershell" in task:
            assert task["changed_when"] is False
            assert "Get-MediaSignature.ps1" in task["ansible.windows.win_powershell"]["script"]
        else:
            stat = task["ansible.windows.win_stat"]
            assert stat["get_checksum"] is True and stat["checksum_algorithm"] == "sha256"


def test_changing_tasks_honour_check_mode():
    for _name, module, task in _role_tasks():
        if module in ("ansible.windows.win_copy", "ansible.windows.win_get_url", "ansible.windows.win_file"):
            assert "check_mode" not in task, module


def test_download_and_copy_hide_their_secrets_and_keep_going():
    tasks = {module: task for _name, module, task in _role_tasks()}
    download = tasks["ansible.windows.win_get_url"]
    assert download["no_log"] is True and download["ignore_errors"] is True
    arguments = download["ansible.windows.win_get_url"]
    assert arguments["checksum_algorithm"] == "sha256" and arguments["force"] is False
    assert {"proxy_url", "proxy_username", "proxy_password", "url_username", "url_password", "headers",
            "validate_certs", "checksum"} <= set(arguments)
    copy = tasks["ansible.windows.win_copy"]
    assert copy["no_log"] is True and copy["ignore_errors"] is True
    assert copy["ansible.windows.win_copy"]["remote_src"] is True
    # The second hop: the copy from the share runs with become (runas) as the configured user.
    assert copy["become"] == "{{ exchange_media_become }}"
    assert copy["become_method"] == "ansible.builtin.runas"
    assert "exchange_media_become_user" in copy["become_user"]
    assert copy["become_flags"] == "{{ exchange_media_become_flags }}"
    assert "exchange_media_become_password" in copy["vars"]["ansible_become_password"]
    folder = tasks["ansible.windows.win_file"]["ansible.windows.win_file"]
    assert folder["state"] == "directory"


def test_defaults_and_argument_specs_agree():
    defaults = _load(ROLE / "defaults" / "main.yml")
    assert all(name.startswith("exchange_media_") for name in defaults)
    assert defaults["exchange_media_dest_dir"] == "C:\\ExchangeMedia"
    assert defaults["exchange_media_require_sha256"] is True
    assert defaults["exchange_media_validate_certs"] is True
    assert defaults["exchange_media_signers"] == [
        "Microsoft Root Certificate Authority 2010",
        "Microsoft Root Certificate Authority 2011",
    ]
    specs = _load(ROLE / "meta" / "argument_specs.yml")["argument_specs"]
    assert set(specs["stage"]["options"]) == set(defaults) | {"exchange_media_items", "exchange_media_source"}
    assert set(specs["verify"]["options"]) <= set(specs["stage"]["options"])
    for entry in specs.values():
        for name, option in entry["options"].items():
            if name in ("exchange_media_items", "exchange_media_source"):
                assert option["required"] is True and "default" not in option
                continue
            assert "{{" not in str(option.get("default")), name
            assert option["default"] == defaults[name], name
            if name.endswith("_password"):
                assert option["no_log"] is True, name
    source = specs["stage"]["options"]["exchange_media_source"]["options"]
    assert source["type"]["choices"] == ["unc", "http", "local"]


# =========================================================================== running the role


FAKE_COMMON = textwrap.dedent(
    '''
    #!/usr/bin/python
    """Test stand-in for an ansible.windows module, acting on a folder that stands for the server.

    C:\\\\x is <root>/C/x, \\\\\\\\server\\\\share\\\\x is <root>/UNC/server/share/x, and
    https://host/x is <root>/HTTP/host/x. Every call is appended to <root>/calls.jsonl.
    """
    import hashlib
    import json
    import os
    import shutil
    from urllib.parse import unquote, urlsplit

    from ansible.module_utils.basic import AnsibleModule

    ROOT = os.environ["EXCHANGE_MEDIA_FAKE_ROOT"]


    def local(path):
        text = path.replace("/", "\\\\")
        if text.startswith("\\\\\\\\"):
            parts = ["UNC"] + [part for part in text[2:].split("\\\\") if part]
        else:
            drive, rest = text.split(":", 1)
            parts = [drive.upper()] + [part for part in rest.split("\\\\") if part]
        return os.path.join(ROOT, *parts)


    def mirror(url):
        split = urlsplit(url)
        return os.path.join(ROOT, "HTTP", split.hostname, *[unquote(part) for part in split.path.split("/") if part])


    def sha256(path):
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()


    def record(name, check_mode, **details):
        with open(os.path.join(ROOT, "calls.jsonl"), "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"module": name, "check_mode": check_mode, **details}) + "\\n")
    '''
)

FAKE_MODULES = {
    "win_stat": textwrap.dedent(
        '''
        def main():
            module = AnsibleModule(
                argument_spec=dict(path=dict(type="str", required=True), get_checksum=dict(type="bool", default=True),
                                   checksum_algorithm=dict(type="str", default="sha1"),
                                   get_size=dict(type="bool", default=True)),
                supports_check_mode=True,
            )
            if module.check_mode:
                module.fail_json(msg="win_stat ran in check mode: it must read under --check (check_mode: false)")
            if module.params["checksum_algorithm"] != "sha256" or not module.params["get_checksum"]:
                module.fail_json(msg="win_stat was not asked for a SHA-256")
            path = local(module.params["path"])
            record("win_stat", module.check_mode, path=module.params["path"])
            stat = {"exists": os.path.exists(path)}
            if stat["exists"]:
                stat["isdir"] = os.path.isdir(path)
                if not stat["isdir"]:
                    stat["checksum"] = sha256(path)
            module.exit_json(changed=False, stat=stat)
        '''
    ),
    "win_file": textwrap.dedent(
        '''
        def main():
            module = AnsibleModule(
                argument_spec=dict(path=dict(type="str", required=True), state=dict(type="str")),
                supports_check_mode=True,
            )
            path = local(module.params["path"])
            record("win_file", module.check_mode, path=module.params["path"], state=module.params["state"])
            if os.path.isdir(path):
                module.exit_json(changed=False)
            if not module.check_mode:
                os.makedirs(path)
            module.exit_json(changed=True)
        '''
    ),
    "win_get_url": textwrap.dedent(
        '''
        def main():
            module = AnsibleModule(
                argument_spec=dict(
                    url=dict(type="str", required=True), dest=dict(type="str", required=True),
                    checksum=dict(type="str"), checksum_algorithm=dict(type="str", default="sha1"),
                    force=dict(type="bool", default=True), proxy_url=dict(type="str"),
                    proxy_username=dict(type="str"), proxy_password=dict(type="str", no_log=True),
                    url_username=dict(type="str"), url_password=dict(type="str", no_log=True),
                    headers=dict(type="dict"), validate_certs=dict(type="bool", default=True),
                ),
                supports_check_mode=True,
            )
            params = module.params
            record("win_get_url", module.check_mode, url=params["url"], dest=params["dest"],
                   checksum=params["checksum"], checksum_algorithm=params["checksum_algorithm"],
                   force=params["force"], proxy_url=params["proxy_url"], proxy_username=params["proxy_username"],
                   proxy_password=params["proxy_password"], url_username=params["url_username"],
                   url_password=params["url_password"], headers=params["headers"],
                   validate_certs=params["validate_certs"])
            dest = local(params["dest"])
            checksum = (params["checksum"] or "").lower()
            if os.path.isfile(dest) and checksum and sha256(dest) == checksum and not params["force"]:
                module.exit_json(changed=False, dest=params["dest"], checksum_dest=checksum)
            source = mirror(params["url"])
            if not os.path.isfile(source):
                module.fail_json(msg="Error downloading '%s' to '%s': The remote server returned an error: "
                                     "(404) Not Found." % (params["url"], params["dest"]))
            actual = sha256(source)
            if checksum and checksum != actual:
                module.fail_json(msg="The checksum for %s did not match '%s', it was '%s'"
                                     % (params["url"], checksum, actual))
            if not module.check_mode:
                shutil.copyfile(source, dest)
            module.exit_json(changed=True, dest=params["dest"], checksum_dest=actual, msg="OK")
        '''
    ),
    "win_copy": textwrap.dedent(
        '''
        def main():
            module = AnsibleModule(
                argument_spec=dict(src=dict(type="str"), dest=dict(type="str", required=True),
                                   remote_src=dict(type="bool", default=False), force=dict(type="bool", default=True)),
                supports_check_mode=True,
            )
            params = module.params
            record("win_copy", module.check_mode, src=params["src"], dest=params["dest"],
                   remote_src=params["remote_src"], force=params["force"])
            source, dest = local(params["src"]), local(params["dest"])
            if not os.path.isfile(source):
                module.fail_json(msg="Cannot copy src file: '%s' as it does not exist" % params["src"])
            if os.path.isfile(dest) and (not params["force"] or sha256(dest) == sha256(source)):
                module.exit_json(changed=False)
            if not module.check_mode:
                shutil.copyfile(source, dest)
            module.exit_json(changed=True)
        '''
    ),
    "win_powershell": textwrap.dedent(
        '''
        def main():
            module = AnsibleModule(
                argument_spec=dict(script=dict(type="str"), parameters=dict(type="dict"),
                                   depth=dict(type="int", default=2)),
                supports_check_mode=True,
            )
            if module.check_mode:
                module.fail_json(msg="the signature script ran in check mode: it would have been skipped")
            script = module.params["script"] or ""
            if script.startswith("\\ufeff") or "Get-AuthenticodeSignature" not in script:
                module.fail_json(msg="the script is not Get-MediaSignature.ps1 without its BOM")
            parameters = module.params["parameters"] or {}
            record("win_powershell", module.check_mode, **parameters)
            # signatures.json: SHA-256 of a file's content -> what Get-AuthenticodeSignature reports.
            with open(os.path.join(ROOT, "signatures.json"), encoding="utf-8") as handle:
                known = json.load(handle)
            files = []
            for key, image in (("FilePath", False), ("ImagePath", True)):
                for path in parameters.get(key) or []:
                    entry = {"path": path, "exists": os.path.isfile(local(path)), "checked_path": None,
                             "status": None, "signer_subject": None, "root_subject": None, "error": None}
                    if entry["exists"]:
                        entry["checked_path"] = "E:\\\\Setup.exe" if image else path
                        entry.update(known.get(sha256(local(path)), {"status": "NotSigned"}))
                    files.append(entry)
            module.exit_json(changed=False, result={"collector": "Get-MediaSignature", "files": files})
        '''
    ),
}

MICROSOFT_SIGNED = {
    "status": "Valid",
    "signer_subject": "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US",
    "root_subject": "CN=Microsoft Root Certificate Authority 2011, O=Microsoft Corporation, L=Redmond, "
    "S=Washington, C=US",
}
OTHER_ROOT = {
    "status": "Valid",
    "signer_subject": "CN=Contoso Code Signing",
    "root_subject": "CN=Contoso Root CA, DC=contoso, DC=local",
}
SECRETS = ("s3cret-url-password", "s3cret-proxy-password", "s3cret-become-password", "Bearer s3cret-token")


def _put(root: Path, relative: str, data: bytes) -> str:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _item(item_id, kind, relative_path, sha256=None):
    return {"id": item_id, "kind": kind, "file": relative_path.rsplit("/", 1)[-1], "relative_path": relative_path,
            "sha256": sha256, "sha256_source": "data" if sha256 else "none"}


def _estate(base: Path) -> dict:
    """Three fake servers: one staging from a share, one from a mirror, one verifying a local folder."""
    hosts = {}

    root = base / "ex-unc"
    iso = _put(root, "UNC/fs01/exchange-media/Exchange2019/CU15/ExchangeServer2019-x64-CU15.ISO", b"cu15 iso")
    msp = _put(root, "UNC/fs01/exchange-media/Exchange2019/CU15/Exchange2019-KB0000001-x64-en.msp", b"su")
    tampered = _put(root, "UNC/fs01/exchange-media/Prerequisites/UcmaRuntimeSetup.exe", b"tampered ucma")
    other = _put(root, "UNC/fs01/exchange-media/Prerequisites/rewrite_amd64_en-US.msi", b"re-signed msi")
    _put(root, "UNC/fs01/exchange-media/Prerequisites/vcredist_x64.exe", b"vc")
    (root / "signatures.json").write_text(json.dumps({iso: MICROSOFT_SIGNED, msp: MICROSOFT_SIGNED,
                                                      tampered: MICROSOFT_SIGNED, other: OTHER_ROOT}))
    hosts["ex-unc"] = {
        "fake_root": str(root),
        "exchange_media_source": {"type": "unc", "location": "\\\\fs01\\exchange-media\\"},
        "exchange_media_items": [
            _item("iso", "cu_iso", "Exchange2019/CU15/ExchangeServer2019-x64-CU15.ISO"),
            _item("su", "su_msp", "Exchange2019/CU15/Exchange2019-KB0000001-x64-en.msp", msp),
            _item("ucma", "prerequisite", "Prerequisites/UcmaRuntimeSetup.exe", "ef" * 32),
            _item("rewrite", "prerequisite", "Prerequisites/rewrite_amd64_en-US.msi", other),
            _item("vcredist", "prerequisite", "Prerequisites/vcredist_x64.exe"),
            _item("ndp", "prerequisite", "Prerequisites/ndp48-x86-x64-allos-enu.exe", "12" * 32),
        ],
        # The user's hash of the ISO, in capitals and with backslashes: it wins over the plan's none.
        "exchange_media_sha256": {"Exchange2019\\CU15\\ExchangeServer2019-x64-CU15.ISO": iso.upper()},
        # runas needs a Windows connection; here the copy runs as the connection user.
        "exchange_media_become": False,
        "exchange_media_become_password": SECRETS[2],
    }

    root = base / "ex-http"
    msp = _put(root, "HTTP/mirror.corp.example/exchange/Exchange 2016/CU23/Exchange2016-KB0000002-x64-ü.msp", b"su16")
    _put(root, "HTTP/mirror.corp.example/exchange/Exchange 2016/CU23/ExchangeServer2016-x64-CU23.ISO", b"cu23 iso")
    (root / "signatures.json").write_text(json.dumps({msp: MICROSOFT_SIGNED}))
    hosts["ex-http"] = {
        "fake_root": str(root),
        "exchange_media_source": {"type": "http", "location": "https://mirror.corp.example/exchange/"},
        "exchange_media_dest_dir": "C:/Staging/",
        "exchange_media_items": [
            _item("su", "su_msp", "Exchange 2016/CU23/Exchange2016-KB0000002-x64-ü.msp", msp),
            _item("iso", "cu_iso", "Exchange 2016/CU23/ExchangeServer2016-x64-CU23.ISO", "34" * 32),
            _item("missing", "prerequisite", "Prerequisites/vcredist_x64.exe", "56" * 32),
        ],
        "exchange_media_proxy_url": "http://proxy.corp.example:8080",
        "exchange_media_proxy_username": "proxy-user",
        "exchange_media_proxy_password": SECRETS[1],
        "exchange_media_url_username": "mirror-user",
        "exchange_media_url_password": SECRETS[0],
        "exchange_media_http_headers": {"Authorization": SECRETS[3]},
        "exchange_media_validate_certs": False,
    }

    root = base / "ex-local"
    msp = _put(root, "D/Media/Exchange2019/CU14/Exchange2019-KB0000003-x64-en.msp", b"su14")
    unsigned = _put(root, "D/Media/Prerequisites/vcredist_x64.exe", b"unsigned vc")
    (root / "signatures.json").write_text(json.dumps({msp: MICROSOFT_SIGNED}))
    hosts["ex-local"] = {
        "fake_root": str(root),
        "exchange_media_source": {"type": "local", "location": "D:\\Media"},
        "exchange_media_items": [
            _item("su", "su_msp", "Exchange2019/CU14/Exchange2019-KB0000003-x64-en.msp", msp),
            _item("vcredist", "prerequisite", "Prerequisites/vcredist_x64.exe", unsigned),
            _item("gone", "prerequisite", "Prerequisites/UcmaRuntimeSetup.exe", "78" * 32),
        ],
    }
    return hosts


def _run_role(base: Path):
    modules = base / "collections" / "ansible_collections" / "ansible" / "windows" / "plugins" / "modules"
    modules.mkdir(parents=True)
    for name, body in FAKE_MODULES.items():
        (modules / f"{name}.py").write_text(FAKE_COMMON + body + "\n\nmain()\n", encoding="utf-8")
    hosts = _estate(base)
    for host in hosts.values():
        host["ansible_connection"] = "local"
    inventory = {"all": {"hosts": hosts, "vars": {"ansible_python_interpreter": sys.executable}}}
    (base / "inventory.yml").write_text(yaml.safe_dump(inventory, allow_unicode=True), encoding="utf-8")
    state = base / "state"
    state.mkdir()
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
            "ANSIBLE_FILTER_PLUGINS": str(REPO / "filter_plugins"),
            "ANSIBLE_COLLECTIONS_PATH": str(base / "collections"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCAL_TEMP": str(base / "tmp"),
            "ANSIBLE_HOME": str(base / "home"),
        }
    )
    ansible_playbook = str(Path(sys.executable).with_name("ansible-playbook"))
    runs = {}
    for label, entry, check in (("stage-check", "stage", True), ("stage", "stage", False),
                                ("stage-again", "stage", False), ("verify-check", "verify", True)):
        playbook = [
            {
                "name": f"Run exchange_media {entry}",
                "hosts": "all",
                "gather_facts": False,
                "environment": {"EXCHANGE_MEDIA_FAKE_ROOT": "{{ fake_root }}"},
                "tasks": [
                    {"name": "Include the entry point",
                     "ansible.builtin.include_role": {"name": "exchange_media", "tasks_from": entry}},
                    {
                        "name": "Dump the facts",
                        "ansible.builtin.copy": {
                            "content": "{{ {'verified': exchange_media_verified, 'failures': exchange_media_failures,"
                            " 'pending': exchange_media_pending | map(attribute='id') | list} | to_json }}",
                            "dest": f"{state}/{label}-{{{{ inventory_hostname }}}}.json",
                            "mode": "0600",
                        },
                        "delegate_to": "localhost",
                        "check_mode": False,
                    },
                ],
            }
        ]
        (base / f"{label}.yml").write_text(yaml.safe_dump(playbook, sort_keys=False), encoding="utf-8")
        for host in hosts.values():
            Path(host["fake_root"], "calls.jsonl").unlink(missing_ok=True)
        cmd = [ansible_playbook, "-i", str(base / "inventory.yml"), str(base / f"{label}.yml")]
        if check:
            cmd.append("--check")
        proc = subprocess.run(cmd, cwd=base, env=env, capture_output=True, text=True, timeout=300, check=False)
        facts = {host: json.loads((state / f"{label}-{host}.json").read_text(encoding="utf-8"))
                 for host in hosts if (state / f"{label}-{host}.json").exists()}
        calls = {}
        for host, host_vars in hosts.items():
            log = Path(host_vars["fake_root"], "calls.jsonl")
            lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
            calls[host] = [json.loads(line) for line in lines]
        runs[label] = (proc, facts, calls)
    return runs


@pytest.fixture(scope="module")
def role_runs(tmp_path_factory):
    pytest.importorskip("ansible")
    return _run_role(tmp_path_factory.mktemp("media"))


def _recap(proc, host: str) -> dict[str, int]:
    line = next(line for line in proc.stdout.splitlines() if line.startswith(host + " ") and "ok=" in line)
    return {key: int(value) for key, value in (pair.split("=") for pair in line.split(":", 1)[1].split())}


@pytest.mark.parametrize("label", ["stage-check", "stage", "stage-again", "verify-check"])
def test_role_never_fails_a_host_and_never_shows_a_secret(role_runs, label):
    proc, facts, _calls = role_runs[label]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert set(facts) == {"ex-unc", "ex-http", "ex-local"}
    for host in facts:
        recap = _recap(proc, host)
        assert recap["failed"] == 0 and recap["unreachable"] == 0, (host, recap)
    for secret in SECRETS:
        assert secret not in proc.stdout and secret not in proc.stderr


def test_stage_from_a_share(role_runs):
    _proc, facts, calls = role_runs["stage"]
    result = facts["ex-unc"]
    assert set(result["verified"]) == {"iso", "su"}
    iso = result["verified"]["iso"]
    assert iso["path"] == "C:\\ExchangeMedia\\Exchange2019\\CU15\\ExchangeServer2019-x64-CU15.ISO"
    assert iso["sha256"] == hashlib.sha256(b"cu15 iso").hexdigest() and iso["sha256_source"] == "user"
    assert iso["signature_status"] == "Valid" and iso["signer"].startswith("CN=Microsoft Corporation")
    assert iso["root"].startswith("CN=Microsoft Root Certificate Authority 2011")
    assert result["failures"] == [
        "UcmaRuntimeSetup.exe: SHA-256 mismatch (expected " + "ef" * 32 + ", got "
        + hashlib.sha256(b"tampered ucma").hexdigest() + ")",
        "rewrite_amd64_en-US.msi: not signed by Microsoft (status Valid, chain root 'Contoso Root CA' is not one of: "
        "Microsoft Root Certificate Authority 2010, Microsoft Root Certificate Authority 2011)",
        "vcredist_x64.exe: no SHA-256 known: set exchange_media_sha256['Prerequisites/vcredist_x64.exe']",
        "ndp48-x86-x64-allos-enu.exe: copy from \\\\fs01\\exchange-media\\Prerequisites\\ndp48-x86-x64-allos-enu.exe "
        "failed: Cannot copy src file: '\\\\fs01\\exchange-media\\Prerequisites\\ndp48-x86-x64-allos-enu.exe' as it "
        "does not exist",
    ]
    copies = [call for call in calls["ex-unc"] if call["module"] == "win_copy"]
    # The refused item (no hash) is never copied; the others come from the share with remote_src.
    assert sorted(call["dest"].rsplit("\\", 1)[-1] for call in copies) == [
        "Exchange2019-KB0000001-x64-en.msp", "ExchangeServer2019-x64-CU15.ISO", "UcmaRuntimeSetup.exe",
        "ndp48-x86-x64-allos-enu.exe", "rewrite_amd64_en-US.msi"]
    assert all(call["remote_src"] and call["force"] is False for call in copies)
    signatures = next(call for call in calls["ex-unc"] if call["module"] == "win_powershell")
    # Only files that passed the hash check are signature-checked; the ISO is mounted, the others read.
    assert signatures["ImagePath"] == ["C:\\ExchangeMedia\\Exchange2019\\CU15\\ExchangeServer2019-x64-CU15.ISO"]
    assert sorted(signatures["FilePath"]) == [
        "C:\\ExchangeMedia\\Exchange2019\\CU15\\Exchange2019-KB0000001-x64-en.msp",
        "C:\\ExchangeMedia\\Prerequisites\\rewrite_amd64_en-US.msi",
    ]


def test_stage_from_a_mirror(role_runs):
    _proc, facts, calls = role_runs["stage"]
    result = facts["ex-http"]
    assert set(result["verified"]) == {"su"}
    assert result["verified"]["su"]["path"] == "C:\\Staging\\Exchange 2016\\CU23\\Exchange2016-KB0000002-x64-ü.msp"
    base = "https://mirror.corp.example/exchange/"
    iso_url = base + "Exchange%202016/CU23/ExchangeServer2016-x64-CU23.ISO"
    assert result["failures"] == [
        "ExchangeServer2016-x64-CU23.ISO: download from " + iso_url + " failed: The checksum for " + iso_url
        + " did not match '" + "34" * 32 + "', it was '" + hashlib.sha256(b"cu23 iso").hexdigest() + "'",
        "vcredist_x64.exe: download from " + base + "Prerequisites/vcredist_x64.exe failed: Error downloading '"
        + base + "Prerequisites/vcredist_x64.exe' to 'C:\\Staging\\Prerequisites\\vcredist_x64.exe': The remote "
        "server returned an error: (404) Not Found.",
    ]
    downloads = [call for call in calls["ex-http"] if call["module"] == "win_get_url"]
    assert len(downloads) == 3
    su = next(call for call in downloads if call["dest"].endswith(".msp"))
    assert su["url"] == base + "Exchange%202016/CU23/Exchange2016-KB0000002-x64-%C3%BC.msp"
    assert su["checksum"] == hashlib.sha256(b"su16").hexdigest() and su["checksum_algorithm"] == "sha256"
    assert su["force"] is False and su["validate_certs"] is False
    assert su["proxy_url"] == "http://proxy.corp.example:8080" and su["proxy_username"] == "proxy-user"
    assert su["proxy_password"] == SECRETS[1] and su["url_username"] == "mirror-user"
    assert su["url_password"] == SECRETS[0] and su["headers"] == {"Authorization": SECRETS[3]}
    folders = sorted(call["path"] for call in calls["ex-http"] if call["module"] == "win_file")
    assert folders == ["C:\\Staging\\Exchange 2016\\CU23", "C:\\Staging\\Prerequisites"]


def test_a_local_source_is_verified_in_place(role_runs):
    _proc, facts, calls = role_runs["stage"]
    result = facts["ex-local"]
    assert set(result["verified"]) == {"su"}
    assert result["verified"]["su"]["path"] == "D:\\Media\\Exchange2019\\CU14\\Exchange2019-KB0000003-x64-en.msp"
    assert result["failures"] == [
        "vcredist_x64.exe: not signed by Microsoft (status NotSigned)",
        "UcmaRuntimeSetup.exe: missing at D:\\Media\\Prerequisites\\UcmaRuntimeSetup.exe",
    ]
    assert result["pending"] == []
    assert not [call for call in calls["ex-local"] if call["module"] in ("win_copy", "win_get_url", "win_file")]


def test_check_mode_copies_nothing_but_still_verifies(role_runs):
    _proc, facts, calls = role_runs["stage-check"]
    for host in ("ex-unc", "ex-http"):
        # The share and the mirror are not touched; folders are only "created" in check mode.
        assert not [call for call in calls[host] if call["module"] in ("win_copy", "win_get_url")]
        folders = [call for call in calls[host] if call["module"] == "win_file"]
        assert folders and all(call["check_mode"] for call in folders)
        assert all(not call["check_mode"] for call in calls[host] if call["module"] == "win_stat")
    unc = facts["ex-unc"]
    assert unc["verified"] == {}
    assert unc["failures"][0] == (
        "ExchangeServer2019-x64-CU15.ISO: missing at C:\\ExchangeMedia\\Exchange2019\\CU15\\"
        "ExchangeServer2019-x64-CU15.ISO (check mode: not copied from \\\\fs01\\exchange-media\\Exchange2019\\CU15\\"
        "ExchangeServer2019-x64-CU15.ISO)"
    )
    assert len(unc["failures"]) == 6 and unc["failures"][3].startswith("rewrite_amd64_en-US.msi: missing at ")
    assert unc["failures"][4] == (
        "vcredist_x64.exe: no SHA-256 known: set exchange_media_sha256['Prerequisites/vcredist_x64.exe']"
    )
    assert facts["ex-http"]["failures"][0].endswith(
        "(check mode: not copied from https://mirror.corp.example/exchange/Exchange%202016/CU23/"
        "Exchange2016-KB0000002-x64-%C3%BC.msp)"
    )
    # The local server's verdict does not depend on check mode.
    assert facts["ex-local"] == role_runs["stage"][1]["ex-local"]


def test_a_second_stage_copies_only_what_is_still_wrong(role_runs):
    proc, facts, calls = role_runs["stage-again"]
    for host in facts:
        assert facts[host]["verified"] == role_runs["stage"][1][host]["verified"]
        assert facts[host]["failures"] == role_runs["stage"][1][host]["failures"]
    # The good items are left alone; only the wrong or missing ones are tried again.
    assert facts["ex-unc"]["pending"] == ["ucma", "ndp"]
    assert facts["ex-http"]["pending"] == ["iso", "missing"]
    # The mismatching file is replaced (force), the missing one copied straight.
    copies = [call for call in calls["ex-unc"] if call["module"] == "win_copy"]
    forces = {call["dest"].rsplit("\\", 1)[-1]: call["force"] for call in copies}
    assert forces == {"UcmaRuntimeSetup.exe": True, "ndp48-x86-x64-allos-enu.exe": False}
    assert _recap(proc, "ex-local")["changed"] == 1  # only the test's own dump of the facts


def test_verify_reads_and_copies_nothing(role_runs):
    _proc, facts, calls = role_runs["verify-check"]
    for host in facts:
        assert not [call for call in calls[host] if call["module"] in ("win_copy", "win_get_url", "win_file")]
        assert facts[host]["pending"] == []
        assert facts[host]["verified"] == role_runs["stage"][1][host]["verified"]
    assert facts["ex-unc"]["failures"][-1] == (
        "ndp48-x86-x64-allos-enu.exe: missing at C:\\ExchangeMedia\\Prerequisites\\ndp48-x86-x64-allos-enu.exe"
    )
    assert facts["ex-http"]["failures"] == [
        "ExchangeServer2016-x64-CU23.ISO: missing at C:\\Staging\\Exchange 2016\\CU23\\ExchangeServer2016-x64-CU23.ISO",
        "vcredist_x64.exe: missing at C:\\Staging\\Prerequisites\\vcredist_x64.exe",
    ]
