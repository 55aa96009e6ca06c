"""Run exchange_assess inside the controller's worker process.

The task assesses the whole estate on the controller. As a module it would pay for packaging
and a fresh Python interpreter on every run; in-process it costs about what a set_fact does,
which keeps a 200-host assessment close to the cost of a play that does nothing. The logic is
the same code the module in library/ runs (module_utils/exchange_remediation/module_runs.py).
"""

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
        _, params = self.validate_argument_spec(argument_spec=_arguments.ASSESS_ARGUMENTS)
        try:
            result.update(_runs.run_assess(params))
        except _runs.TaskInputError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        return result
