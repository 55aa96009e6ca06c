"""Run exchange_report inside the controller's worker process (see exchange_assess.py for why)."""

from __future__ import annotations

import os
import sys

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

# The pure core lives in ../module_utils; Ansible only makes it importable inside modules.
_CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from exchange_remediation import module_arguments as _arguments  # noqa: E402
from exchange_remediation import module_runs as _runs  # noqa: E402


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, params = self.validate_argument_spec(argument_spec=_arguments.REPORT_ARGUMENTS)
        try:
            result.update(_runs.run_report(params, bool(self._task.check_mode)))
        except _runs.TaskInputError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        return result
