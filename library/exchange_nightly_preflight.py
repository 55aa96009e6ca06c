#!/usr/bin/python
"""Ansible adapter: check a nightly run's inputs and decide whether it patches.

The action plugin of the same name runs the same code inside the controller's worker process;
this module is what runs when the module is used without it (and what ansible-doc shows)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: exchange_nightly_preflight
short_description: Check a nightly run's policy, window and previous report before any server is touched
description:
  - Validates the exit policy (from O(fail_when) or O(policy_file)), the maintenance window, the client
    name and the previous report, and lists every problem in one error.
  - Decides whether this run patches (O(patch) true, the window open now, a media source set) and which
    earlier report the drift check compares with (O(previous_report)).
  - Runs on the controller and changes nothing.
version_added: "0.1.0"
options:
  fail_when:
    description:
      - Conditions that fail the run - C(compromised), C(vulnerable), C(unknown), C(unpatched_after_window),
        C(new_indicators) - as a list or a comma-separated string; spaces and hyphens may stand for underscores.
    type: raw
  policy_file:
    description: YAML file with a C(fail_when) list; when set it replaces O(fail_when).
    type: str
    default: ""
  patch:
    description: Patch the servers when the window is open. Off by default.
    type: bool
    default: false
  window:
    description:
      - The maintenance window, weekly (C(days), C(start), C(end), C(timezone)) or one-off (C(opens_at), C(closes_at)).
      - A JSON string (an AWX survey answer) is read as the same mapping.
    type: dict
    default: {}
  previous_report:
    description:
      - C(auto) - the newest earlier report of the same client and inventory under O(report_root), none on
        a first run; a path - that report.json, which must exist; empty - no drift check.
    type: str
    default: auto
  report_root:
    description: Folder holding this estate's run folders (reports/<client>).
    type: path
    required: true
  report_dir:
    description: This run's report folder, never its own previous report.
    type: path
    required: true
  client:
    description: The client's name (exchange_client); empty for a single estate.
    type: str
    default: ""
  inventory:
    description: The inventory's folder, recorded in each report so runs of different estates are never compared.
    type: str
    default: ""
  min_log_days:
    description: Days back the logs must reach before the report warns that the hunt could not see further.
    type: raw
    default: 30
  hosts_without_media:
    description:
      - Live servers (no C(exchange_evidence_dir)) of the run that have no C(exchange_media_source); a run that
        patches refuses to start while there are any.
    type: list
    elements: str
    default: []
  now:
    description: The current time (ISO 8601) for tests; empty = the controller's clock.
    type: str
    default: ""
author:
  - exchange-remediation maintainers
"""

EXAMPLES = r"""
- name: Check the nightly run's inputs
  exchange_nightly_preflight:
    fail_when: [compromised, vulnerable, unknown, unpatched_after_window]
    patch: true
    window: {days: [saturday], start: "01:00", end: "05:00", timezone: Europe/Berlin}
    report_root: "{{ playbook_dir }}/../reports/acme"
    report_dir: "{{ playbook_dir }}/../reports/acme/20261129T010000Z"
    client: acme
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
fail_when:
  description: The policy's conditions, normalised.
  returned: success
  type: list
  elements: str
patch_now:
  description: Whether this run patches.
  returned: success
  type: bool
patch_window:
  description: C({applied, opens_at, closes_at}) when the run patches, else empty.
  returned: success
  type: dict
previous_report:
  description: The report the drift check compares with; empty when none.
  returned: success
  type: str
min_log_days:
  description: The retention threshold in days.
  returned: success
  type: int
notes:
  description: What the run will do and why (outside the window, first run, ...).
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.exchange_remediation.nightly_preflight import (  # noqa: E402
    NIGHTLY_ARGUMENTS,
    NightlyInputError,
    check_nightly_inputs,
    read_policy_yaml,
)


def main() -> None:
    module = AnsibleModule(argument_spec=NIGHTLY_ARGUMENTS, supports_check_mode=True)
    try:
        inputs = check_nightly_inputs(module.params, read_policy_yaml)
    except NightlyInputError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **inputs.to_result())


if __name__ == "__main__":
    main()
