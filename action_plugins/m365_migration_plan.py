"""Run m365_migration_plan inside the controller's worker process (see exchange_assess.py for why)."""

from __future__ import annotations

import os
import sys

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

# The pure core lives in ../module_utils; Ansible only makes it importable inside modules.
_CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from exchange_remediation import migration_plan_task as _task  # noqa: E402


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, params = self.validate_argument_spec(argument_spec=_task.MIGRATION_PLAN_ARGUMENTS)
        try:
            result.update(_task.run_migration_plan(params))
        except _task.MigrationPlanError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        return result
