"""Run exchange_nightly_preflight inside the controller's worker process (see exchange_assess.py for why)."""

from __future__ import annotations

import os
import sys

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

# The pure core lives in ../module_utils; Ansible only makes it importable inside modules.
_CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from exchange_remediation import nightly_preflight as _preflight  # noqa: E402

# Vaulted inventory values are decrypted only when a task first uses them: without this check a
# client whose vault password was not given gets through the preflight and fails on its first
# server, in the middle of the run. Class names: ansible-core 2.19 and 2.18.
_VAULT_TYPES = {"EncryptedString", "AnsibleVaultEncryptedUnicode"}


def _vaulted(value, path):
    if type(value).__name__ in _VAULT_TYPES:
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _vaulted(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _vaulted(item, f"{path}[{index}]")


def vault_problems(hostvars) -> tuple[list[str], int]:
    """Every vaulted inventory value that cannot be decrypted with the run's vault secrets, once per
    variable (with the hosts it applies to), and how many vaulted values were checked."""
    failures: dict[str, tuple[str, list[str]]] = {}
    checked: dict[int, str | None] = {}
    for host in hostvars:
        for name, value in hostvars.raw_get(host).items():
            for path, secret in _vaulted(value, name):
                if id(secret) not in checked:
                    try:
                        str(secret)
                        checked[id(secret)] = None
                    except Exception as exc:  # AnsibleVaultError and friends, whatever the version
                        checked[id(secret)] = str(exc)
                if checked[id(secret)] is not None:
                    failures.setdefault(path, (checked[id(secret)], []))[1].append(host)
    problems = []
    for path, (why, hosts) in sorted(failures.items()):
        shown = ", ".join(hosts[:3]) + (f" and {len(hosts) - 3} more" if len(hosts) > 3 else "")
        problems.append(f"vaulted variable {path} (hosts {shown}) cannot be decrypted: {why} Give the client's vault "
                        "password with --vault-password-file or ANSIBLE_VAULT_PASSWORD_FILE (docs/msp.md).")
    return problems, len(checked)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, params = self.validate_argument_spec(argument_spec=_preflight.NIGHTLY_ARGUMENTS)
        vault_errors, vaulted = ([], 0)
        if task_vars and "hostvars" in task_vars:
            vault_errors, vaulted = vault_problems(task_vars["hostvars"])
        try:
            inputs = _preflight.check_nightly_inputs(params, _preflight.read_policy_yaml, vault_errors)
        except _preflight.NightlyInputError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        if vaulted:
            inputs.notes.append(f"{vaulted} vaulted inventory value(s) decrypt with the vault password given")
        result.update(inputs.to_result())
        result["changed"] = False
        return result
