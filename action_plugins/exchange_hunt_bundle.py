"""Run exchange_hunt_bundle inside the controller's worker process.

The collector's result can be tens of megabytes. As a module it would be serialised into the module
package, written to a temporary file and parsed again by a fresh interpreter; in-process the worker
writes the bundle directly. The logic is the code the module in library/ runs
(module_utils/exchange_remediation/live_bundle.py).
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

from exchange_remediation import live_bundle as _bundle  # noqa: E402


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, params = self.validate_argument_spec(argument_spec=_bundle.BUNDLE_ARGUMENTS)
        try:
            result.update(_bundle.run_bundle(params))
        except _bundle.BundleError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        return result
