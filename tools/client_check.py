#!/usr/bin/env python3
"""Check one MSP client's inventory folder before any of its servers is touched.

Usage: ``python tools/client_check.py CLIENT_DIR [--vault-password-file FILE]``

Every check is static (no server is contacted) and every failure is one line naming the
file, and the line where there is one:

* the folder exists and has ``hosts.yml`` (or ``hosts.yaml``/``hosts.ini``) that Ansible's
  own inventory plugin parses, with at least one host;
* ``group_vars/all`` sets ``exchange_client`` to the folder's name (the roles derive the
  client's ``reports/<client>/`` and ``evidence/<client>/`` from it);
* no file holds a key named like a secret (password, secret, passphrase, token,
  private_key, client_secret) with a literal value: it must be vaulted (a whole vaulted
  file or ``!vault``) or a Jinja reference to a vaulted variable;
* no placeholder of tools/new_client.py (``replace-me``) is left in a host name or value;
* vaulted content needs a vault password (``--vault-password-file``,
  ``ANSIBLE_VAULT_PASSWORD_FILE`` or ``ANSIBLE_VAULT_IDENTITY_LIST``) that decrypts every
  vaulted file and value; a password file inside the repository must be git-ignored, and
  none may sit in the client folder at all;
* the client's files never point into another client: no path under
  ``inventories/<other>/``, no ``evidence/<other>/`` or ``reports/<other>/`` of a sibling
  client, and evidence dirs (``exchange_evidence_dir``, ``*_evidence_root``) and report dirs
  (``report_dir``, ``*_report_dir``, ``*_report_root``) only inside the client's own folders
  (outside the repository: a path naming the client).

The vault password is never printed. Exit status: 0 ready, 1 problems found, 2 usage error.
Folders named ``evidence`` inside the client folder are evidence bundles, not
configuration (as in ansible.cfg's ``ignore_patterns``), and are not read.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from new_client import NAME_PATTERN

HOST_FILES = ("hosts.yml", "hosts.yaml", "hosts.ini")
YAML_SUFFIXES = frozenset({".yml", ".yaml", ".json"})
VARS_DIRS = frozenset({"group_vars", "host_vars"})
SKIPPED_DIRS = frozenset({"evidence", "organisation", ".git", "__pycache__"})

SECRET_KEY = re.compile(r"password|secret|passphrase|token|private_key|client_secret", re.IGNORECASE)
# Keys that name where a secret is, not the secret (vault_password_file, ssh_private_key_file).
SECRET_LOCATION_KEY = re.compile(r"_(file|path|dir)$", re.IGNORECASE)
# A number is a secret only under a key that ends like one (a PIN-style password).
NUMERIC_SECRET_KEY = re.compile(r"(password|passphrase|secret)$", re.IGNORECASE)
PLACEHOLDER = re.compile(r"replace-me", re.IGNORECASE)
TEMPLATE_MARKERS = ("{{", "{%")
VAULT_HEADER = b"$ANSIBLE_VAULT"
VAULT_TAG = "!vault"
# A file whose name says it holds a vault password (.vault-pass, vault_password.txt, acme.vault-pass).
PASSWORD_FILE_NAME = re.compile(r"vault[-_.]?pass", re.IGNORECASE)

CLIENT_PATH = re.compile(r"(?:^|[/\\])inventories[/\\]([A-Za-z0-9][A-Za-z0-9_.-]*)(?=[/\\]|$)")
RUN_OUTPUT_PATH = re.compile(r"(?:^|[/\\])(evidence|reports)[/\\]([A-Za-z0-9][A-Za-z0-9_.-]*)(?=[/\\]|$)")
EVIDENCE_KEY = re.compile(r"(^exchange_evidence_dir$|_evidence_root$|_evidence_dir$)")
REPORT_KEY = re.compile(r"(^report_dir$|_report_dir$|_report_root$)")

STR_TAG = "tag:yaml.org,2002:str"
INT_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


@dataclass(frozen=True)
class Problem:
    """One reason the client is not ready."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass
