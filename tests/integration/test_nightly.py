"""playbooks/nightly.yml on the demo estate and on two MSP clients built from its evidence.

What a CI job relies on: the exit status follows the policy, the artefacts are all there, the
drift check compares with the same estate's previous run (never another client's), and bad input
stops the run before any server is touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import BIN, REPO

DEMO = REPO / "inventories" / "demo"
ARTEFACTS = ("report.json", "report.html", "summary.md", "junit.xml", "indicators.stix.json", "indicators.csv")


def nightly(inventory: Path, *extra: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                "ANSIBLE_NOCOLOR": "1"})
    command = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / "nightly.yml"), *extra]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout[-8000:] + done.stderr[-3000:]


def _vars(**values: Any) -> tuple[str, str]:
    return "-e", json.dumps(values)


def _report(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the demo estate


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two nightly runs of the demo: the default policy, then an empty one the next night."""
    root = tmp_path_factory.mktemp("nightly-demo") / "reports"
    first = nightly(DEMO, *_vars(exchange_nightly_report_root=str(root), exchange_nightly_run_id="20261128T020000Z"))
    second = nightly(DEMO, *_vars(exchange_nightly_report_root=str(root), exchange_nightly_run_id="20261129T020000Z",
                                  exchange_nightly_fail_when=[]))
    for run in ("20261128T020000Z", "20261129T020000Z"):
        shutil.rmtree(REPO / "evidence" / run, ignore_errors=True)
    return {"root": root, "first": first, "second": second}


def test_the_default_policy_fails_the_run_on_the_compromised_server(demo_runs: dict[str, Any]) -> None:
    done = demo_runs["first"]
    assert done.returncode == 2, _output(done)
    report = _report(demo_runs["root"] / "20261128T020000Z")
    policy = report["policy"]
    assert policy["failed"] is True
    assert policy["fail_when"] == ["compromised", "vulnerable", "unknown", "unpatched_after_window"]
    conditions = {condition["name"]: condition for condition in policy["conditions"]}
    assert conditions["compromised"]["hosts"] == ["ex16-legacy"] and conditions["compromised"]["triggered"]
    # The servers whose CVEs are open and neither patched nor mitigated, straight from the verdicts.
    vulnerable = sorted(name for name, host in report["hosts"].items() if host["verdict"]["vulnerable"])
    assert conditions["vulnerable"]["hosts"] == vulnerable and "ex16-legacy" in vulnerable
    assert "ex-damaged" in conditions["unknown"]["hosts"]
    # Not a patching night: the window condition is not evaluated, and says why.
    assert conditions["unpatched_after_window"]["evaluated"] is False
    assert conditions["new_indicators"]["enforced"] is False
    # The last task names the policy's verdict for the CI log.
    assert "ex16-legacy" in done.stdout.split("Fail the run when")[-1]


def test_a_nightly_run_writes_every_artefact_and_changes_nothing(demo_runs: dict[str, Any],
                                                                  report_schema: dict[str, Any]) -> None:
    folder = demo_runs["root"] / "20261128T020000Z"
    for name in ARTEFACTS:
        assert (folder / name).is_file(), name
    report = _report(folder)
    jsonschema.validate(report, report_schema)
    assert sorted(path.stem for path in (folder / "servers").glob("*.html")) == sorted(report["hosts"])
    assert report["hosts"]["ex16-legacy"]["hunt"]["status"] == "done"
    suites = {suite.get("name"): suite for suite in ET.parse(folder / "junit.xml").getroot().iter("testsuite")}
    policy_suite = suites["policy"]
    assert int(policy_suite.get("tests")) == 4 and int(policy_suite.get("failures")) == 3
    stix = json.loads((folder / "indicators.stix.json").read_text(encoding="utf-8"))
    assert stix["type"] == "bundle" and any(item["type"] == "sighting" for item in stix["objects"])
    assert "104.140.114.110" in (folder / "indicators.csv").read_text(encoding="utf-8")
    # Plan only (no window): nothing on any server changed.
    recap = demo_runs["first"].stdout.split("PLAY RECAP")[-1]
    assert "changed=0" in recap and "changed=1" not in recap


def test_the_next_night_compares_with_the_previous_report(demo_runs: dict[str, Any]) -> None:
    done = demo_runs["second"]
    assert done.returncode == 0, _output(done)
    first = _report(demo_runs["root"] / "20261128T020000Z")
    second = _report(demo_runs["root"] / "20261129T020000Z")
    assert first["drift"]["previous"] is None
    assert second["drift"]["previous"]["path"] == str(demo_runs["root"] / "20261128T020000Z" / "report.json")
    # The same evidence both nights: nothing added, gone, changed or new.
    assert second["drift"]["hosts_added"] == [] and second["drift"]["hosts_gone"] == []
    assert second["drift"]["changes"] == [] and second["drift"]["new_indicators_total"] == 0
    assert second["policy"]["failed"] is False and second["policy"]["fail_when"] == []


