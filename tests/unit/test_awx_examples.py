"""docs/awx/: the AWX set-up playbook and the nightly survey.

A survey question is only useful if its variable is one the roles really read and its answers,
in the form AWX passes them (multiselect: a list of strings; multiple choice and text: a string;
integer: an int), pass the role's argument spec and the nightly preflight. configure.yml must
pass ``ansible-playbook --syntax-check`` and tools/check_task_args.py, which checks every
awx.awx module call against that module's documentation.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import check_task_args as cta
import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean

from exchange_remediation.maintenance_window import parse_window
from exchange_remediation.nightly_preflight import NIGHTLY_ARGUMENTS, check_nightly_inputs

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
SURVEY = REPO / "docs" / "awx" / "survey-nightly.json"
CONFIGURE = REPO / "docs" / "awx" / "configure.yml"
NIGHTLY_SPEC = REPO / "roles" / "exchange_nightly" / "meta" / "argument_specs.yml"
PREFLIGHT_TASKS = REPO / "roles" / "exchange_nightly" / "tasks" / "preflight.yml"
SURVEY_TYPES = frozenset({"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"})
REQUIRED_MODULES = {
    "awx.awx.project", "awx.awx.inventory", "awx.awx.inventory_source", "awx.awx.credential",
    "awx.awx.execution_environment", "awx.awx.job_template",
}
# Saturday 28 November 2026, 02:00 UTC: inside the survey's default window (Sat/Sun 01:00-05:00 UTC).
SATURDAY_NIGHT = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def survey() -> dict[str, Any]:
    return json.loads(SURVEY.read_text(encoding="utf-8"))


def questions() -> list[dict[str, Any]]:
    return survey()["spec"]


def choices(question: dict[str, Any]) -> list[str]:
    value = question.get("choices") or []
    return value.splitlines() if isinstance(value, str) else list(value)


def answer(question: dict[str, Any], value: Any) -> Any:
    """A survey answer as AWX hands it to the playbook as an extra variable."""
    if question["type"] == "multiselect":
        return value.splitlines() if isinstance(value, str) else list(value)
    if question["type"] == "integer":
        return int(value)
    if question["type"] == "float":
        return float(value)
    return str(value)


def role_options() -> dict[str, dict[str, Any]]:
    """Every variable of every role's argument specs (all entry points), by name."""
    options: dict[str, dict[str, Any]] = {}
    for path in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["argument_specs"].values():
            options.update(entry.get("options") or {})
    return options


def validate(variables: dict[str, Any]) -> list[str]:
    options = role_options()
    spec = {name: options[name] for name in variables}
    return ArgumentSpecValidator(spec).validate(variables).error_messages


def defaults() -> dict[str, Any]:
    return {question["variable"]: answer(question, question["default"]) for question in questions()}


def test_survey_has_the_awx_survey_shape() -> None:
    document = survey()
    assert document["name"] == "Exchange nightly"
    assert document["description"]
    variables = [question["variable"] for question in questions()]
    assert len(variables) == len(set(variables))
    for question in questions():
        assert question["type"] in SURVEY_TYPES
        assert question["question_name"] and question["question_description"]
        assert isinstance(question["required"], bool)
        if question["type"] in ("multiselect", "multiplechoice"):
            options = choices(question)
            assert options and len(options) == len(set(options))
            picked = question["default"].splitlines() if question["type"] == "multiselect" else [question["default"]]
            assert set(picked) <= set(options), question["variable"]
        if question["type"] == "integer":
            assert question["min"] <= question["default"] <= question["max"]
        if question["type"] == "text":
            assert question["min"] <= len(question["default"]) <= question["max"]


def test_survey_asks_for_policy_patch_window_log_days_and_hostnames() -> None:
    kinds = {question["variable"]: question["type"] for question in questions()}
    assert kinds == {
        "exchange_nightly_fail_when": "multiselect",
        "exchange_nightly_patch": "multiplechoice",
        "exchange_nightly_window": "text",
        "exchange_nightly_min_log_days": "integer",
        "exchange_nightly_export_hostnames": "multiplechoice",
    }


