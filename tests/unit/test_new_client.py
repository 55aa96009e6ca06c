"""tools/new_client.py: scaffolding an MSP client folder.

The scaffold must be a working Ansible inventory from the first minute (it parses, lints, and
names its client), refuse names that would break a folder or collide with the repository's
own inventories, never overwrite a client, and never leave a secret in plain text when a vault
password is at hand: vault.yml is then encrypted with ansible's own VaultLib, readable by the
ansible-vault CLI.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import new_client
import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
PASSWORD = "Tr0ub4dor&3-acme-nightly"
FILES = {"README.md", "hosts.yml", "group_vars/all/main.yml", "group_vars/all/vault.yml"}


def tool_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_VAULT")}
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '')}",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="true",
        **extra,
    )
    return env


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "acme.pass"
    path.parent.mkdir()
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "inventories"
    path.mkdir()
    return path


def written(directory: Path) -> set[str]:
    return {path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file()}


def test_scaffold_writes_a_client_folder_named_after_the_client(root: Path, capsys: pytest.CaptureFixture) -> None:
    assert new_client.main(["acme", "--root", str(root)], environ={}) == 0
    directory = root / "acme"
    assert written(directory) == FILES
    main = yaml.safe_load((directory / "group_vars/all/main.yml").read_text(encoding="utf-8"))
    assert main["exchange_client"] == "acme"
    assert main["exchange_nightly_fail_when"] == ["compromised", "vulnerable", "unknown", "unpatched_after_window"]
    assert main["exchange_nightly_patch"] is False
    assert main["exchange_nightly_window"] == {"days": ["saturday", "sunday"], "start": "01:00", "end": "05:00",
                                               "timezone": "UTC"}
    assert main["exchange_media_source"]["type"] == "unc"
    # No secret value in main.yml: the connection reads vault_* variables by name.
    hosts = yaml.safe_load((directory / "hosts.yml").read_text(encoding="utf-8"))
    connection = hosts["all"]["children"]["exchange"]["vars"]
    assert connection["ansible_password"] == "{{ vault_exchange_winrm_password }}"
    assert connection["ansible_user"] == "{{ vault_exchange_winrm_user }}"
    assert connection["ansible_winrm_server_cert_validation"] == "validate"
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"client acme: created {directory}/"
    for name in FILES:
        assert name in out


def test_scaffold_is_an_inventory_ansible_reads(root: Path) -> None:
    new_client.scaffold("acme", root)
    listed = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(root / "acme"), "--list"],
        capture_output=True, text=True, env=tool_env(), cwd=REPO, check=True,
    )
    inventory = json.loads(listed.stdout)
    assert sorted(inventory["exchange"]["children"]) == ["dag01", "standalone"]
    assert inventory["dag01"]["hosts"] == ["ex01.replace-me.invalid", "ex02.replace-me.invalid"]
    assert inventory["standalone"]["hosts"] == ["ex03.replace-me.invalid"]
    hostvars = inventory["_meta"]["hostvars"]["ex01.replace-me.invalid"]
    assert hostvars["exchange_client"] == "acme"
    assert hostvars["ansible_connection"] == "winrm"
    assert hostvars["ansible_port"] == 5986


def test_scaffold_passes_yamllint_strict(root: Path) -> None:
    new_client.scaffold("acme", root)
    lint = subprocess.run(
        [str(BIN / "yamllint"), "--strict", "-c", str(REPO / ".yamllint"), str(root / "acme")],
        capture_output=True, text=True, env=tool_env(),
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_every_template_renders_without_a_leftover_placeholder() -> None:
    rendered = new_client.render_templates("globex-eu")
    assert {path.as_posix() for path in rendered} == FILES
    for path, text in rendered.items():
        assert "${" not in text, path
        assert "globex-eu" in text, path


@pytest.mark.parametrize(
    "name",
    ["Acme", "-acme", "acme_corp", "acme.corp", "acme/../globex", "", "a" * 64, "ácme", "demo", "example", "template"],
)
def test_bad_or_reserved_names_are_refused(root: Path, name: str, capsys: pytest.CaptureFixture) -> None:
    assert new_client.main(["--root", str(root), "--", name], environ={}) == 1
    assert list(root.iterdir()) == []
    assert "new_client: client name" in capsys.readouterr().err


def test_longest_allowed_name_is_accepted(root: Path) -> None:
    name = "a" * 63
    assert new_client.scaffold(name, root).directory == root / name


def test_existing_client_folder_is_never_overwritten(root: Path, capsys: pytest.CaptureFixture) -> None:
    (root / "acme").mkdir()
    (root / "acme" / "hosts.yml").write_text("all:\n  hosts:\n    mbx01.corp.acme.example:\n", encoding="utf-8")
    assert new_client.main(["acme", "--root", str(root)], environ={}) == 1
    assert "already exists: refusing to overwrite" in capsys.readouterr().err
    assert written(root / "acme") == {"hosts.yml"}
    assert "mbx01.corp.acme.example" in (root / "acme" / "hosts.yml").read_text(encoding="utf-8")


def test_missing_root_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert new_client.main(["acme", "--root", str(tmp_path / "nowhere")], environ={}) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_vault_is_encrypted_with_the_password_file(
    root: Path, password_file: Path, capsys: pytest.CaptureFixture
) -> None:
    assert new_client.main(["acme", "--root", str(root), "--vault-password-file", str(password_file)], environ={}) == 0
    vault_file = root / "acme" / "group_vars" / "all" / "vault.yml"
    data = vault_file.read_bytes()
    assert data.startswith(b"$ANSIBLE_VAULT;1.1;AES256\n")
    assert b"vault_exchange_winrm_password" not in data
    plaintext = VaultLib([("default", VaultSecret(PASSWORD.encode()))]).decrypt(data).decode()
    assert plaintext == new_client.render_templates("acme")[new_client.VAULT_FILE]
    assert stat.S_IMODE(vault_file.stat().st_mode) == 0o600
    captured = capsys.readouterr()
    assert "(encrypted with ansible-vault)" in captured.out
    assert "ansible-vault edit" in captured.out
    assert PASSWORD not in captured.out + captured.err


def test_vault_password_file_from_the_environment(root: Path, password_file: Path) -> None:
    environ = {"ANSIBLE_VAULT_PASSWORD_FILE": str(password_file)}
    assert new_client.main(["acme", "--root", str(root)], environ=environ) == 0
    data = (root / "acme" / "group_vars" / "all" / "vault.yml").read_bytes()
    assert data.startswith(b"$ANSIBLE_VAULT;1.1;AES256\n")


def test_the_ansible_vault_cli_reads_what_new_client_encrypted(root: Path, password_file: Path) -> None:
    new_client.scaffold("acme", root, password_file)
    view = subprocess.run(
        [str(BIN / "ansible-vault"), "view", "--vault-password-file", str(password_file),
         str(root / "acme" / "group_vars" / "all" / "vault.yml")],
        capture_output=True, text=True, env=tool_env(), check=True,
    )
    assert yaml.safe_load(view.stdout) == {
        "vault_exchange_winrm_user": "svc-exansible@REPLACE-ME.INVALID",
        "vault_exchange_winrm_password": "replace-me",
    }


def test_without_a_password_the_tool_says_how_to_encrypt(root: Path, capsys: pytest.CaptureFixture) -> None:
    assert new_client.main(["acme", "--root", str(root)], environ={}) == 0
    vault_file = root / "acme" / "group_vars" / "all" / "vault.yml"
    assert yaml.safe_load(vault_file.read_text(encoding="utf-8"))["vault_exchange_winrm_password"] == "replace-me"
    assert stat.S_IMODE(vault_file.stat().st_mode) == 0o600
    out = capsys.readouterr().out
    assert "group_vars/all/vault.yml  (NOT encrypted: placeholders)" in out
    assert f"ansible-vault encrypt {vault_file} --vault-password-file" in out
    assert "make nightly CLIENT=acme refuses to run until it is encrypted" in out


def test_missing_or_empty_password_file_leaves_nothing_behind(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert new_client.main(["acme", "--root", str(root), "--vault-password-file", str(tmp_path / "none")],
                           environ={}) == 1
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty.pass"
    empty.write_text("\n", encoding="utf-8")
    assert new_client.main(["acme", "--root", str(root), "--vault-password-file", str(empty)], environ={}) == 1
    assert "empty.pass" in capsys.readouterr().err
    assert list(root.iterdir()) == []


def test_command_line_defaults_to_the_repository_inventories() -> None:
    assert new_client.DEFAULT_ROOT == REPO / "inventories"
    usage = subprocess.run([sys.executable, str(REPO / "tools" / "new_client.py"), "--help"],
                           capture_output=True, text=True, check=True)
    assert "--vault-password-file" in usage.stdout
    assert "--root" in usage.stdout
