"""tools/check_task_args.py: task arguments checked against module DOCUMENTATION.

ansible-lint skips argument validation for every PowerShell module; these tests pin down
that our own check catches what lint lets through (misspelled options, missing required
options, bad choices, bad literal types) on realistic Windows tasks, and that it walks
every task of the repository.
"""

from __future__ import annotations

from pathlib import Path

import check_task_args as cta
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "task_args"


@pytest.fixture(scope="module")
def checker() -> cta.TaskArgsChecker:
    # The fixture folder is a repository root of its own: its ansible.cfg sets
    # "library = ./library", which holds fixture_exchange_probe (.ps1 + .py sidecar).
    return cta.TaskArgsChecker(FIXTURES)


def check(checker: cta.TaskArgsChecker, name: str) -> cta.Report:
    return checker.check_paths([FIXTURES / name])


def messages(report: cta.Report) -> list[tuple[int, str, str]]:
    return [(finding.line, finding.module, finding.message) for finding in report.findings]


def test_correct_windows_tasks_pass(checker: cta.TaskArgsChecker) -> None:
    report = check(checker, "good_windows.yml")
    assert report.findings == []
    assert report.calls == 13
    assert report.files == 1


def test_misspelled_win_package_option_is_caught(checker: cta.TaskArgsChecker) -> None:
    report = check(checker, "unknown_option.yml")
    assert messages(report) == [
        (
            5,
            "ansible.windows.win_package",
            "unknown option 'product_idd' (did you mean 'product_id'?)",
        )
    ]
    assert str(report.findings[0]) == (
        "unknown_option.yml:5: ansible.windows.win_package: "
        "unknown option 'product_idd' (did you mean 'product_id'?)"
    )


def test_missing_required_options(checker: cta.TaskArgsChecker) -> None:
    report = check(checker, "missing_required.yml")
    assert messages(report) == [
        (3, "ansible.windows.win_service", "missing required option 'name'"),
        (7, "ansible.windows.win_get_url", "missing required option 'dest'"),
        (11, "ansible.windows.win_shell", "missing the free-form command (free_form)"),
    ]


def test_bad_choice_on_win_service_state(checker: cta.TaskArgsChecker) -> None:
    report = check(checker, "bad_choice.yml")
    found = messages(report)
    assert found[0][:2] == (5, "ansible.windows.win_service")
    assert "option 'state' value 'presnt' is not one of: absent, paused, started" in found[0][2]
    assert found[1] == (
        10,
        "ansible.windows.win_package",
        "option 'state' value 'presnt' is not one of: absent, present (did you mean 'present'?)",
    )
    assert len(found) == 2


def test_bad_literal_types(checker: cta.TaskArgsChecker) -> None:
    report = check(checker, "bad_type.yml")
    found = {(line, message.rsplit(": ", 1)[0]) for line, _module, message in messages(report)}
    assert found == {
        (5, "option 'wait_for_children' expects bool, got str 'sometimes'"),
        (11, "option 'url_timeout' expects int, got str 'soon'"),
        (16, 'option \'content\' expects str, got list ["first line", "second line"]'),
        (23, "option 'dependencies' expects list, got dict {\"MSExchangeADTopology\": true}"),
    }


def test_templated_values_are_not_type_checked(checker: cta.TaskArgsChecker) -> None:
    report = check(checker, "templated.yml")
    assert report.findings == []
    assert report.calls == 2


def test_aliases_count_as_known_and_as_the_required_option(checker: cta.TaskArgsChecker) -> None:
    win_file = checker.docs.spec("ansible.windows.win_file")
    win_regedit = checker.docs.spec("ansible.windows.win_regedit")
    assert cta.check_module_args(win_file, {"dest": "C:\\ExchangeStaging", "state": "directory"}, None) == []
    assert cta.check_module_args(win_regedit, {"key": "HKLM:\\SOFTWARE\\x", "type": "dword"}, None) == []
    issues = cta.check_module_args(win_file, {"state": "directory"}, None)
    assert [message for _anchor, message in issues] == ["missing required option 'path'"]


def test_doc_fragment_options_are_known(checker: cta.TaskArgsChecker) -> None:
    # url_timeout/validate_certs live in the ansible.windows.web_request doc fragment.
    assert "url_timeout" in checker.docs.spec("ansible.windows.win_get_url").options
    assert "validate_certs" in checker.docs.spec("ansible.windows.win_package").options
    probe = checker.docs.spec("fixture_exchange_probe")
    assert {"server", "mode", "include_updates", "url_timeout", "validate_certs"} <= set(probe.options)


def test_nested_block_rescue_always_are_walked(checker: cta.TaskArgsChecker) -> None:
    report = check(checker, "nested_blocks.yml")
    found = messages(report)
    assert [line for line, _module, _message in found] == [7, 13, 18, 19, 25]
    assert "value 'stoped'" in found[0][2]  # block
    assert "'remote_src' expects bool" in found[1][2]  # rescue
    assert found[2][2] == "missing required option 'name'"  # block nested in always
    assert found[3][2] == "unknown option 'nam' (did you mean 'name'?)"
    assert "'verbosity' expects int" in found[4][2]  # always of the nested block
    assert report.calls == 4


