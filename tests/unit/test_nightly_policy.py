"""nightly_policy: parsing fail_when, and the policy object on the demo estate's reports."""

from __future__ import annotations

import pytest
from nightly_samples import demo_report, next_night
from report_samples import sample_report

from exchange_remediation.nightly_policy import CONDITIONS, PolicyError, evaluate_policy, parse_fail_when
from exchange_remediation.report_drift import compare_reports

NIGHTLY = ("compromised", "vulnerable", "unknown", "unpatched_after_window")


@pytest.mark.parametrize(("value", "expected"), [
    (["compromised", "vulnerable", "unknown", "unpatched_after_window"], NIGHTLY),
    (["Compromised", " VULNERABLE ", "unpatched after window", "new-indicators"],
     ("compromised", "vulnerable", "unpatched_after_window", "new_indicators")),
    ("compromised, unknown,compromised", ("compromised", "unknown")),
    (["unknown", "Unknown", "UNKNOWN"], ("unknown",)),
    ([], ()),
    ("", ()),
    (("new_indicators",), ("new_indicators",)),
])
def test_parse_fail_when(value: object, expected: tuple[str, ...]) -> None:
    assert parse_fail_when(value) == expected


@pytest.mark.parametrize(("value", "message"), [
    (["compromized"], "fail_when entry 1: unknown condition 'compromized' (did you mean compromised?); "
                      "valid conditions: compromised, vulnerable, unknown, unpatched_after_window, new_indicators"),
    (["vulnerable", "unpatched-after-windows"], "fail_when entry 2: unknown condition 'unpatched-after-windows' "
                                                "(did you mean unpatched_after_window?)"),
    (["breached"], "fail_when entry 1: unknown condition 'breached'; valid conditions: compromised"),
    (["compromised", ""], "fail_when entry 2 is empty; valid conditions: compromised"),
    ("compromised,,unknown", "fail_when entry 2 is empty"),
    (["compromised", 2], "fail_when entry 2 must be a condition name (a string), got int 2"),
    ([None], "fail_when entry 1 must be a condition name (a string), got NoneType None"),
    ({"fail_when": ["compromised"]}, "fail_when must be a list of condition names, got dict"),
    (True, "fail_when must be a list of condition names, got bool"),
])
def test_parse_fail_when_errors_say_what_is_wrong(value: object, message: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_fail_when(value)
    assert str(raised.value).startswith(message)


def _by_name(policy: dict) -> dict[str, dict]:
    return {condition["name"]: condition for condition in policy["conditions"]}


def test_the_demo_estate_fails_the_nightly_policy() -> None:
    policy = evaluate_policy(demo_report(), NIGHTLY)
    assert [c["name"] for c in policy["conditions"]] == list(CONDITIONS)
    assert policy["fail_when"] == list(NIGHTLY) and policy["failed"] is True
    conditions = _by_name(policy)
    assert conditions["compromised"] == {"name": "compromised", "enforced": True, "evaluated": True,
                                         "triggered": True, "hosts": ["ex16-legacy"],
                                         "summary": "1 server compromised: ex16-legacy"}
    assert conditions["vulnerable"]["hosts"] == ["ex16-legacy", "ex16-mitigated", "ex19-dag1"]
    assert conditions["vulnerable"]["summary"] == "3 servers vulnerable: ex16-legacy, ex16-mitigated, ex19-dag1"
    unknown = conditions["unknown"]
    # Every server whose compromise the hunt could not rule out, and the one that was not assessed.
    assert "ex-damaged" in unknown["hosts"] and "exse01" not in unknown["hosts"]
    assert "ex-damaged (not assessed)" in unknown["summary"]
    assert "ex19-dag1 (compromise unknown)" in unknown["summary"]
    assert conditions["unpatched_after_window"] == {
        "name": "unpatched_after_window", "enforced": True, "evaluated": False, "triggered": False, "hosts": [],
        "summary": "not evaluated: this run did not patch in a maintenance window"}
    assert conditions["new_indicators"]["enforced"] is False and conditions["new_indicators"]["evaluated"] is False
    assert policy["summary"].startswith("policy failed: compromised (ex16-legacy); vulnerable (3 servers: "
                                        "ex16-legacy, ex16-mitigated, ex19-dag1); unknown (")


def test_conditions_not_enforced_are_reported_but_do_not_fail() -> None:
    policy = evaluate_policy(demo_report(), ["compromised"])
    conditions = _by_name(policy)
    assert conditions["vulnerable"]["triggered"] is True and conditions["vulnerable"]["enforced"] is False
    assert policy["failed"] is True and policy["summary"] == "policy failed: compromised (ex16-legacy)"


def test_an_empty_policy_never_fails() -> None:
    policy = evaluate_policy(demo_report(), parse_fail_when([]))
    assert policy["failed"] is False and policy["fail_when"] == []
    assert policy["summary"] == "policy passed: no condition is enforced"
    assert _by_name(policy)["compromised"]["triggered"] is True


def test_a_clean_estate_passes_and_names_what_was_not_evaluated() -> None:
    report = sample_report()
    report["hosts"] = {"ex19": report["hosts"]["ex19"]}
    policy = evaluate_policy(report, NIGHTLY)
    assert policy["failed"] is False
    assert policy["summary"] == ("policy passed: none of compromised, vulnerable, unknown, unpatched_after_window "
                                 "triggered (unpatched_after_window not evaluated)")
    assert _by_name(policy)["vulnerable"]["summary"] == "no server vulnerable"


def test_unknown_names_each_reason() -> None:
    report = sample_report()
    broken = report["hosts"]["ex16-patched"]
    broken["exchange"]["build"] = None
    broken["cves"]["CVE-2021-26855"] = "unknown"  # beside its CVE-2023-36434, unknown in the sample
    conditions = _by_name(evaluate_policy(report, ["unknown"]))
    # ex16's CVE-2021-34470 (an AD schema fix) cannot be told from the server alone.
    assert conditions["unknown"]["hosts"] == ["ex13-broken", "ex16", "ex16-patched"]
    assert conditions["unknown"]["summary"] == ("3 servers unknown: ex13-broken (not assessed), ex16 (1 CVE unknown), "
                                                "ex16-patched (build unknown, 2 CVEs unknown, compromise unknown)")


def test_unpatched_after_window_counts_only_when_the_run_patched() -> None:
    report = demo_report()
    states = {"ex16-legacy": "patched", "ex16-mitigated": "failed", "ex19-dag1": "planned", "ex10": "blocked",
              "ex13": "refused", "ex19-dag2": "up_to_date", "edge01": "skipped"}
    for host, state in states.items():
        report["hosts"][host]["remediation"] = {"state": state}
    report["patch_window"] = {"applied": True, "opens_at": "2026-11-28T00:00:00Z", "closes_at": "2026-11-28T04:00:00Z"}
    condition = _by_name(evaluate_policy(report, ["unpatched_after_window"]))["unpatched_after_window"]
    assert condition["evaluated"] is True and condition["triggered"] is True
    assert condition["hosts"] == ["edge01", "ex13", "ex16-mitigated", "ex19-dag1"]
    assert condition["summary"] == ("4 servers left unpatched after the window: edge01 (skipped), ex13 (refused), "
                                    "ex16-mitigated (failed), ex19-dag1 (planned)")
    report["patch_window"]["applied"] = False
    assert _by_name(evaluate_policy(report, ["unpatched_after_window"]))["unpatched_after_window"]["evaluated"] is False


def test_new_indicators_need_a_previous_report() -> None:
    previous = demo_report()
    current = next_night(previous)
    current["drift"] = compare_reports(current, previous, "/srv/reports/acme/20261128T020000Z/report.json")
    policy = evaluate_policy(current, ["new_indicators"])
    condition = _by_name(policy)["new_indicators"]
    assert condition["hosts"] == ["ex16-patched"]
    assert condition["summary"] == "1 server with new indicators: ex16-patched"
    assert policy["summary"] == "policy failed: new_indicators (ex16-patched)"
    current["drift"] = compare_reports(current, None)
    condition = _by_name(evaluate_policy(current, ["new_indicators"]))["new_indicators"]
    assert condition["evaluated"] is False and condition["triggered"] is False
    assert condition["summary"] == "not evaluated: no previous report to compare with"


def test_long_host_lists_are_cut_in_the_summary_only() -> None:
    report = demo_report()
    template = report["hosts"]["ex16-legacy"]
    report["hosts"] = {f"ex16-{number:02d}": template for number in range(1, 15)}
    condition = _by_name(evaluate_policy(report, ["compromised"]))["compromised"]
    assert len(condition["hosts"]) == 14
    assert condition["summary"].endswith("ex16-09, ex16-10 and 4 more")