def test_nightly_role_has_an_argument_spec() -> None:
    assert NIGHTLY_SPEC.is_file(), "roles/exchange_nightly/meta/argument_specs.yml is missing"
    main = yaml.safe_load(NIGHTLY_SPEC.read_text(encoding="utf-8"))["argument_specs"]["main"]["options"]
    for question in questions():
        assert question["variable"] in main, f"{question['variable']} is not an option of exchange_nightly"


def test_survey_variables_are_role_variables_with_compatible_types() -> None:
    options = role_options()
    for question in questions():
        option = options[question["variable"]]
        kind = option.get("type", "str")
        if question["type"] == "multiselect":
            assert (kind, option.get("elements")) == ("list", "str")
        elif question["type"] == "integer":
            assert kind == "int"
        elif question["type"] == "multiplechoice" and kind == "bool":
            assert {boolean(choice) for choice in choices(question)} == {True, False}
        elif question["type"] == "text":
            assert kind in ("str", "dict")
        else:
            pytest.fail(f"{question['variable']}: survey type {question['type']} does not fit role type {kind}")


def test_survey_defaults_pass_the_role_argument_spec() -> None:
    assert validate(defaults()) == []


@pytest.mark.parametrize("question", questions(), ids=lambda question: question["variable"])
def test_every_survey_choice_passes_the_role_argument_spec(question: dict[str, Any]) -> None:
    for choice in choices(question):
        value = [choice] if question["type"] == "multiselect" else answer(question, choice)
        assert validate({question["variable"]: value}) == [], choice
    if question["type"] == "multiselect":
        assert validate({question["variable"]: choices(question)}) == []


def test_role_argument_spec_refuses_what_the_survey_must_not_send() -> None:
    # The comparison above is meaningful: the specs do reject wrong types.
    assert validate({"exchange_nightly_min_log_days": "thirty"}) != []
    assert validate({"exchange_nightly_patch": "perhaps"}) != []
    assert validate({"exchange_nightly_window": "Saturday 01:00"}) != []


def test_window_default_is_a_real_maintenance_window() -> None:
    text = defaults()["exchange_nightly_window"]
    window = parse_window(json.loads(text))
    assert (window.start.isoformat(), window.end.isoformat(), window.timezone) == ("01:00:00", "05:00:00", "UTC")