class Result:
    """Everything client_check found about one client folder."""

    client: str
    problems: list[Problem] = field(default_factory=list)
    hosts: int = 0
    vaulted_files: int = 0

    @property
    def ready(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ready:
            return f"client {self.client}: ready ({self.hosts} hosts, {self.vaulted_files} vaulted files)"
        count = len(self.problems)
        return f"client {self.client}: NOT ready ({count} problem{'s' if count != 1 else ''})"


@dataclass(frozen=True)
class Scalar:
    """A YAML scalar where it was found: its key path, its text, its tag and its line."""

    keys: tuple[str, ...]
    value: str
    tag: str
    line: int


@dataclass(frozen=True)
class VaultSource:
    """Where the vault password comes from (a file path or an identity list entry)."""

    label: str
    path: Path | None
    problem: str = ""
    vault_id: str = "default"


# --------------------------------------------------------------------------- YAML walking


def _scalars(node: yaml.Node, keys: tuple[str, ...] = ()) -> Iterator[Scalar]:
    """Every scalar value (with its key path) and every mapping key of a composed YAML node."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            # Keys are yielded too (tag "key"): host names are keys in a YAML inventory.
            yield Scalar((*keys, key), key, "key", key_node.start_mark.line + 1)
            yield from _scalars(value_node, (*keys, key))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _scalars(item, keys)
    elif isinstance(node, yaml.ScalarNode):
        yield Scalar(keys, str(node.value), node.tag, node.start_mark.line + 1)


def compose(text: str) -> list[yaml.Node]:
    """The YAML documents of ``text`` as nodes; ``!vault`` and other Ansible tags kept as tags."""
    return [node for node in yaml.compose_all(text, Loader=yaml.SafeLoader) if node is not None]


# --------------------------------------------------------------------------- vault


def vault_sources(option: str | None, environ: Mapping[str, str]) -> list[VaultSource]:
    """Where the vault password comes from: the option, else ANSIBLE_VAULT_PASSWORD_FILE, else every
    entry of ANSIBLE_VAULT_IDENTITY_LIST (``id@file``); empty when none is configured."""
    if option:
        return [VaultSource("--vault-password-file", Path(option).expanduser())]
    if environ.get("ANSIBLE_VAULT_PASSWORD_FILE"):
        return [VaultSource("ANSIBLE_VAULT_PASSWORD_FILE", Path(environ["ANSIBLE_VAULT_PASSWORD_FILE"]).expanduser())]
    sources = []
    for entry in filter(None, (item.strip() for item in environ.get("ANSIBLE_VAULT_IDENTITY_LIST", "").split(","))):
        label, _, location = entry.rpartition("@")
        label = label or "default"
        if location in ("prompt", "prompt_ask_vault_pass"):
            sources.append(VaultSource(f"vault id {label}", None, "asks for its password: a nightly run cannot", label))
        else:
            sources.append(VaultSource(f"vault id {label}", Path(location).expanduser(), "", label))
    return sources


def load_vault(sources: Sequence[VaultSource]) -> tuple[object | None, list[str]]:
    """A VaultLib with every usable secret, and one message per unusable source."""
    from ansible.errors import AnsibleError
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultLib, get_file_vault_secret

    secrets = []
    messages = []
    for source in sources:
        if source.problem or source.path is None:
            messages.append(f"{source.label} {source.problem}")
            continue
        if not source.path.is_file():
            messages.append(f"vault password file {source.path} ({source.label}) does not exist")
            continue
        try:
            secret = get_file_vault_secret(filename=str(source.path), vault_id=source.vault_id, loader=DataLoader())
            secret.load()
        except AnsibleError as exc:
            # Ansible's messages name the file, never the password.
            messages.append(f"vault password file {source.path} ({source.label}): {exc.message}")
            continue
        secrets.append((source.vault_id, secret))
    return (VaultLib(secrets) if secrets else None), messages


def decrypt(vault: object, ciphertext: str | bytes) -> str | None:
    """The plaintext, or None when no configured password opens it."""
    from ansible.errors import AnsibleError

    try:
        return vault.decrypt(ciphertext).decode("utf-8")  # type: ignore[attr-defined]
    except (AnsibleError, ValueError, UnicodeDecodeError):
        return None


# --------------------------------------------------------------------------- git-ignore


def find_repo(client_dir: Path) -> Path | None:
    """The repository the client folder belongs to: ``<repo>/inventories/<client>`` or a marked ancestor."""
    if client_dir.parent.name == "inventories":
        return client_dir.parent.parent
    for ancestor in client_dir.parents:
        if (ancestor / ".git").exists() or (ancestor / "ansible.cfg").is_file():
            return ancestor
    return None


def git_ignored(path: Path, repo: Path) -> bool:
    """Whether git would ignore ``path`` by the repo's .gitignore files (and .git/info/exclude).

    Matched with pathspec's git wildmatch rules, so no git binary is needed; a file in an
    ignored folder is ignored, and a deeper .gitignore overrides a shallower one.
    """
    import pathspec

    relative = path.relative_to(repo)
    levels: list[tuple[Path, list[str]]] = []
    exclude = repo / ".git" / "info" / "exclude"
    if exclude.is_file():
        levels.append((repo, exclude.read_text(encoding="utf-8", errors="replace").splitlines()))
    folder = repo
    for part in (None, *relative.parts[:-1]):
        if part is not None:
            folder = folder / part
        ignore_file = folder / ".gitignore"
        if ignore_file.is_file():
            levels.append((folder, ignore_file.read_text(encoding="utf-8", errors="replace").splitlines()))
    # A folder that is ignored hides everything below it, whatever later patterns say.
    candidates = [f"{'/'.join(relative.parts[: i + 1])}/" for i in range(len(relative.parts) - 1)]
    candidates.append(relative.as_posix())
    for candidate in candidates:
        ignored: bool | None = None
        for base, lines in levels:
            base_relative = base.relative_to(repo).as_posix()
            if base_relative != "." and not candidate.startswith(f"{base_relative}/"):
                continue
            inner = candidate if base_relative == "." else candidate[len(base_relative) + 1 :]
            verdict = pathspec.GitIgnoreSpec.from_lines(lines).check_file(inner).include
            if verdict is not None:
                ignored = verdict
        if ignored:
            return True
    return False


# --------------------------------------------------------------------------- the check


class ClientChecker:
    """Runs every check on one client folder; see the module docstring."""

    def __init__(self, client_dir: Path, sources: Sequence[VaultSource], cwd: Path | None = None) -> None:
        self.client_dir = client_dir
        self.client = client_dir.name
        self.sources = list(sources)
        self.cwd_given = Path(os.path.abspath(cwd or Path.cwd()))
        self.cwd = self.cwd_given.resolve()
        self.repo = find_repo(client_dir.resolve())
        self.result = Result(self.client)
        self._vault: object | None = None
        self._vault_messages: list[str] = []
        self._vault_loaded = False
        self.client_values: list[tuple[Path, Scalar]] = []

    # -- helpers
    def shown(self, path: Path) -> str:
        # abspath, not resolve: a symbolic link is named where it is, not where it points.
        absolute = Path(os.path.abspath(path))
        for base in (self.cwd_given, self.cwd):
            if absolute.is_relative_to(base):
                return str(absolute.relative_to(base))
        return str(path)

    def problem(self, path: Path, message: str, line: int | None = None) -> None:
        self.result.problems.append(Problem(self.shown(path), line, message))

    def vault(self) -> object | None:
        if not self._vault_loaded:
            self._vault_loaded = True
            if self.sources:
                self._vault, self._vault_messages = load_vault(self.sources)
        return self._vault

    def sibling_clients(self) -> set[str]:
        parent = self.client_dir.resolve().parent
        return {item.name for item in parent.iterdir() if item.is_dir() and item.name != self.client}

    # -- entry point
    def run(self) -> Result:
        if not self.client_dir.is_dir():
            self.problem(self.client_dir, "client folder does not exist")
            return self.result
        if not NAME_PATTERN.fullmatch(self.client):
            self.problem(self.client_dir, f"folder name {self.client!r} is not a client name ({NAME_PATTERN.pattern})")
        files = sorted(self.walk())
        self.check_links()
        self.check_password_files(files)
        vaulted = self.check_vault_needed(files)
        for path in files:
            self.check_file(path)
        self.result.vaulted_files = len(vaulted)
        self.check_exchange_client()
        self.count_hosts()
        return self.result

    def walk(self) -> Iterator[Path]:
        for folder, dirs, names in os.walk(self.client_dir):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            for name in names:
                yield Path(folder) / name

    def check_links(self) -> None:
        """A symbolic link out of the client folder would share another folder's files with this client."""
        own = self.client_dir.resolve()
        for folder, dirs, names in os.walk(self.client_dir):
            for name in [*dirs, *names]:
                path = Path(folder) / name
                if path.is_symlink() and not path.resolve().is_relative_to(own):
                    self.problem(path, f"symbolic link to {path.resolve()}, outside the client folder")

    def is_config(self, path: Path) -> bool:
        """Files Ansible reads as inventory or variables."""
        relative = path.relative_to(self.client_dir)
        if path.name in HOST_FILES or path.suffix in YAML_SUFFIXES:
            return True
        # group_vars/host_vars files may have no suffix at all.
        return bool(VARS_DIRS & set(relative.parts[:-1])) and path.suffix == ""

    # -- vault password files
    def check_password_files(self, files: Sequence[Path]) -> None:
        for path in files:
            if PASSWORD_FILE_NAME.search(path.name):
                self.problem(
                    path,
                    "vault password file inside the client folder: keep it outside the repository "
                    "(or git-ignored elsewhere) and pass it with ANSIBLE_VAULT_PASSWORD_FILE",
                )
        if self.repo is None:
            return
        repo = self.repo.resolve()
        for source in self.sources:
            if source.path is None or not source.path.is_file():
                continue
            resolved = source.path.resolve()
            if resolved.is_relative_to(self.client_dir.resolve()) or not resolved.is_relative_to(repo):
                continue
            if not git_ignored(resolved, repo):
                self.problem(
                    source.path,
                    f"vault password file ({source.label}) is inside the repository and not git-ignored: "
                    "it would be committed; move it out or add it to .gitignore",
                )

    def check_vault_needed(self, files: Sequence[Path]) -> list[Path]:
        """Vaulted files (whole-file or with ``!vault`` values); reports a missing or failing password."""
        vaulted = [path for path in files if self.is_config(path) and self._has_vault(path)]
        if not vaulted:
            return vaulted
        if not self.sources:
            self.problem(
                self.client_dir,
                f"{len(vaulted)} vaulted file(s) but no vault password: pass --vault-password-file FILE "
                "or set ANSIBLE_VAULT_PASSWORD_FILE (or ANSIBLE_VAULT_IDENTITY_LIST)",
            )
            return vaulted
        self.vault()
        for message in self._vault_messages:
            self.problem(self.client_dir, message)
        return vaulted

    @staticmethod
    def _has_vault(path: Path) -> bool:
        data = path.read_bytes()
        return data.lstrip().startswith(VAULT_HEADER) or VAULT_TAG.encode() in data

    # -- one file
    def check_file(self, path: Path) -> None:
        if not self.is_config(path):
            return
        data = path.read_bytes()
        if data.lstrip().startswith(VAULT_HEADER):
            self.check_vaulted_file(path, data)
            return
        text = data.decode("utf-8", errors="replace")
        if path.suffix == ".ini":
            self.check_ini(path, text)
            return
        try:
            documents = compose(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            self.problem(path, f"not valid YAML: {getattr(exc, 'problem', exc)}", mark.line + 1 if mark else None)
            return
        for document in documents:
            for scalar in _scalars(document):
                self.check_scalar(path, scalar, vaulted_file=False)

    def check_vaulted_file(self, path: Path, data: bytes) -> None:
        vault = self.vault() if self.sources else None
        if vault is None:
            return  # reported once by check_vault_needed
        plaintext = decrypt(vault, data)
        if plaintext is None:
            self.problem(path, "cannot be decrypted with the vault password given (wrong password?)")
            return
        try:
            documents = compose(plaintext)
        except yaml.YAMLError as exc:
            self.problem(path, f"decrypts, but is not valid YAML: {getattr(exc, 'problem', exc)}")
            return
        for document in documents:
            for scalar in _scalars(document):
                # Line numbers of decrypted text mean nothing in the encrypted file.
                self.check_scalar(path, Scalar(scalar.keys, scalar.value, scalar.tag, 0), vaulted_file=True)

    def check_scalar(self, path: Path, scalar: Scalar, vaulted_file: bool) -> None:
        line = scalar.line or None
        key = scalar.keys[-1] if scalar.keys else ""
        name = ".".join(scalar.keys)
        value = scalar.value
        if scalar.tag == VAULT_TAG:
            vault = self.vault() if self.sources else None
            if vault is not None:
                plaintext = decrypt(vault, value.strip())
                if plaintext is None:
                    self.problem(path, f"!vault value of {name} cannot be decrypted with the vault password given "
                                       "(wrong password?)", line)
                else:
                    self.check_text(path, Scalar(scalar.keys, plaintext, STR_TAG, scalar.line), vaulted=True)
            return
        if scalar.tag != "key" and not vaulted_file and self.is_literal_secret(key, scalar):
            self.problem(
                path,
                f"unvaulted secret {name}: encrypt the file (ansible-vault encrypt) or the value "
                "(ansible-vault encrypt_string), or reference a vault_* variable",
                line,
            )
        self.check_text(path, scalar, vaulted=vaulted_file)

    @staticmethod
    def is_literal_secret(key: str, scalar: Scalar) -> bool:
        if not SECRET_KEY.search(key) or SECRET_LOCATION_KEY.search(key):
            return False
        value = scalar.value
        if scalar.tag == STR_TAG:
            return bool(value.strip()) and not any(marker in value for marker in TEMPLATE_MARKERS)
        return scalar.tag in INT_TAGS and bool(NUMERIC_SECRET_KEY.search(key))

    def check_text(self, path: Path, scalar: Scalar, vaulted: bool) -> None:
        """Placeholders, exchange_client, and paths into other clients, in one key or value."""
        line = scalar.line or None
        value = scalar.value
        name = ".".join(scalar.keys)
        if PLACEHOLDER.search(value):
            # A secret's value is never repeated in a message, even a placeholder one.
            secret = vaulted or bool(SECRET_KEY.search(scalar.keys[-1] if scalar.keys else ""))
            shown = "(secret, not shown)" if secret and scalar.tag != "key" else repr(value)
            if scalar.tag == "key":
                what = "host" if "hosts" in scalar.keys[:-1] or len(scalar.keys) == 1 else f"key {name}"
            else:
                what = f"value of {name}"
            self.problem(path, f"placeholder left from tools/new_client.py: {what} {shown}", line)
        if scalar.tag == "key":
            return
        if scalar.keys and scalar.keys[-1] == "exchange_client":
            self.client_values.append((path, scalar))
        self.check_paths(path, scalar)

    def check_paths(self, path: Path, scalar: Scalar) -> None:
        line = scalar.line or None
        value = scalar.value
        name = ".".join(scalar.keys)
        for match in CLIENT_PATH.finditer(value):
            if match.group(1) != self.client:
                self.problem(path, f"{name} points into another client's folder inventories/{match.group(1)}/", line)
        siblings = self.sibling_clients()
        for match in RUN_OUTPUT_PATH.finditer(value):
            if match.group(2) in siblings:
                self.problem(
                    path, f"{name} points into another client's {match.group(1)}/{match.group(2)}/", line
                )
        key = scalar.keys[-1] if scalar.keys else ""
        if any(marker in value for marker in TEMPLATE_MARKERS) or not value.strip():
            return
        if EVIDENCE_KEY.search(key):
            self.check_own_dir(path, scalar, ("inventories", "evidence"), f"/srv/ir/{self.client}/...")
        elif REPORT_KEY.search(key):
            self.check_own_dir(path, scalar, ("reports",), f"/srv/exchange/reports/{self.client}")

    def check_own_dir(self, path: Path, scalar: Scalar, roots: Sequence[str], example: str) -> None:
        """An evidence or report folder must be the client's own."""
        line = scalar.line or None
        name = ".".join(scalar.keys)
        target = Path(scalar.value).expanduser()
        repo = self.repo.resolve() if self.repo else None
        if not target.is_absolute():
            # Playbooks run from the repository root, so relative paths are relative to it.
            target = (repo or self.cwd) / target
        target = Path(os.path.normpath(target))
        own = ", ".join(f"{root}/{self.client}/" for root in roots)
        if repo is not None and target.is_relative_to(repo):
            if not any(target.is_relative_to(repo / root / self.client) for root in roots):
                self.problem(path, f"{name} {scalar.value} is outside the client's own folders ({own})", line)
        elif self.client not in target.parts:
            self.problem(
                path,
                f"{name} {scalar.value} is outside the repository and does not name the client: use a folder "
                f"of its own such as {example}",
                line,
            )

    def check_ini(self, path: Path, text: str) -> None:
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith(("#", ";", "[")):
                continue
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError:
                tokens = line.split()
            for token in tokens:
                key, sep, value = token.partition("=")
                if sep:
                    self.check_scalar(path, Scalar((key,), value, STR_TAG, number), vaulted_file=False)
                elif PLACEHOLDER.search(token):
                    self.check_text(path, Scalar((token,), token, "key", number), vaulted=False)

    # -- client-wide
    def check_exchange_client(self) -> None:
        # Set in group_vars/all for every host; set anywhere else (a group, a host) it must still
        # be this client, or those hosts' reports and evidence would go to another client's folders.
        if not any(
            scalar.keys == ("exchange_client",) and self._is_group_all(path.relative_to(self.client_dir))
            for path, scalar in self.client_values
        ):
            self.problem(
                self.client_dir / "group_vars" / "all",
                f"does not set exchange_client (it must be {self.client!r}, the folder name)",
            )
        for path, scalar in self.client_values:
            if scalar.value != self.client:
                self.problem(
                    path,
                    f"exchange_client is {scalar.value!r} but the folder is {self.client!r}: "
                    "reports and evidence would go to another client's folders",
                    scalar.line or None,
                )

    @staticmethod
    def _is_group_all(relative: Path) -> bool:
        parts = relative.parts
        if len(parts) >= 2 and parts[0] == "group_vars":
            return parts[1] == "all" or Path(parts[1]).stem == "all"
        return False

    def count_hosts(self) -> None:
        host_file = next((self.client_dir / name for name in HOST_FILES if (self.client_dir / name).is_file()), None)
        if host_file is None:
            self.problem(self.client_dir, f"no inventory: expected one of {', '.join(HOST_FILES)}")
            return
        from ansible.errors import AnsibleError
        from ansible.inventory.data import InventoryData
        from ansible.parsing.dataloader import DataLoader
        from ansible.plugins.loader import inventory_loader
        loader = DataLoader()
        vault = self.vault() if self.sources else None
        if vault is not None:
            loader.set_vault_secrets(vault.secrets)  # type: ignore[attr-defined]
        # Short names: they resolve to ansible.builtin without setting up the collection loader, a
        # process-wide state this check should not own.
        plugin = inventory_loader.get("ini" if host_file.suffix == ".ini" else "yaml")
        inventory = InventoryData()
        try:
            plugin.parse(inventory, loader, str(host_file), cache=False)
        except AnsibleError as exc:
            self.problem(host_file, f"Ansible cannot parse the inventory: {exc.message}")
            return
        self.result.hosts = len(inventory.hosts)
        if not inventory.hosts:
            self.problem(host_file, "the inventory has no hosts")


def check_client(
    client_dir: Path, vault_password_file: str | None = None, environ: Mapping[str, str] | None = None
) -> Result:
    """Run every check on ``client_dir`` with the vault password sources the options and environment give."""
    sources = vault_sources(vault_password_file, os.environ if environ is None else environ)
    return ClientChecker(client_dir, sources).run()


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("client_dir", type=Path, help="the client's inventory folder, e.g. inventories/acme")
    parser.add_argument("--vault-password-file", help="vault password file (default: $ANSIBLE_VAULT_PASSWORD_FILE)")
    options = parser.parse_args(argv)
    result = check_client(options.client_dir, options.vault_password_file, environ)
    for problem in result.problems:
        print(f"client_check: {problem}", file=sys.stderr)
    print(result.summary())
    return 0 if result.ready else 1


if __name__ == "__main__":
    sys.exit(main())
