"""execution-environment.yml: the AWX execution environment's definition.

``ansible-builder create`` writes the build context (Containerfile plus the files it copies)
without a container engine, so the definition is checked the way ansible-builder reads it:
the context must carry exactly our requirements-ee.txt, requirements.yml and bindep.txt, and
nothing from the repository that could hold a secret. requirements-ee.txt is the run-time
subset of requirements.txt: the same projects, never one the test suite does not install.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
DEFINITION = REPO / "execution-environment.yml"
# Packages the collection imports at run time (module_utils, library, action and filter plugins).
RUNTIME_IMPORTS = {
    "yara-x": "yara_x", "evtx": "evtx", "msal": "msal", "requests": "requests", "cryptography": "cryptography",
    "jsonschema": "jsonschema", "fastjsonschema": "fastjsonschema", "pywinrm": "winrm", "pypsrp": "pypsrp",
    "stix2": "stix2", "pyjwt": "jwt",
}


def requirement_names(path: Path) -> dict[str, str]:
    """Normalised project name (PEP 503) -> the requirement line, comments and blanks left out."""
    names = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        assert match, f"{path.name}: cannot read {raw!r}"
        names[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = line
    return names


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ee") / "context"
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    result = subprocess.run(
        [str(BIN / "ansible-builder"), "create", "--file", str(DEFINITION), "--context", str(directory),
         "--output-filename", "Containerfile"],
        capture_output=True, text=True, cwd=REPO, env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Complete! The build context can be found at" in result.stdout
    return directory


def test_definition_is_version_3_with_our_dependency_files() -> None:
    definition = yaml.safe_load(DEFINITION.read_text(encoding="utf-8"))
    assert definition["version"] == 3
    assert definition["images"]["base_image"]["name"] == "quay.io/centos/centos:stream9"
    dependencies = definition["dependencies"]
    assert (dependencies["python"], dependencies["galaxy"], dependencies["system"]) == (
        "requirements-ee.txt", "requirements.yml", "bindep.txt"
    )
    # The same ansible-core range as the controller (requirements.txt).
    assert dependencies["ansible_core"]["package_pip"] == requirement_names(REPO / "requirements.txt")["ansible-core"]
    assert "additional_build_files" not in definition


def test_context_carries_our_requirements(context: Path) -> None:
    build = context / "_build"
    assert (build / "requirements.txt").read_text(encoding="utf-8") == (REPO / "requirements-ee.txt").read_text(
        encoding="utf-8"
    )
    assert (build / "bindep.txt").read_text(encoding="utf-8") == (REPO / "bindep.txt").read_text(encoding="utf-8")
    assert yaml.safe_load((build / "requirements.yml").read_text(encoding="utf-8")) == yaml.safe_load(
        (REPO / "requirements.yml").read_text(encoding="utf-8")
    )


def test_containerfile_installs_them(context: Path) -> None:
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core>=2.18,<2.20 ansible-runner>=2.4,<3"' in containerfile
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    assert "--user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    # The run-time imports are proven at build time, not on the first nightly run.
    imports = re.search(r'RUN /usr/bin/python3\.11 -c "import ([^"]+)"', containerfile)
    assert imports, "no import check in the final stage"
    assert set(imports.group(1).split(", ")) == set(RUNTIME_IMPORTS.values())


def test_context_copies_nothing_from_the_repository(context: Path) -> None:
    copied = sorted(path.relative_to(context).as_posix() for path in context.rglob("*") if path.is_file())
    scripts = {f"_build/scripts/{name}" for name in
               ("assemble", "check_ansible", "check_galaxy", "entrypoint", "install-from-bindep", "introspect.py",
                "pip_install")}
    assert set(copied) == {"Containerfile", "_build/requirements.txt", "_build/requirements.yml", "_build/bindep.txt"} \
        | scripts
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    sources = re.findall(r"^COPY (?:--from=\S+ )?(\S+)", containerfile, flags=re.MULTILINE)
    assert all(source.startswith(("_build", "/")) for source in sources), sources
    assert not re.search(r"vault|inventor|\.pass", containerfile, flags=re.IGNORECASE)


def test_ee_requirements_are_a_subset_of_requirements_txt() -> None:
    controller = requirement_names(REPO / "requirements.txt")
    ee = requirement_names(REPO / "requirements-ee.txt")
    missing = sorted(set(ee) - set(controller))
    assert missing == [], f"in requirements-ee.txt but not requirements.txt: {missing}"
    for name, line in ee.items():
        # Same range on both sides (extras aside): the image runs what the tests ran.
        assert re.sub(r"\[[^]]*\]", "", line).replace(" ", "") == re.sub(r"\[[^]]*\]", "", controller[name]).replace(
            " ", ""
        ), name


def test_ee_requirements_are_the_runtime_packages_only() -> None:
    ee = requirement_names(REPO / "requirements-ee.txt")
    assert set(ee) == set(RUNTIME_IMPORTS)
    for tooling in ("pytest", "hypothesis", "ruff", "yamllint", "ansible-lint", "molecule", "tree-sitter",
                    "python-evtx", "markdown-it-py", "ansible-builder", "check-jsonschema"):
        assert tooling not in ee
    assert "kerberos" in ee["pywinrm"]


def test_bindep_gives_kerberos_and_build_tools_for_rpm_images() -> None:
    entries = {}
    for raw in (REPO / "bindep.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            package, _, profiles = line.partition(" ")
            entries[package] = set(profiles.strip("[]").split())
    assert entries["krb5-workstation"] == {"platform:rpm"}
    assert entries["krb5-devel"] == {"platform:rpm", "compile"}
    assert entries["gcc"] == {"platform:rpm", "compile"}
    assert entries["python3.11-devel"] == {"platform:rpm", "compile"}


def test_bindep_parses_with_bindep_itself() -> None:
    result = subprocess.run(
        [str(BIN / "python"), "-c",
         "import sys; from bindep.depends import Depends; "
         "d = Depends(open(sys.argv[1]).read()); "
         "print(sorted(r[0] for r in d.active_rules(['platform:rpm', 'compile'])))",
         str(REPO / "bindep.txt")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "krb5-devel" in result.stdout
    assert "gcc" in result.stdout
