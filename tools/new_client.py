#!/usr/bin/env python3
"""Scaffold a new MSP client: ``inventories/NAME/`` from ``tools/client_template/``.

Usage: ``python tools/new_client.py NAME [--root DIR] [--vault-password-file FILE]``

Writes ``hosts.yml``, ``group_vars/all/main.yml``, ``group_vars/all/vault.yml`` and
``README.md`` into ``<root>/NAME/`` (root default: the repository's ``inventories/``). The
name becomes ``exchange_client``, which the roles use for the client's own
``reports/NAME/`` and ``evidence/NAME/``, so it is restricted to what is safe as a folder
name and an AWX object name: ``^[a-z0-9][a-z0-9-]{0,62}$``, and never one of the repository's
own inventories (demo, example) or ``template``.

With a vault password file (``--vault-password-file`` or ``ANSIBLE_VAULT_PASSWORD_FILE``;
an executable file is run, as ansible-vault does) ``vault.yml`` is encrypted with
ansible's own VaultLib before it touches the disk. Without one it is written in plain text
with placeholder values only, and the tool prints the ``ansible-vault encrypt`` command:
tools/client_check.py, and so ``make nightly``, refuse the client until it is encrypted.

Exit status: 0 written, 1 refused (bad name, existing folder, unusable password file),
2 usage error.
"""

from __future__ import annotations

import argparse
import os
import re
import string
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = Path(__file__).resolve().parent / "client_template"
TEMPLATE_SUFFIX = ".tmpl"
DEFAULT_ROOT = REPO / "inventories"

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# The repository's own inventories and the scaffold's name are never clients.
RESERVED_NAMES = frozenset({"demo", "example", "template"})
VAULT_FILE = PurePosixPath("group_vars/all/vault.yml")
VAULT_ID = "default"


class ClientError(Exception):
    """A refusal with a message for the operator."""


@dataclass(frozen=True)
class Scaffold:
    """What was written for one client."""

    name: str
    directory: Path
    files: tuple[PurePosixPath, ...]
    vault_encrypted: bool


def check_name(name: str) -> str:
    """Return ``name`` when it may be a client name, else raise ClientError saying why."""
    if not NAME_PATTERN.fullmatch(name):
        raise ClientError(
            f"client name {name!r} is not allowed: use 1-63 lowercase letters, digits and hyphens, "
            "starting with a letter or digit (it becomes a folder name and exchange_client)"
        )
    if name in RESERVED_NAMES:
        raise ClientError(f"client name {name!r} is reserved (not a client: {', '.join(sorted(RESERVED_NAMES))})")
    return name


def render_templates(name: str, template_dir: Path = TEMPLATE_DIR) -> dict[PurePosixPath, str]:
    """Every ``*.tmpl`` under the template folder, rendered for ``name``, by relative path."""
    rendered: dict[PurePosixPath, str] = {}
    for path in sorted(template_dir.rglob(f"*{TEMPLATE_SUFFIX}")):
        relative = PurePosixPath(path.relative_to(template_dir).as_posix())
        target = relative.with_name(relative.name[: -len(TEMPLATE_SUFFIX)])
        # substitute (not safe_substitute): a misspelt placeholder fails here, not in a client folder.
        rendered[target] = string.Template(path.read_text(encoding="utf-8")).substitute(client=name)
    return rendered


def vault_password_file(option: str | None, environ: Mapping[str, str]) -> Path | None:
    """The password file to encrypt with: the option, else ANSIBLE_VAULT_PASSWORD_FILE, else None."""
    value = option or environ.get("ANSIBLE_VAULT_PASSWORD_FILE", "")
    return Path(value).expanduser() if value else None


def encrypt_text(text: str, password_file: Path) -> str:
    """``text`` encrypted with the password in ``password_file``, as ansible-vault writes it."""
    # Imported here: scaffolding without a vault must not need ansible at all.
    from ansible.errors import AnsibleError
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultLib, get_file_vault_secret

    if not password_file.is_file():
        raise ClientError(f"vault password file {password_file} does not exist")
    try:
        secret = get_file_vault_secret(filename=str(password_file), vault_id=VAULT_ID, loader=DataLoader())
        secret.load()
        vault = VaultLib([(VAULT_ID, secret)])
        return vault.encrypt(text, secret=secret).decode("utf-8")
    except AnsibleError as exc:
        # AnsibleError messages name the file, never the password.
        raise ClientError(f"vault password file {password_file}: {exc.message}") from exc


def scaffold(name: str, root: Path, password_file: Path | None = None) -> Scaffold:
    """Write the client folder ``root/name``; refuse an existing one."""
    check_name(name)
    if not root.is_dir():
        raise ClientError(f"inventory root {root} is not a folder")
    files = render_templates(name)
    # Encrypt before anything is written, so a bad password file leaves no half-made client.
    if password_file is not None:
        files[VAULT_FILE] = encrypt_text(files[VAULT_FILE], password_file)
    directory = root / name
    try:
        directory.mkdir()
    except FileExistsError:
        raise ClientError(f"{directory} already exists: refusing to overwrite a client") from None
    for relative, text in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        # The vault file is private to its owner even while it only holds placeholders.
        mode = 0o600 if relative == VAULT_FILE else 0o644
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    return Scaffold(name, directory, tuple(files), password_file is not None)


def _shown(path: Path) -> str:
    """A path relative to the working folder when it is below it (what the operator typed)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def summary(result: Scaffold) -> str:
    """What was made and what to do next, for the terminal."""
    folder = _shown(result.directory)
    vault_path = f"{folder}/{VAULT_FILE}"
    lines = [f"client {result.name}: created {folder}/"]
    for relative in result.files:
        note = ""
        if relative == VAULT_FILE:
            note = "  (encrypted with ansible-vault)" if result.vault_encrypted else "  (NOT encrypted: placeholders)"
        lines.append(f"  {relative}{note}")
    lines.append("next:")
    lines.append(f"  - replace the *.replace-me.invalid hosts in {folder}/hosts.yml with the servers' FQDNs")
    lines.append(f"  - put the client's CA certificate in {folder}/ca-bundle.pem")
    if result.vault_encrypted:
        lines.append(f"  - set the real secrets: ansible-vault edit {vault_path}")
    else:
        lines.append(f"  - fill in {vault_path}, then encrypt it:")
        lines.append(f"      ansible-vault encrypt {vault_path} --vault-password-file <file outside the repo>")
        lines.append(f"    make nightly CLIENT={result.name} refuses to run until it is encrypted")
    lines.append(f"  - check: python tools/client_check.py {folder}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="client name: lowercase letters, digits, hyphens")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="inventory root (default: inventories/)")
    parser.add_argument(
        "--vault-password-file",
        help="encrypt vault.yml with this password file (default: $ANSIBLE_VAULT_PASSWORD_FILE)",
    )
    options = parser.parse_args(argv)
    password_file = vault_password_file(options.vault_password_file, os.environ if environ is None else environ)
    try:
        result = scaffold(options.name, options.root, password_file)
    except ClientError as exc:
        print(f"new_client: {exc}", file=sys.stderr)
        return 1
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