def preflight_parameters() -> dict[str, str]:
    """Module option -> role variable, for options the preflight task fills from one variable."""
    tasks = yaml.safe_load(PREFLIGHT_TASKS.read_text(encoding="utf-8"))
    for task in tasks:
        for module in ("exchange_nightly_preflight", "exchange.remediation.exchange_nightly_preflight"):
            if module in task:
                return {
                    option: match.group(1)
                    for option, value in task[module].items()
                    if isinstance(value, str) and (match := re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", value))
                }
    raise AssertionError("no exchange_nightly_preflight task in roles/exchange_nightly/tasks/preflight.yml")


@pytest.mark.parametrize("patch", ["false", "true"])
def test_survey_answers_pass_the_nightly_preflight(tmp_path: Path, patch: str) -> None:
    # What the role's preflight task hands its module, from the survey's answers: the module's own
    # argument spec converts them, then the preflight decides the run.
    answers = defaults() | {"exchange_nightly_patch": patch}
    by_variable = {variable: option for option, variable in preflight_parameters().items()}
    params = {by_variable[name]: value for name, value in answers.items() if name in by_variable}
    assert set(params) == {"fail_when", "patch", "window", "min_log_days"}
    params |= {
        "report_root": str(tmp_path / "reports" / "acme"),
        "report_dir": str(tmp_path / "reports" / "acme" / "20261128T020000Z"),
        "client": "acme",
        "previous_report": "",
        # Every live server of the client has exchange_media_source (the preflight task lists those without).
        "hosts_without_media": [],
        "now": SATURDAY_NIGHT.isoformat(),
    }
    validated = ArgumentSpecValidator(NIGHTLY_ARGUMENTS).validate(params)
    assert validated.error_messages == []
    inputs = check_nightly_inputs(validated.validated_parameters, read_yaml=lambda path: {})
    assert inputs.fail_when == ["compromised", "vulnerable", "unknown", "unpatched_after_window"]
    assert inputs.min_log_days == 30
    assert inputs.patch_now is (patch == "true")
    if inputs.patch_now:
        assert inputs.patch_window == {"applied": True, "opens_at": "2026-11-28T01:00:00Z",
                                       "closes_at": "2026-11-28T05:00:00Z"}


def test_export_hostnames_answer_is_read_as_a_boolean() -> None:
    # Not a preflight option: every use in the role's tasks must convert the survey's string.
    uses = [
        line
        for path in sorted((REPO / "roles" / "exchange_nightly" / "tasks").glob("*.yml"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if "exchange_nightly_export_hostnames" in line
    ]
    assert uses
    assert all(re.search(r"exchange_nightly_export_hostnames\s*\|\s*bool", line) for line in uses), uses


def configure_tasks() -> list[dict[str, Any]]:
    plays = yaml.safe_load(CONFIGURE.read_text(encoding="utf-8"))
    assert len(plays) == 1
    return plays[0]["tasks"]


def test_configure_creates_the_three_job_templates_with_the_survey() -> None:
    tasks = configure_tasks()
    modules = {key for task in tasks for key in task if key.startswith(("awx.awx.", "ansible.builtin."))}
    assert modules >= REQUIRED_MODULES
    templates = {task["awx.awx.job_template"]["name"]: task["awx.awx.job_template"]
                 for task in tasks if "awx.awx.job_template" in task}
    assert set(templates) == {"Exchange assess", "Exchange nightly", "Exchange remediate"}
    for template in templates.values():
        assert (REPO / template["playbook"]).is_file(), template["playbook"]
        assert template["allow_simultaneous"] is False
        assert template["credentials"] == ["{{ awx_vault_credential }}"]
    nightly = templates["Exchange nightly"]
    assert nightly["survey_enabled"] is True
    assert nightly["survey_spec"] == "{{ lookup('ansible.builtin.file', 'survey-nightly.json') | from_json }}"
    assert templates["Exchange remediate"]["job_type"] == "check"
    source = next(task["awx.awx.inventory_source"] for task in tasks if "awx.awx.inventory_source" in task)
    assert source["source_path"] == "inventories/{{ awx_client }}"
    credential = next(task for task in tasks if "awx.awx.credential" in task)
    assert credential["no_log"] is True
    assert credential["awx.awx.credential"]["credential_type"] == "Vault"


def test_configure_passes_syntax_check() -> None:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="true")
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "--syntax-check", str(CONFIGURE)],
        capture_output=True, text=True, cwd=REPO, env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "playbook: " in result.stdout


def test_configure_passes_the_task_argument_check() -> None:
    report = cta.TaskArgsChecker(REPO).check_paths([CONFIGURE])
    assert [str(finding) for finding in report.findings] == []
    assert report.calls == len(configure_tasks())
    assert cta.main(["--root", str(REPO), str(CONFIGURE)]) == 0


def test_task_argument_check_would_catch_a_misspelt_awx_option(tmp_path: Path) -> None:
    broken = tmp_path / "configure.yml"
    broken.write_text(CONFIGURE.read_text(encoding="utf-8").replace("survey_enabled:", "survey_enable:"),
                      encoding="utf-8")
    report = cta.TaskArgsChecker(REPO).check_paths([broken])
    assert [finding.message for finding in report.findings] == [
        "unknown option 'survey_enable' (did you mean 'survey_enabled'?)"
    ]
