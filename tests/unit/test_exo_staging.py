"""m365_migration_stage staging: Set-ExoMigrationStaging.ps1, Set-MrsProxyState.ps1, apply.yml, absent.yml.

Static checks parse both scripts with the tree-sitter PowerShell grammar (tools/check_powershell.py)
and pin down the safety rules of m365-migration.md section 3 and 10: batches are never created with
-AutoStart/-AutoComplete, completion and skipped-item approval sit only behind their switches, the
session is always closed in a finally block, and no secret parameter is written out.

The task files run with ansible-playbook on localhost against stand-in win_powershell, win_copy and
win_file modules (written into a temporary collections path, as tests/fake_windows.py does) that
simulate Exchange Online and the EWS virtual directories in a JSON state file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import check_powershell
import check_task_args
import pytest
import tree_sitter
import tree_sitter_powershell
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "m365_migration_stage"
STAGING = ROLE / "files" / "Set-ExoMigrationStaging.ps1"
MRSPROXY = ROLE / "files" / "Set-MrsProxyState.ps1"
APPLY = ROLE / "tasks" / "apply.yml"
ABSENT = ROLE / "tasks" / "absent.yml"

SECRET_PARAMETERS = ("CertificatePassword", "EndpointCredentialPassword")
ENDPOINT_PASSWORD = "Ep-Pw-7f3a9c-never-shown"
CERTIFICATE_PASSWORD = "Cert-Pw-2b8d41-never-shown"

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


# --------------------------------------------------------------------------- static script checks

def _tree(path: Path) -> tuple[tree_sitter.Tree, bytes]:
    source = check_powershell.read_script(path).encode("utf-8")
    return PARSER.parse(source), source


def _walk(node: tree_sitter.Node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _commands(path: Path) -> list[tuple[tree_sitter.Node, str]]:
    """Every command node with its text (code only: comments are not commands)."""
    tree, source = _tree(path)
    return [(node, source[node.start_byte:node.end_byte].decode("utf-8"))
            for node in _walk(tree.root_node) if node.type == "command"]


def _enclosing_if_conditions(node: tree_sitter.Node, source: bytes) -> list[str]:
    conditions = []
    parent = node.parent
    while parent is not None:
        if parent.type == "if_statement":
            for child in parent.children:
                if child.type == "pipeline":
                    conditions.append(source[child.start_byte:child.end_byte].decode("utf-8"))
                    break
        parent = parent.parent
    return conditions


def _in_finally(node: tree_sitter.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type == "finally_clause":
            return True
        parent = parent.parent
    return False


@pytest.mark.parametrize("path", [STAGING, MRSPROXY], ids=lambda p: p.name)
def test_script_parses_has_bom_and_supports_should_process(path: Path) -> None:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    report = check_powershell.check_paths([path], REPO)
    assert report.ok, report.summary()
    code = check_powershell.code_only(check_powershell.read_script(path))
    assert "[CmdletBinding(SupportsShouldProcess)]" in code
    assert "$Ansible.Changed = $false" in code
    assert re.search(r"\$Ansible\.Changed = \$(script:Changed|changed\.Count)", code)


def test_no_auto_start_or_auto_complete_anywhere() -> None:
    # Code only for the scripts: their help says, in words, that the switches are not used.
    for path in (STAGING, MRSPROXY, APPLY, ABSENT):
        text = path.read_text(encoding="utf-8-sig")
        if path.suffix == ".ps1":
            text = check_powershell.code_only(text)
        assert "-AutoStart" not in text and "-AutoComplete" not in text, path.name


def test_new_migration_batch_reads_csv_bytes_and_takes_no_unknown_columns() -> None:
    created = [text for _node, text in _commands(STAGING) if text.startswith("New-MigrationBatch")]
    assert len(created) == 1
    assert "-CSVData" in created[0] and "-SourceEndpoint" in created[0] and "-TargetDeliveryDomain" in created[0]
    assert "AllowUnknownColumnsInCsv" not in created[0]
    assert "[System.IO.File]::ReadAllBytes($path)" in check_powershell.code_only(check_powershell.read_script(STAGING))


def test_completion_and_approval_only_inside_their_flag_branches() -> None:
    tree, source = _tree(STAGING)
    found = {"Complete-MigrationBatch": 0, "-ApproveSkippedItems": 0}
    for node in _walk(tree.root_node):
        if node.type != "command":
            continue
        text = source[node.start_byte:node.end_byte].decode("utf-8")
        conditions = " ".join(_enclosing_if_conditions(node, source))
        if text.startswith("Complete-MigrationBatch"):
            found["Complete-MigrationBatch"] += 1
            assert "$Complete" in conditions
        if "-ApproveSkippedItems" in text:
            found["-ApproveSkippedItems"] += 1
            assert "$ApproveSkippedItems" in conditions
        if text.startswith("Start-MigrationBatch"):
            assert "$Start" in conditions
    assert found == {"Complete-MigrationBatch": 1, "-ApproveSkippedItems": 1}


def test_every_change_is_behind_should_process() -> None:
    tree, source = _tree(STAGING)
    changing = ("New-MigrationEndpoint", "New-MigrationBatch", "Set-MigrationBatch", "Start-MigrationBatch",
                "Complete-MigrationBatch", "Remove-MigrationBatch", "Remove-MigrationEndpoint")
    tree_mrs, source_mrs = _tree(MRSPROXY)
    nodes = [(n, source) for n in _walk(tree.root_node)] + [(n, source_mrs) for n in _walk(tree_mrs.root_node)]
    checked = 0
    for node, text_source in nodes:
        if node.type != "command":
            continue
        text = text_source[node.start_byte:node.end_byte].decode("utf-8")
        if text.startswith(changing) or text.startswith("Set-WebServicesVirtualDirectory"):
            checked += 1
            assert "ShouldProcess" in " ".join(_enclosing_if_conditions(node, text_source)), text
    # Two Set-MigrationBatch calls: CompleteAfter before the start, and skipped-item approval.
    assert checked == 9


def test_disconnect_in_finally_and_removals_unconfirmed() -> None:
    tree, source = _tree(STAGING)
    disconnects = [n for n in _walk(tree.root_node) if n.type == "command"
                   and source[n.start_byte:n.end_byte].decode("utf-8").startswith("Disconnect-ExchangeOnline")]
    assert disconnects and all(_in_finally(n) for n in disconnects)
    for _node, text in _commands(STAGING):
        if text.startswith(("Remove-MigrationBatch", "Remove-MigrationEndpoint")):
            assert "-Confirm:$false" in text
        if text.startswith("Connect-ExchangeOnline"):
            assert "@connectParameters" in text
    code = check_powershell.code_only(check_powershell.read_script(STAGING))
    assert "ShowBanner   = $false" in code
    assert "Test-MigrationServerAvailability -ExchangeRemoteMove" in code
    assert "ExchangeRemoteMove = $true" in code


def test_no_secret_parameter_is_written_out() -> None:
    for path in (STAGING, MRSPROXY):
        for _node, text in _commands(path):
            if text.startswith(("Write-Host", "Write-Output", "Write-Verbose", "Write-Warning", "Write-Information")):
                assert not any(name in text for name in SECRET_PARAMETERS), text
    code = check_powershell.code_only(check_powershell.read_script(STAGING))
    # The plain values are only ever turned into SecureStrings; never placed in the result or an error.
    secret = re.compile(r"\$(CertificatePassword|EndpointCredentialPassword)\b")
    uses = [line.strip() for line in code.splitlines() if secret.search(line)]
    declarations = [line for line in uses if line.endswith("= '',")]
    assert len(declarations) == 2
    conversions = [line for line in uses if line not in declarations]
    assert len(conversions) == 2 and all("ConvertTo-SecureString" in line for line in conversions), uses
    assert "Get-Credential" not in code and "Export-Clixml" not in code


# --------------------------------------------------------------------------- task structure checks

def _tasks(path: Path) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", [APPLY, ABSENT], ids=lambda p: p.name)
def test_tasks_passing_secrets_have_no_log(path: Path) -> None:
    with_secrets = 0
    for task in _tasks(path):
        text = yaml.safe_dump(task)
        if re.search(r"password|certificate", text, re.IGNORECASE) and "ansible.windows.win_powershell" in task:
            with_secrets += 1
            assert task.get("no_log") is True, task["name"]
        if "ansible.builtin.debug" in task or "ansible.builtin.copy" in task:
            assert not re.search(r"password|thumbprint|app_id", text, re.IGNORECASE), task["name"]
    assert with_secrets == 1


def test_blocker_assert_comes_first_in_apply() -> None:
    tasks = _tasks(APPLY)
    assert "ansible.builtin.set_fact" in tasks[0]
    assert "ansible.builtin.assert" in tasks[1]
    assert "m365_migration_stage_override_blockers" in tasks[1]["ansible.builtin.assert"]["that"][0]
    for task in tasks[:2]:
        assert "always" in task["tags"]


def test_task_files_pass_check_task_args_and_inline_parse() -> None:
    report = check_task_args.TaskArgsChecker(REPO).check_paths([APPLY, ABSENT])
    assert report.ok, report.summary()
    report = check_powershell.check_paths([APPLY, ABSENT], REPO)
    assert report.ok, report.summary()


# --------------------------------------------------------------------------- localhost runs

FAKE_COMMON = textwrap.dedent(
    '''
    #!/usr/bin/python
    import json
    import os
    import shutil

    from ansible.module_utils.basic import AnsibleModule


    def load():
        with open(os.environ["M365_STAGE_FAKE"], encoding="utf-8") as handle:
            return json.load(handle)


    def save(data):
        with open(os.environ["M365_STAGE_FAKE"], "w", encoding="utf-8") as handle:
            json.dump(data, handle)


    def record(kind, **details):
        with open(os.environ["M365_STAGE_FAKE"] + ".calls.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"kind": kind, **details}) + "\\n")
    '''
)

FAKE_WIN_POWERSHELL = textwrap.dedent(
    '''
    def mrsproxy(module, data, params):
        changed, unchanged, missing = [], [], []
        for identity in params["Identity"]:
            if identity not in data["mrsproxy"]:
                missing.append(identity)
            elif data["mrsproxy"][identity] == params["Enable"]:
                unchanged.append(identity)
            else:
                changed.append(identity)
                if not module.check_mode:
                    data["mrsproxy"][identity] = params["Enable"]
        record("mrsproxy", enable=params["Enable"], changed=changed)
        return bool(changed), {"enable": params["Enable"], "check_mode": module.check_mode, "changed": changed,
                               "unchanged": unchanged, "not_found": missing, "virtual_directories": [],
                               "errors": []}


    def staging(module, data, params):
        exo = data["exo"]
        changed = False
        batches = []
        endpoint = {"name": params["EndpointName"], "action": "none", "differences": []}
        if not (params.get("CertificateThumbprint") or params.get("CertificateFilePath")):
            module.fail_json(msg="no certificate")
        if params["State"] == "present":
            if exo["endpoint"] is not None:
                endpoint["action"] = "reused"
            else:
                assert params["EndpointCredentialPassword"]
                exo["endpoint"] = {"name": params["EndpointName"], "remote_server": params["RemoteServer"]}
                endpoint["action"] = "created"
                changed = True
                record("New-MigrationEndpoint", name=params["EndpointName"])
            for batch in params["Batches"]:
                entry = {"name": batch["Name"], "action": "none", "status": ""}
                if batch["Name"] in exo["batches"]:
                    entry.update(action="reused", status=exo["batches"][batch["Name"]])
                else:
                    if not module.check_mode and not os.path.exists(batch["CsvPath"]):
                        module.fail_json(msg="CSV not on the management host: " + batch["CsvPath"])
                    exo["batches"][batch["Name"]] = entry["status"] = "Created"
                    entry["action"] = "created"
                    changed = True
                    record("New-MigrationBatch", name=batch["Name"])
                if params["Start"] and entry["status"] in ("Created", "Stopped", "Failed"):
                    exo["batches"][batch["Name"]] = entry["status"] = "Syncing"
                    entry["action"] += "+started"
                    changed = True
                    record("Start-MigrationBatch", name=batch["Name"])
                if params["Complete"]:
                    record("Complete-MigrationBatch", name=batch["Name"])
                    exo["batches"][batch["Name"]] = entry["status"] = "Completing"
                    entry["action"] += "+completed"
                    changed = True
                batches.append(entry)
        else:
            for batch in params["Batches"]:
                entry = {"name": batch["Name"], "action": "not_present", "status": ""}
                if batch["Name"] in exo["batches"]:
                    entry.update(action="removed", status=exo["batches"].pop(batch["Name"]))
                    changed = True
                    record("Remove-MigrationBatch", name=batch["Name"])
                batches.append(entry)
            endpoint["action"] = "not_present"
            if exo["endpoint"] is not None:
                exo["endpoint"] = None
                endpoint["action"] = "removed"
                changed = True
                record("Remove-MigrationEndpoint", name=params["EndpointName"])
        return changed, {"state": params["State"], "check_mode": module.check_mode, "endpoint": endpoint,
                         "batches": batches, "changed": changed, "errors": []}


    def main():
        module = AnsibleModule(argument_spec=dict(script=dict(type="str", required=True),
                                                  parameters=dict(type="dict"), depth=dict(type="int"),
                                                  executable=dict(type="str")),
                               supports_check_mode=True)
        script = module.params["script"]
        if script.startswith("\\ufeff"):
            module.fail_json(msg="the BOM was not removed")
        params = module.params["parameters"] or {}
        data = load()
        if "New-MigrationBatch" in script:
            changed, result = staging(module, data, params)
        elif "Set-WebServicesVirtualDirectory" in script:
            changed, result = mrsproxy(module, data, params)
        else:
            module.fail_json(msg="unknown script")
        if not module.check_mode:
            save(data)
        module.exit_json(changed=changed, result=result, host_out="", host_err="", output=[], error=[])


    main()
    '''
)

FAKE_WIN_COPY = textwrap.dedent(
    '''
    module = AnsibleModule(argument_spec=dict(src=dict(type="str"), dest=dict(type="str", required=True)),
                           supports_check_mode=True)
    changed = not os.path.exists(module.params["dest"])
    if changed and not module.check_mode:
        shutil.copyfile(module.params["src"], module.params["dest"])
    record("win_copy", dest=module.params["dest"])
    module.exit_json(changed=changed, dest=module.params["dest"])
    '''
)

FAKE_WIN_FILE = textwrap.dedent(
    '''
    module = AnsibleModule(argument_spec=dict(path=dict(type="str", required=True), state=dict(type="str")),
                           supports_check_mode=True)
    changed = not os.path.isdir(module.params["path"])
    if changed and not module.check_mode:
        os.makedirs(module.params["path"])
    module.exit_json(changed=changed, path=module.params["path"])
    '''
)


def _install(base: Path) -> Path:
    root = base / "collections"
    modules = root / "ansible_collections" / "ansible" / "windows" / "plugins" / "modules"
    modules.mkdir(parents=True)
    for name, body in (("win_powershell", FAKE_WIN_POWERSHELL), ("win_copy", FAKE_WIN_COPY),
                       ("win_file", FAKE_WIN_FILE)):
        (modules / f"{name}.py").write_text(FAKE_COMMON.lstrip() + body, encoding="utf-8")
    return root


PLAYBOOK = """
- name: Run one entry point of m365_migration_stage
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the entry point
      ansible.builtin.include_role:
        name: m365_migration_stage
        tasks_from: "{{ entry }}"
