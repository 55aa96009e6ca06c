"""tools/client_check.py: an MSP client is checked before any of its servers is touched.

Each test builds a small repository in a temporary folder (``.gitignore``, ``inventories/``),
scaffolds clients with tools/new_client.py, fills them in the way an operator would, and
encrypts with ansible's real VaultLib and a password file, so the check sees exactly what
``ansible-vault`` writes. The vault password must never appear in the output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import client_check
import new_client
import pytest
from ansible.parsing.vault import VaultLib, VaultSecret

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Correct-Horse-Battery-Staple-7731"
OTHER_PASSWORD = "globex-Vault-2026-not-acme"

HOSTS = """\
---
all:
  children:
    exchange:
      vars:
        ansible_connection: winrm
        ansible_port: 5986
        ansible_winrm_scheme: https
        ansible_winrm_transport: kerberos
        ansible_winrm_server_cert_validation: validate
        ansible_winrm_ca_trust_path: "{{ inventory_dir }}/ca-bundle.pem"
        ansible_user: "{{ vault_exchange_winrm_user }}"
        ansible_password: "{{ vault_exchange_winrm_password }}"
      children:
        dag01:
          hosts:
            mbx01.corp.acme.example:
            mbx02.corp.acme.example:
        standalone:
          hosts:
            mbx03.corp.acme.example:
