"""docs/ci/: the nightly pipeline examples for GitLab CI and GitHub Actions.

Each example is validated offline against the real schema of its CI system (the copies that
check-jsonschema vendors from SchemaStore), and every shell command it runs is checked against
this repository: ``make`` targets exist in the Makefile, ``ansible-playbook`` playbooks exist,
and every repository path it names exists. The vault password may only reach a private
temporary file that an always-run step removes; it is never echoed.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
GITLAB = REPO / "docs" / "ci" / "gitlab-ci.yml"
GITHUB = REPO / "docs" / "ci" / "github-actions.yml"
# Top-level folders of the repository whose paths a pipeline may name; they must exist.
REPO_ROOTS = ("tools/", "playbooks/", "docs/", "roles/", "inventories/", "data/", "library/", "tests/")
# What a run writes (git-ignored, made by the run itself) is not checked for existence.
OUTPUT_ROOTS = ("reports/", "evidence/", "nightly-report/")
SEPARATORS = frozenset({";", "&&", "||", "|", "(", ")", "$(", "`"})


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def gitlab_scripts() -> list[str]:
    config = load(GITLAB)
    scripts = []
    for job in config.values():
        if isinstance(job, dict) and "script" in job:
            for key in ("before_script", "script", "after_script"):
                scripts.extend(job.get(key, []))
    return scripts


def github_scripts() -> list[str]:
    return [step["run"] for job in load(GITHUB)["jobs"].values() for step in job["steps"] if "run" in step]


def commands(script: str) -> Iterator[list[str]]:
    """Simple commands of a shell script: words split like sh does, at ; && || | ( ) and $( )."""
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()`")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        for token in lexer:
            # "$(" splits into "$" and "(" tokens: both end the command before a subshell.
            if token in SEPARATORS or token == "$":
                if current:
                    yield current
                current = []
                continue
            if not current and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token):
                # A variable assignment before (or instead of) a command: its value may name paths.
                yield ["<assign>", token.split("=", 1)[1]]
                continue
            current.append(token)
        if current:
            yield current


def make_targets() -> set[str]:
    targets = set()
    for line in (REPO / "Makefile").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.%-]+(?:\s+[A-Za-z0-9_.%-]+)*)\s*:(?!=)", line)
        if match:
            targets.update(match.group(1).split())
    return targets


def repo_paths(words: list[str]) -> Iterator[str]:
    for word in words:
        for candidate in re.split(r"[\s\"']", word):
            if candidate.startswith(REPO_ROOTS):
                yield candidate


def check_commands(scripts: list[str]) -> tuple[list[str], list[list[str]]]:
    errors = []
    seen = []
    targets = make_targets()
    for script in scripts:
        for words in commands(script):
            seen.append(words)
            program = words[0]
            if program == "make":
                for target in (word for word in words[1:] if "=" not in word and not word.startswith("-")):
                    if target not in targets:
                        errors.append(f"make target {target!r} is not in the Makefile")
            if program == "ansible-playbook":
                for playbook in (word for word in words[1:] if word.endswith((".yml", ".yaml"))):
                    if not (REPO / playbook).is_file():
                        errors.append(f"playbook {playbook} does not exist")
            for path in repo_paths(words):
                fixed = path.split("$", 1)[0]
                # With a variable in it, the part before the variable must be a folder that exists.
                target = REPO / (fixed.rsplit("/", 1)[0] if "$" in path else fixed)
                if not target.exists():
                    errors.append(f"path {path} does not exist in the repository")
    return errors, seen


@pytest.mark.parametrize(("example", "schema"), [(GITLAB, "vendor.gitlab-ci"), (GITHUB, "vendor.github-workflows")])
def test_example_validates_against_its_ci_schema(example: Path, schema: str) -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(example)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_schema_validation_catches_a_broken_pipeline(tmp_path: Path) -> None:
    # The vendored schema is strict enough to matter: a job keyword misspelt is refused.
    broken = tmp_path / "broken.yml"
    broken.write_text(GITLAB.read_text(encoding="utf-8").replace("  artifacts:\n", "  artefacts:\n"), encoding="utf-8")
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(broken)],
        capture_output=True, text=True,
    )
    assert result.returncode == 1
    workflow = tmp_path / "workflow.yml"
    workflow.write_text(GITHUB.read_text(encoding="utf-8").replace("runs-on:", "run-on:"), encoding="utf-8")
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True, text=True,
    )
    assert result.returncode == 1


@pytest.mark.parametrize("scripts", [gitlab_scripts, github_scripts], ids=["gitlab", "github"])
def test_every_command_refers_to_something_that_exists(scripts) -> None:
    errors, seen = check_commands(scripts())
    assert errors == []
    assert ["make", "nightly", 'CLIENT=$CLIENT'] in seen or ["make", "nightly", "CLIENT=$CLIENT"] in seen
    assert ["make", "setup"] in seen


def test_command_check_reports_missing_targets_and_paths() -> None:
    errors, _seen = check_commands(["make nightlyy CLIENT=acme && python tools/clientcheck.py inventories/demo",
                                    "ansible-playbook playbooks/nigthly.yml -i inventories/$CLIENT"])
    assert errors == [
        "make target 'nightlyy' is not in the Makefile",
        "path tools/clientcheck.py does not exist in the repository",
        "playbook playbooks/nigthly.yml does not exist",
        "path playbooks/nigthly.yml does not exist in the repository",
    ]


def vault_lines(scripts: list[str]) -> list[str]:
    return [line.strip() for script in scripts for line in script.splitlines() if "VAULT" in line.upper()]


def test_gitlab_keeps_the_vault_password_in_a_private_temp_file() -> None:
    config = load(GITLAB)
    job = config["nightly"]
    script = "\n".join(job["script"])
    assert script.index("umask 077") < script.index('> "$VAULT_PASS_FILE"')
    assert 'export ANSIBLE_VAULT_PASSWORD_FILE="$VAULT_PASS_FILE"' in script
    assert job["after_script"] == ['rm -f "$VAULT_PASS_FILE"']
    assert job["variables"]["VAULT_PASS_FILE"].startswith("/tmp/")
    for line in vault_lines(gitlab_scripts()):
        assert not line.startswith(("echo", "printf")) or "is not set" in line, line
    assert "set -x" not in script


def test_github_keeps_the_vault_password_in_a_private_temp_file() -> None:
    steps = load(GITHUB)["jobs"]["nightly"]["steps"]
    names = [step["name"] for step in steps]
    write = steps[names.index("Write the vault password to a private temporary file")]
    assert write["env"] == {"VAULT_PASSWORD": "${{ secrets.VAULT_PASSWORD }}"}
    assert write["run"].index("umask 077") < write["run"].index('> "$file"')
    assert 'mktemp "$RUNNER_TEMP/vault-pass.XXXXXX"' in write["run"]
    remove = steps[names.index("Remove the vault password file")]
    assert remove == {"name": "Remove the vault password file", "if": "always()",
                      "run": 'rm -f "$ANSIBLE_VAULT_PASSWORD_FILE"'}
    assert names.index("Run the nightly assessment") < names.index("Remove the vault password file")
    # The secret only ever reaches the step that writes the file.
    assert sum("secrets.VAULT_PASSWORD" in yaml.safe_dump(step) for step in steps) == 1
    for line in vault_lines(github_scripts()):
        assert not re.match(r"^echo .*\$VAULT_PASSWORD", line), line


def test_gitlab_runs_on_schedule_and_publishes_junit_and_reports() -> None:
    config = load(GITLAB)
    assert {"if": '$CI_PIPELINE_SOURCE == "schedule" && $CLIENT'} in config["workflow"]["rules"]
    job = config["nightly"]
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "nightly-report/junit.xml"
    assert job["artifacts"]["paths"] == ["nightly-report/"]
    assert job["cache"] == {"key": "reports-$CLIENT", "paths": ["reports/$CLIENT/"]}
    assert job["resource_group"] == "nightly-$CLIENT"
    script = "\n".join(job["script"])
    # The job's exit status is make's: the policy's 2 (or any failure) fails the job.
    assert 'make nightly CLIENT="$CLIENT" || status=$?' in script
    assert script.rstrip().endswith('exit "$status"')


def test_github_runs_on_schedule_and_publishes_junit_and_reports() -> None:
    workflow = load(GITHUB)
    assert workflow["on"]["schedule"] == [{"cron": "30 2 * * *"}]
    job = workflow["jobs"]["nightly"]
    assert job["environment"] == "${{ matrix.client }}"
    assert job["strategy"]["fail-fast"] is False
    uses = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert uses["actions/upload-artifact"]["if"].startswith("always()")
    assert uses["actions/upload-artifact"]["with"]["path"] == "${{ steps.report.outputs.dir }}"
    junit = uses["mikepenz/action-junit-report"]
    assert junit["with"]["report_paths"] == "${{ steps.report.outputs.dir }}/junit.xml"
    assert junit["if"].startswith("always()")
    assert workflow["permissions"] == {"contents": "read", "checks": "write"}
    assert uses["actions/cache/restore"]["with"]["path"] == "reports/${{ matrix.client }}"