"""


class Lab:
    """A temporary Exchange Online tenant and two on-premises servers, and ansible-playbook against them."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.collections = _install(base)
        self.state = base / "state.json"
        self.state.write_text(json.dumps({
            "exo": {"endpoint": None, "batches": {}},
            # ex02 already had MRSProxy on before the role ran: clean-up must leave it on.
            "mrsproxy": {"ex01\\EWS (Default Web Site)": False, "ex02\\EWS (Default Web Site)": True},
        }), encoding="utf-8")
        self.output = base / "output"
        self.output.mkdir()
        (base / "remote").mkdir()
        csvs = []
        for name, rows in (("wave-01", "alice@contoso.com"), ("wave-02", "bob@contoso.com")):
            csv = base / f"{name}.csv"
            csv.write_text(f"EmailAddress,MailboxType\n{rows},PrimaryAndArchive\n", encoding="utf-8")
            csvs.append({"name": name, "csv_file": str(csv)})
        (base / "playbook.yml").write_text(PLAYBOOK, encoding="utf-8")
        interpreter = sys.executable
        (base / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {
            name: {"ansible_connection": "local", "ansible_python_interpreter": interpreter}
            for name in ("localhost", "mgmt01", "ex01", "ex02")}}}), encoding="utf-8")
        self.variables = {
            "m365_migration_stage_plan": {
                "batches": csvs,
                "blockers": [{"id": "mrsproxy-cert-expiring"}, "licence-shortfall"],
            },
            "m365_migration_stage_override_blockers": [],
            "m365_migration_stage_management_host": "mgmt01",
            "m365_migration_stage_mrsproxy_servers": ["ex01", "ex02"],
            "m365_migration_stage_ews_site_name": "Default Web Site",
            "m365_migration_stage_output_dir": str(self.output),
            "m365_migration_stage_remote_csv_dir": str(base / "remote" / "csv"),
            "m365_migration_stage_app_id": "00000000-1111-2222-3333-444444444444",
            "m365_migration_stage_organization": "contoso.onmicrosoft.com",
            "m365_migration_stage_certificate_thumbprint": "",
            "m365_migration_stage_certificate_path": "C:\\certs\\exo-app.pfx",
            "m365_migration_stage_certificate_password": CERTIFICATE_PASSWORD,
            "m365_migration_stage_endpoint_name": "Hybrid MRSProxy",
            "m365_migration_stage_remote_server": "mail.contoso.com",
            "m365_migration_stage_endpoint_credential_user": "CONTOSO\\svc-migration",
            "m365_migration_stage_endpoint_credential_password": ENDPOINT_PASSWORD,
            "m365_migration_stage_max_concurrent_migrations": 20,
            "m365_migration_stage_target_delivery_domain": "contoso.mail.onmicrosoft.com",
            "m365_migration_stage_start": True,
            "m365_migration_stage_complete": False,
            "m365_migration_stage_approve_skipped_items": False,
            "m365_migration_stage_created_by": "m365_migration_stage",
            "m365_migration_stage_powershell_executable": "",
        }

    def run(self, entry: str, *options: str, **overrides: Any) -> subprocess.CompletedProcess:
        extra = self.base / "extra.json"
        extra.write_text(json.dumps({**self.variables, **overrides, "entry": entry}), encoding="utf-8")
        env = dict(os.environ, M365_STAGE_FAKE=str(self.state), ANSIBLE_COLLECTIONS_PATH=str(self.collections),
                   ANSIBLE_ROLES_PATH=str(REPO / "roles"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCAL_TEMP=str(self.base / "tmp"), ANSIBLE_HOME=str(self.base / "home"))
        command = [str(Path(sys.executable).with_name("ansible-playbook")), "-v",
                   "-i", str(self.base / "inventory.yml"), str(self.base / "playbook.yml"), "-e", f"@{extra}", *options]
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
        for secret in (ENDPOINT_PASSWORD, CERTIFICATE_PASSWORD):
            assert secret not in done.stdout and secret not in done.stderr
        return done

    def data(self) -> dict[str, Any]:
        return json.loads(self.state.read_text(encoding="utf-8"))

    def calls(self) -> list[dict[str, Any]]:
        path = Path(f"{self.state}.calls.jsonl")
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _recap_changed(output: str) -> int:
    match = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", output)
    assert match, output
    return int(match.group(1))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return Lab(tmp_path_factory.mktemp("exo-staging"))


def test_check_mode_changes_nothing(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    done = lab.run("apply", "--check",
                   m365_migration_stage_override_blockers=["licence-shortfall", "mrsproxy-cert-expiring"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert _recap_changed(done.stdout) > 0
    data = lab.data()
    assert data["exo"] == {"endpoint": None, "batches": {}}
    assert data["mrsproxy"]["ex01\\EWS (Default Web Site)"] is False
    assert not (lab.output / "mrsproxy-changed.json").exists()
    assert not (lab.output / "staging.json").exists()


def test_run_1_blockers_refuse_staging(lab: Lab) -> None:
    done = lab.run("apply", m365_migration_stage_override_blockers=["licence-shortfall"])
    assert done.returncode != 0
    assert "Staging refused: blockers mrsproxy-cert-expiring stand" in done.stdout
    assert "m365_migration_stage_override_blockers" in done.stdout
    assert lab.calls() == []
    assert lab.data()["exo"] == {"endpoint": None, "batches": {}}


def test_run_2_override_by_name_stages_and_starts_without_completing(lab: Lab) -> None:
    done = lab.run("apply", m365_migration_stage_override_blockers=["licence-shortfall", "mrsproxy-cert-expiring"])
    assert done.returncode == 0, done.stdout + done.stderr
    data = lab.data()
    assert data["exo"]["endpoint"]["name"] == "Hybrid MRSProxy"
    assert data["exo"]["batches"] == {"wave-01": "Syncing", "wave-02": "Syncing"}
    assert data["mrsproxy"] == {"ex01\\EWS (Default Web Site)": True, "ex02\\EWS (Default Web Site)": True}
    kinds = [call["kind"] for call in lab.calls()]
    assert "Complete-MigrationBatch" not in kinds
    assert kinds.count("New-MigrationBatch") == 2 and kinds.count("Start-MigrationBatch") == 2
    record = json.loads((lab.output / "mrsproxy-changed.json").read_text(encoding="utf-8"))
    assert record == {"ex01": ["ex01\\EWS (Default Web Site)"], "ex02": []}
    staging = json.loads((lab.output / "staging.json").read_text(encoding="utf-8"))
    assert staging["endpoint"]["action"] == "created"
    assert [b["action"] for b in staging["batches"]] == ["created+started", "created+started"]
    assert staging["overridden_blockers"] == ["mrsproxy-cert-expiring", "licence-shortfall"]
    assert staging["complete"] is False
    # The sanitized summary is shown (the staging task itself is censored by no_log).
    assert re.search(r"""action["']?: ["']?created\+started""", done.stdout), done.stdout


def test_run_3_second_run_reuses_everything(lab: Lab) -> None:
    before = len(lab.calls())
    done = lab.run("apply", m365_migration_stage_override_blockers=["licence-shortfall", "mrsproxy-cert-expiring"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert _recap_changed(done.stdout) == 0, done.stdout
    new = [call["kind"] for call in lab.calls()[before:]]
    assert not {"New-MigrationEndpoint", "New-MigrationBatch", "Start-MigrationBatch"} & set(new)
    staging = json.loads((lab.output / "staging.json").read_text(encoding="utf-8"))
    assert staging["endpoint"]["action"] == "reused"
    assert [(b["action"], b["status"]) for b in staging["batches"]] == [("reused", "Syncing")] * 2
    # The record still says ex01 was turned on by us, although this run changed nothing.
    record = json.loads((lab.output / "mrsproxy-changed.json").read_text(encoding="utf-8"))
    assert record["ex01"] == ["ex01\\EWS (Default Web Site)"]


def test_run_4_absent_removes_and_turns_mrsproxy_off_only_where_turned_on(lab: Lab) -> None:
    before = len(lab.calls())
    done = lab.run("absent")
    assert done.returncode == 0, done.stdout + done.stderr
    data = lab.data()
    assert data["exo"] == {"endpoint": None, "batches": {}}
    assert data["mrsproxy"] == {"ex01\\EWS (Default Web Site)": False, "ex02\\EWS (Default Web Site)": True}
    new = lab.calls()[before:]
    assert [c["kind"] for c in new] == ["Remove-MigrationBatch", "Remove-MigrationBatch", "Remove-MigrationEndpoint",
                                         "mrsproxy"]
    assert new[-1] == {"kind": "mrsproxy", "enable": False, "changed": ["ex01\\EWS (Default Web Site)"]}
    assert json.loads((lab.output / "mrsproxy-changed.json").read_text(encoding="utf-8")) == {}


def test_run_5_absent_again_changes_nothing(lab: Lab) -> None:
    done = lab.run("absent")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _recap_changed(done.stdout) == 0, done.stdout
    assert lab.data()["mrsproxy"]["ex02\\EWS (Default Web Site)"] is True