def test_short_logs_are_reported_as_a_limit_of_the_hunt(demo_runs: dict[str, Any]) -> None:
    report = _report(demo_runs["root"] / "20261128T020000Z")
    shorts = {name: host["hunt"]["retention"] for name, host in report["hosts"].items()
              if host.get("hunt", {}).get("retention", {}).get("short")}
    assert shorts, "the demo's bundles hold about a month of logs or less: some must be short of 30 days"
    for name, retention in shorts.items():
        assert retention["days"] < retention["required_days"] == 30
        messages = [warning["message"] for warning in report["hosts"][name]["warnings"]]
        assert any("could not see anything before" in message for message in messages)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("extra", "message"), [
    ({"exchange_nightly_fail_when": ["compromized", "vulnerable"]}, "did you mean"),
    ({"exchange_nightly_fail_when": "compromised, sometimes"}, "sometimes"),
    ({"exchange_nightly_previous_report": "/nonexistent/reports/20261127T020000Z/report.json"},
     "No such file or directory"),
    ({"exchange_nightly_patch": True}, "exchange_nightly_window is empty"),
    ({"exchange_nightly_window": {"days": ["caturday"], "start": "01:00", "end": "05:00"}}, "caturday"),
    ({"exchange_nightly_min_log_days": -3}, "exchange_nightly_min_log_days"),
])
def test_bad_input_stops_the_run_before_any_server_is_touched(tmp_path: Path, extra: dict[str, Any],
                                                              message: str) -> None:
    done = nightly(DEMO, *_vars(exchange_nightly_report_root=str(tmp_path / "reports"),
                                exchange_nightly_run_id="20261128T030000Z", **extra))
    assert done.returncode != 0
    assert message in done.stdout, _output(done)
    assert "no server was touched" in done.stdout
    # Nothing after the preflight ran: no facts collected, no evidence, no report.
    assert "TASK [exchange_facts" not in done.stdout
    assert not (REPO / "evidence" / "20261128T030000Z").exists()
    assert not (tmp_path / "reports").exists()


