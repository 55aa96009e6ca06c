"""Run exchange_hunt inside the controller's worker process.

The hunt reads every host's evidence bundle on the controller, so it runs once for the play.
In-process it avoids packaging the module and starting a fresh interpreter, and it can print
progress per host while a large estate is hunted. The logic is the code the module in library/
runs (module_utils/exchange_remediation/module_runs.py).
"""

from __future__ import annotations

import os
import sys

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

# The pure core lives in ../module_utils; Ansible only makes it importable inside modules.
_CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from exchange_remediation import module_arguments as _arguments  # noqa: E402
from exchange_remediation import module_runs as _runs  # noqa: E402

_display = Display()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, params = self.validate_argument_spec(argument_spec=_arguments.HUNT_ARGUMENTS)
        try:
            result.update(_runs.run_hunt(params, progress=lambda line: _display.display(f"exchange_hunt: {line}")))
        except _runs.TaskInputError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        return result