"""
VAULT = """\
---
vault_exchange_winrm_user: svc-exansible@CORP.ACME.EXAMPLE
vault_exchange_winrm_password: 'Wq7#kP2v!mZ9-ex-acme'
"""


def vault_lib(password: str) -> VaultLib:
    return VaultLib([("default", VaultSecret(password.encode()))])


def encrypt(text: str, password: str = PASSWORD) -> str:
    return vault_lib(password).encrypt(text).decode()


def write_password(path: Path, password: str = PASSWORD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "inventories").mkdir(parents=True)
    (root / "ansible.cfg").write_text("[defaults]\ninventory = inventories/demo/hosts.yml\n", encoding="utf-8")
    (root / ".gitignore").write_text("/reports/\n/evidence/\n*.vault-pass\n/keys/\n", encoding="utf-8")
    return root


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    # Outside the repository, as docs/msp.md asks.
    return write_password(tmp_path / "vault-keys" / "acme")


def make_client(repo: Path, name: str = "acme", password: str | None = PASSWORD) -> Path:
    """A client scaffolded by new_client.py and filled in: real hosts, media share, vaulted secrets."""
    directory = new_client.scaffold(name, repo / "inventories").directory
    (directory / "hosts.yml").write_text(HOSTS.replace("acme", name), encoding="utf-8")
    main = directory / "group_vars" / "all" / "main.yml"
    main.write_text(
        main.read_text(encoding="utf-8").replace("files.replace-me.invalid", f"fs01.corp.{name}.example"),
        encoding="utf-8",
    )
    vault = VAULT.replace("acme", name)
    (directory / "group_vars" / "all" / "vault.yml").write_text(
        encrypt(vault, password) if password else vault, encoding="utf-8"
    )
    return directory


def run(directory: Path, password_file: Path | None = None, environ: dict[str, str] | None = None,
        capsys: pytest.CaptureFixture | None = None) -> tuple[int, str, str]:
    argv = [str(directory)] + (["--vault-password-file", str(password_file)] if password_file else [])
    status = client_check.main(argv, environ={} if environ is None else environ)
    out, err = capsys.readouterr() if capsys else ("", "")
    assert PASSWORD not in out + err
    assert OTHER_PASSWORD not in out + err
    return status, out, err


def problems(directory: Path, password_file: Path | None = None, environ: dict[str, str] | None = None) -> list[str]:
    sources = client_check.vault_sources(str(password_file) if password_file else None, environ or {})
    result = client_check.ClientChecker(directory, sources, cwd=directory.parent.parent).run()
    return [str(problem) for problem in result.problems]


def test_filled_in_vaulted_client_is_ready(repo: Path, password_file: Path, capsys: pytest.CaptureFixture) -> None:
    directory = make_client(repo)
    status, out, err = run(directory, password_file, capsys=capsys)
    assert (status, err) == (0, "")
    assert out == "client acme: ready (3 hosts, 1 vaulted files)\n"


def test_password_from_environment_and_identity_list(repo: Path, password_file: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    directory = make_client(repo)
    assert run(directory, environ={"ANSIBLE_VAULT_PASSWORD_FILE": str(password_file)}, capsys=capsys)[0] == 0
    identity = {"ANSIBLE_VAULT_IDENTITY_LIST": f"acme@{password_file}"}
    assert run(directory, environ=identity, capsys=capsys)[0] == 0
    prompt = {"ANSIBLE_VAULT_IDENTITY_LIST": "acme@prompt"}
    status, _out, err = run(directory, environ=prompt, capsys=capsys)
    assert status == 1
    assert "vault id acme asks for its password: a nightly run cannot" in err


def test_wrong_vault_password_names_the_file(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    directory = make_client(repo)
    wrong = write_password(tmp_path / "vault-keys" / "globex", OTHER_PASSWORD)
    status, out, err = run(directory, wrong, capsys=capsys)
    assert status == 1
    assert "inventories/acme/group_vars/all/vault.yml: cannot be decrypted with the vault password given" in err
    assert out == "client acme: NOT ready (1 problem)\n"


def test_missing_vault_password(repo: Path, capsys: pytest.CaptureFixture) -> None:
    directory = make_client(repo)
    status, _out, err = run(directory, capsys=capsys)
    assert status == 1
    assert "1 vaulted file(s) but no vault password: pass --vault-password-file FILE" in err


def test_missing_password_file_is_reported(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    directory = make_client(repo)
    status, _out, err = run(directory, tmp_path / "vault-keys" / "nobody", capsys=capsys)
    assert status == 1
    assert "vault-keys/nobody (--vault-password-file) does not exist" in err


def test_unvaulted_secrets_are_errors_with_their_line(repo: Path, password_file: Path) -> None:
    directory = make_client(repo, password=None)
    host_vars = directory / "host_vars"
    host_vars.mkdir()
    (host_vars / "edge01.dmz.acme.example.yml").write_text(
        "---\n"
        "ansible_winrm_transport: ntlm\n"
        "ansible_user: .\\svc-exansible\n"
        "ansible_password: Winter2026!\n"
        "exchange_media_proxy_password: ''\n"
        "exchange_media_url_password: \"{{ vault_exchange_media_url_password }}\"\n"
        "m365_migration_stage_graph:\n"
        "  tenant_id: 0b3e2c8a-64c1-4f5e-9d0b-7c1e2a4f6d19\n"
        "  client_secret: 8Q~kR2.x_7yT-acme-graph\n"
        "vault_password_file: /etc/ansible/acme.pass\n"
        "ansible_become_pin_password: 482913\n",
        encoding="utf-8",
    )
    found = problems(directory, password_file)
    unvaulted = [line for line in found if "unvaulted secret" in line]
    assert [line.split(": unvaulted secret ")[1].split(":")[0] for line in unvaulted] == [
        "vault_exchange_winrm_password",
        "ansible_password",
        "m365_migration_stage_graph.client_secret",
        "ansible_become_pin_password",
    ]
    assert unvaulted[0].startswith("inventories/acme/group_vars/all/vault.yml:3: ")
    assert unvaulted[1].startswith("inventories/acme/host_vars/edge01.dmz.acme.example.yml:4: ")
    assert all("Winter2026!" not in line and "8Q~kR2" not in line for line in found)


def test_inline_vault_values_are_decrypted_and_checked(repo: Path, password_file: Path, tmp_path: Path) -> None:
    directory = make_client(repo)
    ciphertext = encrypt("Wq7#kP2v!mZ9-edge")
    indented = "\n".join("  " + line for line in ciphertext.splitlines())
    (directory / "group_vars" / "edge.yml").write_text(
        f"---\nansible_password: !vault |\n{indented}\n", encoding="utf-8"
    )
    assert problems(directory, password_file) == []
    result = client_check.check_client(directory, str(password_file), environ={})
    assert (result.ready, result.vaulted_files) == (True, 2)
    wrong = write_password(tmp_path / "vault-keys" / "wrong", OTHER_PASSWORD)
    found = problems(directory, wrong)
    assert "inventories/acme/group_vars/edge.yml:2: !vault value of ansible_password cannot be decrypted" in found[1]


def test_client_pointing_at_another_clients_folder(repo: Path, tmp_path: Path) -> None:
    globex_password = write_password(tmp_path / "vault-keys" / "globex", OTHER_PASSWORD)
    make_client(repo, "globex", OTHER_PASSWORD)
    directory = make_client(repo)
    acme_password = write_password(tmp_path / "vault-keys" / "acme")
    triage = directory / "host_vars"
    triage.mkdir()
    (triage / "exold01-triage.yml").write_text(
        "---\n"
        "ansible_connection: local\n"
        "exchange_evidence_dir: inventories/globex/evidence/exold01\n",
        encoding="utf-8",
    )
    (directory / "group_vars" / "exchange.yml").write_text(
        "---\n"
        "ansible_winrm_ca_trust_path: /srv/msp/exchange-remediation/inventories/globex/ca-bundle.pem\n"
        "exchange_facts_evidence_root: evidence/globex/nightly\n",
        encoding="utf-8",
    )
    found = problems(directory, acme_password)
    assert found == [
        "inventories/acme/group_vars/exchange.yml:2: ansible_winrm_ca_trust_path points into another client's "
        "folder inventories/globex/",
        "inventories/acme/group_vars/exchange.yml:3: exchange_facts_evidence_root points into another client's "
        "evidence/globex/",
        "inventories/acme/group_vars/exchange.yml:3: exchange_facts_evidence_root evidence/globex/nightly is outside "
        "the client's own folders (inventories/acme/, evidence/acme/)",
        "inventories/acme/host_vars/exold01-triage.yml:3: exchange_evidence_dir points into another client's "
        "folder inventories/globex/",
        "inventories/acme/host_vars/exold01-triage.yml:3: exchange_evidence_dir inventories/globex/evidence/exold01 "
        "is outside the client's own folders (inventories/acme/, evidence/acme/)",
    ]
    # The other client, checked with its own password, is unaffected.
    assert problems(repo / "inventories" / "globex", globex_password) == []


def test_evidence_dirs_must_be_the_clients_own(repo: Path, password_file: Path) -> None:
    directory = make_client(repo)
    host_vars = directory / "host_vars"
    host_vars.mkdir()

    def evidence(value: str) -> list[str]:
        (host_vars / "exold01-triage.yml").write_text(
            f"---\nansible_connection: local\nexchange_evidence_dir: {value}\n", encoding="utf-8"
        )
        return problems(directory, password_file)

    assert evidence("inventories/acme/evidence/exold01") == []
    assert evidence("evidence/acme/20261128T020000Z/exold01") == []
    assert evidence("/srv/ir/acme/case-2021-0042/exold01") == []
    assert evidence('"{{ inventory_dir }}/evidence/exold01"') == []
    assert evidence("/srv/ir/case-2021-0042/exold01") == [
        "inventories/acme/host_vars/exold01-triage.yml:3: exchange_evidence_dir /srv/ir/case-2021-0042/exold01 is "
        "outside the repository and does not name the client: use a folder of its own such as /srv/ir/acme/..."
    ]
    assert evidence("reports/../evidence/shared") == [
        "inventories/acme/host_vars/exold01-triage.yml:3: exchange_evidence_dir reports/../evidence/shared is "
        "outside the client's own folders (inventories/acme/, evidence/acme/)"
    ]


def test_report_root_must_be_the_clients_own(repo: Path, password_file: Path) -> None:
    directory = make_client(repo)
    main = directory / "group_vars" / "all" / "main.yml"
    text = main.read_text(encoding="utf-8")

    def report_root(value: str) -> list[str]:
        main.write_text(text + f"exchange_nightly_report_root: {value}\n", encoding="utf-8")
        return problems(directory, password_file)

    assert report_root("/srv/exchange/reports/acme") == []
    assert report_root("reports/acme") == []
    line = len(text.splitlines()) + 1
    assert report_root("reports") == [
        f"inventories/acme/group_vars/all/main.yml:{line}: exchange_nightly_report_root reports is outside the "
        "client's own folders (reports/acme/)"
    ]
    assert report_root("/srv/exchange/reports") == [
        f"inventories/acme/group_vars/all/main.yml:{line}: exchange_nightly_report_root /srv/exchange/reports is "
        "outside the repository and does not name the client: use a folder of its own such as "
        "/srv/exchange/reports/acme"
    ]


def test_exchange_client_must_equal_the_folder_name(repo: Path, password_file: Path) -> None:
    directory = make_client(repo)
    main = directory / "group_vars" / "all" / "main.yml"
    text = main.read_text(encoding="utf-8")
    main.write_text(text.replace("exchange_client: acme", "exchange_client: globex"), encoding="utf-8")
    found = problems(directory, password_file)
    assert len(found) == 1
    assert found[0].startswith("inventories/acme/group_vars/all/main.yml:")
    assert found[0].endswith("exchange_client is 'globex' but the folder is 'acme': reports and evidence would go "
                             "to another client's folders")
    main.write_text(text.replace("exchange_client: acme\n", ""), encoding="utf-8")
    assert problems(directory, password_file) == [
        "inventories/acme/group_vars/all: does not set exchange_client (it must be 'acme', the folder name)"
    ]


def test_exchange_client_set_for_a_group_or_host_must_match_too(repo: Path, password_file: Path) -> None:
    directory = make_client(repo)
    (directory / "group_vars" / "dag01.yml").write_text("---\nexchange_client: globex\n", encoding="utf-8")
    assert problems(directory, password_file) == [
        "inventories/acme/group_vars/dag01.yml:2: exchange_client is 'globex' but the folder is 'acme': reports and "
        "evidence would go to another client's folders"
    ]


def test_symbolic_link_out_of_the_client_folder(repo: Path, tmp_path: Path) -> None:
    make_client(repo, "globex", OTHER_PASSWORD)
    directory = make_client(repo)
    shared = directory / "group_vars" / "exchange.yml"
    shared.symlink_to(repo / "inventories" / "globex" / "group_vars" / "all" / "main.yml")
    found = problems(directory, write_password(tmp_path / "vault-keys" / "acme"))
    assert found[0] == (
        f"inventories/acme/group_vars/exchange.yml: symbolic link to "
        f"{(repo / 'inventories/globex/group_vars/all/main.yml').resolve()}, outside the client folder"
    )
    # And through the link, globex's exchange_client would apply to acme's exchange hosts.
    assert any("exchange_client is 'globex'" in line for line in found)


def test_vault_password_file_in_the_repository_must_be_git_ignored(repo: Path, capsys: pytest.CaptureFixture) -> None:
    directory = make_client(repo)
    tracked = write_password(repo / "acme-vault.txt")
    status, _out, err = run(directory, tracked, capsys=capsys)
    assert status == 1
    assert "acme-vault.txt: vault password file (--vault-password-file) is inside the repository and not git-ignored" \
        in err
    assert run(directory, write_password(repo / "acme.vault-pass"), capsys=capsys)[0] == 0
    assert run(directory, write_password(repo / "keys" / "acme"), capsys=capsys)[0] == 0


def test_vault_password_file_in_the_client_folder_is_refused(repo: Path, capsys: pytest.CaptureFixture) -> None:
    directory = make_client(repo)
    inside = write_password(directory / ".vault-pass")
    status, _out, err = run(directory, inside, capsys=capsys)
    assert status == 1
    assert "inventories/acme/.vault-pass: vault password file inside the client folder" in err


def test_git_ignore_rules(repo: Path) -> None:
    (repo / "inventories" / ".gitignore").write_text("*.pass\n!shared.pass\n", encoding="utf-8")
    (repo / "keys").mkdir()
    assert client_check.git_ignored(repo / "keys" / "acme", repo)  # ignored folder
    assert client_check.git_ignored(repo / "inventories" / "acme.pass", repo)
    assert not client_check.git_ignored(repo / "inventories" / "shared.pass", repo)  # re-included deeper
    assert client_check.git_ignored(repo / "x.vault-pass", repo)
    assert not client_check.git_ignored(repo / "vault.txt", repo)


def test_fresh_scaffold_is_not_ready(repo: Path) -> None:
    directory = new_client.scaffold("acme", repo / "inventories").directory
    found = problems(directory)
    assert "inventories/acme/group_vars/all/vault.yml:7: unvaulted secret vault_exchange_winrm_password: encrypt the " \
        "file (ansible-vault encrypt) or the value (ansible-vault encrypt_string), or reference a vault_* variable" \
        in found
    assert "inventories/acme/hosts.yml:36: placeholder left from tools/new_client.py: host " \
        "'ex01.replace-me.invalid'" in found
    assert "inventories/acme/group_vars/all/vault.yml:7: placeholder left from tools/new_client.py: value of " \
        "vault_exchange_winrm_password (secret, not shown)" in found
    assert any("exchange_media_source.location" in line for line in found)


def test_ini_inventory_and_its_secrets(repo: Path, password_file: Path) -> None:
    directory = make_client(repo)
    (directory / "hosts.yml").unlink()
    (directory / "hosts.ini").write_text(
        "[dag01]\nmbx01.corp.acme.example\nmbx02.corp.acme.example ansible_password=Summer2026#\n\n"
        "[exchange:children]\ndag01\n\n[exchange:vars]\nansible_connection=winrm\n"
        "ansible_user=\"{{ vault_exchange_winrm_user }}\"\n",
        encoding="utf-8",
    )
    result = client_check.check_client(directory, str(password_file), environ={})
    assert result.hosts == 2
    assert [str(problem).split(": ", 1)[1] for problem in result.problems] == [
        "unvaulted secret ansible_password: encrypt the file (ansible-vault encrypt) or the value "
        "(ansible-vault encrypt_string), or reference a vault_* variable"
    ]
    assert str(result.problems[0]).startswith(f"{directory / 'hosts.ini'}:3")


def test_missing_folder_and_missing_inventory(repo: Path, password_file: Path) -> None:
    assert problems(repo / "inventories" / "initech") == ["inventories/initech: client folder does not exist"]
    directory = make_client(repo)
    (directory / "hosts.yml").unlink()
    assert problems(directory, password_file) == [
        "inventories/acme: no inventory: expected one of hosts.yml, hosts.yaml, hosts.ini"
    ]


def test_unparsable_inventory_is_an_error(repo: Path, password_file: Path) -> None:
    directory = make_client(repo)
    (directory / "hosts.yml").write_text("---\nall:\n  children: [dag01\n", encoding="utf-8")
    found = problems(directory, password_file)
    assert found[0].startswith("inventories/acme/hosts.yml:4: not valid YAML")
    assert found[1].startswith("inventories/acme/hosts.yml: Ansible cannot parse the inventory")


def test_command_line_exit_status(repo: Path, password_file: Path) -> None:
    directory = make_client(repo)
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_VAULT")}
    tool = str(REPO / "tools" / "client_check.py")
    ready = subprocess.run([sys.executable, tool, str(directory), "--vault-password-file", str(password_file)],
                           capture_output=True, text=True, env=env, cwd=repo)
    assert (ready.returncode, ready.stdout, ready.stderr) == (0, "client acme: ready (3 hosts, 1 vaulted files)\n", "")
    missing = subprocess.run([sys.executable, tool, "inventories/acme"], capture_output=True, text=True, env=env,
                             cwd=repo)
    assert missing.returncode == 1
    assert missing.stdout == "client acme: NOT ready (1 problem)\n"
    assert missing.stderr.startswith("client_check: inventories/acme: 1 vaulted file(s) but no vault password")
    assert PASSWORD not in ready.stdout + ready.stderr + missing.stdout + missing.stderr
    usage = subprocess.run([sys.executable, tool], capture_output=True, text=True, env=env)
    assert usage.returncode == 2