def test_a_malformed_policy_file_is_refused(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("fail_when: compromised: yes\n", encoding="utf-8")
    done = nightly(DEMO, *_vars(exchange_nightly_policy_file=str(policy),
                                exchange_nightly_report_root=str(tmp_path / "reports")))
    assert done.returncode != 0
    assert f"exchange_nightly_policy_file {policy}" in done.stdout and "not valid YAML" in done.stdout, _output(done)
    assert "TASK [exchange_facts" not in done.stdout


# --------------------------------------------------------------------------- two MSP clients

CLIENT_SERVERS = {"alpha": ("ex16-legacy", "ex19-dag1", "ex19-dag2"), "bravo": ("exse01", "ex16-patched", "edge01")}


def _client(base: Path, name: str, client: str) -> Path:
    """inventories/<client>/ as tools/new_client.py lays it out, its servers read from demo bundles."""
    folder = base / "inventories" / client
    (folder / "group_vars" / "all").mkdir(parents=True)
    hosts = {f"{name}-{server}": {"exchange_evidence_dir": str(DEMO / "evidence" / server)}
             for server in CLIENT_SERVERS[name]}
    inventory = {"all": {"children": {"exchange": {"hosts": hosts, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}}
    (folder / "hosts.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    (folder / "group_vars" / "all" / "main.yml").write_text(
        yaml.safe_dump({"exchange_client": client, "exchange_nightly_fail_when": ["compromised"]}), encoding="utf-8")
    return folder


def _names_of(name: str) -> set[str]:
    """Every name by which a client's servers could show up: inventory names, hostnames, FQDNs."""
    names = set()
    for server in CLIENT_SERVERS[name]:
        facts = json.loads((DEMO / "evidence" / server / "server.json").read_text(encoding="utf-8"))
        names |= {f"{name}-{server}", str(facts.get("hostname", "")).lower(), str(facts.get("fqdn", "")).lower()}
    return names - {""}


def _texts(folder: Path) -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8", errors="replace").lower()
            for path in folder.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("nightly-clients")
    suffix = str(os.getpid())
    names = {name: f"pytest-{name}-{suffix}" for name in CLIENT_SERVERS}
    folders = {name: _client(base, name, client) for name, client in names.items()}
    runs = {}
    try:
        runs["alpha-1"] = nightly(folders["alpha"], "-e", "exchange_nightly_run_id=20261127T020000Z")
        runs["bravo-1"] = nightly(folders["bravo"], "-e", "exchange_nightly_run_id=20261128T020000Z")
        runs["alpha-2"] = nightly(folders["alpha"], "-e", "exchange_nightly_run_id=20261129T020000Z")
        reports = {name: REPO / "reports" / client for name, client in names.items()}
        evidence = {name: REPO / "evidence" / client for name, client in names.items()}
        texts = {name: {**_texts(reports[name]), **_texts(evidence[name])} for name in names}
        reports_copy = {name: {run.name: _report(run) for run in sorted(reports[name].iterdir())} for name in names}
    finally:
        for client in names.values():
            shutil.rmtree(REPO / "reports" / client, ignore_errors=True)
            shutil.rmtree(REPO / "evidence" / client, ignore_errors=True)
    return {"names": names, "runs": runs, "texts": texts, "reports": reports_copy}


def test_each_client_gets_its_own_report_and_evidence_folders(clients: dict[str, Any]) -> None:
    for run, done in clients["runs"].items():
        # alpha holds the compromised ex16-legacy: its policy (compromised) fails; bravo's passes.
        assert done.returncode == (2 if run.startswith("alpha") else 0), _output(done)
    assert sorted(clients["reports"]["alpha"]) == ["20261127T020000Z", "20261129T020000Z"]
    assert sorted(clients["reports"]["bravo"]) == ["20261128T020000Z"]
    for name, reports in clients["reports"].items():
        for report in reports.values():
            assert sorted(report["hosts"]) == sorted(f"{name}-{server}" for server in CLIENT_SERVERS[name])
            assert report["run"]["client"] == clients["names"][name]


def test_nothing_of_one_client_appears_in_the_others_files(clients: dict[str, Any]) -> None:
    for name, other in (("alpha", "bravo"), ("bravo", "alpha")):
        foreign = _names_of(other)
        assert clients["texts"][name], name
        for path, text in clients["texts"][name].items():
            leaked = sorted(item for item in foreign if item in text)
            assert not leaked, f"{path} of {name} names {other}'s servers: {leaked}"


def test_drift_compares_with_the_same_clients_previous_run(clients: dict[str, Any]) -> None:
    # bravo's run came in between; alpha's second night still compares with alpha's first.
    second = clients["reports"]["alpha"]["20261129T020000Z"]
    assert second["drift"]["previous"]["path"].endswith(f"{clients['names']['alpha']}/20261127T020000Z/report.json")
    assert second["drift"]["hosts_added"] == [] and second["drift"]["hosts_gone"] == []
    assert clients["reports"]["bravo"]["20261128T020000Z"]["drift"]["previous"] is None


def test_a_vaulted_client_without_its_password_stops_before_any_server(tmp_path: Path) -> None:
    folder = _client(tmp_path, "alpha", f"pytest-vault-{os.getpid()}")
    secret = tmp_path / "vault-pass"
    secret.write_text("correct horse battery staple\n", encoding="utf-8")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    encrypted = subprocess.run([str(BIN / "ansible-vault"), "encrypt_string", "--vault-password-file", str(secret),
                                "--name", "vault_exchange_winrm_password", "Winter2026!"], check=True, env=env,
                               capture_output=True, text=True).stdout
    (folder / "group_vars" / "all" / "vault.yml").write_text("---\n" + encrypted, encoding="utf-8")
    done = nightly(folder, "-e", f"exchange_nightly_report_root={tmp_path / 'reports'}")
    assert done.returncode != 0
    assert "vaulted variable vault_exchange_winrm_password" in done.stdout, _output(done)
    assert "no vault secrets" in done.stdout and "no server was touched" in done.stdout
    assert "TASK [exchange_facts" not in done.stdout and not (tmp_path / "reports").exists()
    # With the password the same client gets through the preflight and is assessed.
    given = nightly(folder, "-e", f"exchange_nightly_report_root={tmp_path / 'reports'}", "--vault-password-file",
                    str(secret), "-e", "exchange_nightly_run_id=20261129T020000Z")
    assert given.returncode == 2, _output(given)  # its ex16-legacy is compromised
    assert "1 vaulted inventory value(s) decrypt" in given.stdout
    assert (tmp_path / "reports" / "20261129T020000Z" / "report.json").is_file()
    shutil.rmtree(REPO / "evidence" / folder.name, ignore_errors=True)
    check = subprocess.run([str(BIN / "python"), str(REPO / "tools" / "client_check.py"), str(folder)],
                           capture_output=True, text=True, env={k: v for k, v in env.items()
                                                                if not k.startswith("ANSIBLE_VAULT")}, check=False)
    assert check.returncode == 1
    assert "vault" in (check.stdout + check.stderr).lower()
