"""The nightly run's preflight: every input problem at once, before any server is touched."""

from __future__ import annotations

import json

import pytest

from exchange_remediation.nightly_preflight import NightlyInputError, check_nightly_inputs
from exchange_remediation.nightly_preflight import read_policy_yaml as _read_yaml

# Saturday 28 November 2026, 02:30 in Berlin (01:30 UTC): inside a Saturday 01:00-05:00 window.
SATURDAY_NIGHT = "2026-11-28T01:30:00Z"
WINDOW = {"days": ["saturday"], "start": "01:00", "end": "05:00", "timezone": "Europe/Berlin"}


def _params(tmp_path, **changes):
    params = {"fail_when": ["compromised", "vulnerable", "unknown", "unpatched_after_window"], "policy_file": "",
              "patch": False, "window": {}, "previous_report": "auto", "report_root": str(tmp_path / "reports"),
              "report_dir": str(tmp_path / "reports" / "20261128T013000Z"), "client": "acme",
              "inventory": "/srv/inventories/acme/hosts.yml", "min_log_days": 30, "hosts_without_media": [],
              "now": SATURDAY_NIGHT}
    params.update(changes)
    return params


def test_inside_the_window_with_patching_on_the_run_patches_until_the_window_closes(tmp_path):
    inputs = check_nightly_inputs(_params(tmp_path, patch=True, window=WINDOW), _read_yaml)
    assert inputs.patch_now is True
    # 05:00 in Berlin in November is 04:00 UTC.
    assert inputs.patch_window == {"applied": True, "opens_at": "2026-11-28T00:00:00Z",
                                   "closes_at": "2026-11-28T04:00:00Z"}
    assert inputs.fail_when == ["compromised", "vulnerable", "unknown", "unpatched_after_window"]
    assert any("this run is the baseline" in note for note in inputs.notes)


def test_outside_the_window_or_with_patching_off_the_run_only_assesses(tmp_path):
    tuesday = check_nightly_inputs(_params(tmp_path, patch=True, window=WINDOW,
                                           now="2026-12-01T01:30:00Z"), _read_yaml)
    assert tuesday.patch_now is False and tuesday.patch_window == {}
    assert any("outside the maintenance window (next: 2026-12-05T00:00:00Z" in note for note in tuesday.notes)
    off = check_nightly_inputs(_params(tmp_path, window=WINDOW), _read_yaml)
    assert off.patch_now is False and any("patching is off" in note for note in off.notes)


def test_every_problem_is_listed_in_one_error(tmp_path):
    params = _params(tmp_path, fail_when=["compromized"], patch=True, window={"days": ["caturday"], "start": "01:00",
                                                                               "end": "05:00"},
                     previous_report=str(tmp_path / "gone" / "report.json"), client="ACME Corp", min_log_days=-1)
    with pytest.raises(NightlyInputError) as caught:
        check_nightly_inputs(params, _read_yaml)
    message = str(caught.value)
    assert "no server was touched" in message
    for expected in ("exchange_nightly_fail_when", "did you mean compromised?", "exchange_nightly_window", "caturday",
                     "exchange_nightly_previous_report", "No such file or directory", "exchange_client 'ACME Corp'",
                     "exchange_nightly_min_log_days"):
        assert expected in message, expected


def test_patching_needs_a_window_and_a_media_source(tmp_path):
    with pytest.raises(NightlyInputError, match="exchange_nightly_window is empty"):
        check_nightly_inputs(_params(tmp_path, patch=True), _read_yaml)
    with pytest.raises(NightlyInputError, match="exchange_media_source is not set for the live server"
                                                "\\(s\\) ex19-mbx1, ex19-mbx2"):
        params = _params(tmp_path, patch=True, window=WINDOW, hosts_without_media=["ex19-mbx1", "ex19-mbx2"])
        check_nightly_inputs(params, _read_yaml)


def test_a_policy_file_replaces_the_list(tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text("fail_when:\n  - compromised\n  - new indicators\n", encoding="utf-8")
    inputs = check_nightly_inputs(_params(tmp_path, policy_file=str(policy)), _read_yaml)
    assert inputs.fail_when == ["compromised", "new_indicators"]
    policy.write_text("- compromised\n", encoding="utf-8")
    with pytest.raises(NightlyInputError, match="must be a YAML mapping with a fail_when list"):
        check_nightly_inputs(_params(tmp_path, policy_file=str(policy)), _read_yaml)
    with pytest.raises(NightlyInputError, match="cannot be read"):
        check_nightly_inputs(_params(tmp_path, policy_file=str(tmp_path / "missing.yml")), _read_yaml)


def test_an_empty_policy_is_allowed_but_a_missing_one_is_not(tmp_path):
    assert check_nightly_inputs(_params(tmp_path, fail_when=[]), _read_yaml).fail_when == []
    with pytest.raises(NightlyInputError, match="no policy given"):
        check_nightly_inputs(_params(tmp_path, fail_when=None), _read_yaml)


def test_the_previous_report_is_found_or_named(tmp_path):
    folder = tmp_path / "reports" / "20261127T013000Z"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps({
        "schema": 1, "hosts": {}, "run": {"client": "acme", "inventory": "/srv/inventories/acme/hosts.yml"}}),
        encoding="utf-8")
    found = check_nightly_inputs(_params(tmp_path), _read_yaml)
    assert found.previous_report == str(folder / "report.json")
    named = check_nightly_inputs(_params(tmp_path, previous_report=str(folder / "report.json")), _read_yaml)
    assert named.previous_report == str(folder / "report.json")
    off = check_nightly_inputs(_params(tmp_path, previous_report=""), _read_yaml)
    assert off.previous_report == "" and any("drift check off" in note for note in off.notes)