def test_unknown_module_and_unknown_task_keyword(checker: cta.TaskArgsChecker) -> None:
    report = check(checker, "unknown_module.yml")
    found = messages(report)
    assert found[0][:2] == (3, "ansible.windows.win_pakage")
    assert found[0][2].startswith("cannot resolve module 'ansible.windows.win_pakage'")
    assert found[1] == (
        10,
        "ansible.windows.win_service",
        "'changed_whn' is neither a task keyword nor the task's module (did you mean 'changed_when'?)",
    )
    assert len(found) == 2


def test_playbook_pre_tasks_tasks_and_handlers(checker: cta.TaskArgsChecker) -> None:
    report = check(checker, "playbook.yml")
    assert messages(report) == [
        (9, "ansible.windows.win_reg_stat", "unknown option 'nme' (did you mean 'name'?)"),
        (19, "ansible.builtin.debug", "unknown option 'mesage' (did you mean 'msg'?)"),
    ]
    assert report.calls == 3


def test_own_library_module_from_ansible_cfg(checker: cta.TaskArgsChecker) -> None:
    report = check(checker, "local_module.yml")
    assert messages(report) == [
        (5, "fixture_exchange_probe", "unknown option 'mood' (did you mean 'mode'?)"),
        (8, "fixture_exchange_probe", "missing required option 'server'"),
    ]
    probe = checker.docs.spec("fixture_exchange_probe")
    assert probe.windows  # resolved to the .ps1, documented by the .py sidecar
    assert probe.doc_path.endswith("fixture_exchange_probe.py")


@pytest.mark.parametrize(
    ("type_name", "value", "windows", "expected"),
    [
        ("bool", "yes", True, True),
        ("bool", "No", False, False),
        ("bool", 1, True, True),
        ("int", "30", True, 30),
        ("int", 30.0, False, 30),
        ("float", "1.5", True, 1.5),
        ("list", "0,3010", False, ["0", "3010"]),
        ("list", "a, b", True, ["a", "b"]),
        ("dict", "a=1 b=2", True, "a=1 b=2"),
        ("dict", '{"a": 1}', False, {"a": 1}),
        ("str", 15, True, "15"),
        ("raw", [1, {"a": 2}], True, [1, {"a": 2}]),
    ],
)
def test_conversions_follow_ansible(type_name: str, value: object, windows: bool, expected: object) -> None:
    assert cta.convert(type_name, value, windows) == expected


@pytest.mark.parametrize(
    ("type_name", "value", "windows"),
    [
        ("bool", "maybe", True),
        ("int", True, False),
        ("int", 30.0, True),  # Ansible.Basic: Int32.Parse("30.0") fails
        ("int", "thirty", False),
        ("list", {"a": 1}, True),
        ("list", 1.5, True),
        ("dict", ["a"], False),
        ("dict", "no equals sign", True),
        ("str", ["a", "b"], True),
        ("str", True, False),
    ],
)
def test_conversions_that_fail(type_name: str, value: object, windows: bool) -> None:
    with pytest.raises(cta._ArgumentIssue):
        cta.convert(type_name, value, windows)


def test_windows_choices_ignore_case_python_choices_do_not() -> None:
    assert cta.in_choices("Present", ["absent", "present"], windows=True)
    assert not cta.in_choices("Present", ["absent", "present"], windows=False)
    assert cta.in_choices(True, ["yes", "no"], windows=False)


def test_cli_reports_and_exits_nonzero(capsys: pytest.CaptureFixture[str]) -> None:
    status = cta.main(["--root", str(FIXTURES), str(FIXTURES / "unknown_option.yml")])
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert out[0].startswith(
        "unknown_option.yml:5: ansible.windows.win_package: unknown option 'product_idd'"
    )
    assert out[-1] == "checked 1 module calls in 1 files: 1 errors"
    assert cta.main(["--root", str(FIXTURES), str(FIXTURES / "good_windows.yml")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "checked 13 module calls in 1 files: 0 errors"


class _TaggedLoader(yaml.SafeLoader):
    """SafeLoader that tolerates ansible's !vault / !unsafe tags."""


_TaggedLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _holds_a_list(path: Path) -> bool:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_TaggedLoader)
    except yaml.YAMLError:
        return True  # broken YAML: the checker must report it, so it must look at the file
    return isinstance(data, list) and bool(data)


def _repository_task_files() -> list[Path]:
    """Task files found by a plain glob, independent of the checker's own walker."""
    patterns = ("roles/*/tasks/**/*.yml", "roles/*/handlers/**/*.yml", "playbooks/*.yml")
    return sorted({path for pattern in patterns for path in REPO.glob(pattern) if _holds_a_list(path)})


def test_repository_tasks_pass() -> None:
    report = cta.TaskArgsChecker(REPO).check_tree()
    assert [str(finding) for finding in report.findings] == []
    globbed = _repository_task_files()
    if globbed:
        # task files exist, so the walker must have found module calls in them
        assert report.calls > 0
        assert report.files >= len(globbed)
