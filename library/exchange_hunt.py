#!/usr/bin/python
"""Ansible adapter: hunt every host's evidence bundle for indicators of compromise in one call.

The action plugin of the same name runs the same code inside the controller's worker process;
this module is what runs when the module is used without it (and what ansible-doc shows)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: exchange_hunt
short_description: Hunt Exchange evidence bundles for indicators of compromise, or tell the live collector what to keep
description:
  - Reads each host's evidence bundle on the controller (logs, event logs, web folders) and evaluates the
    indicator rules of C(data/indicators/rules) with the pure Python core in C(module_utils/exchange_remediation).
    Writes every host's findings and per-source read statistics to O(output_file) for C(exchange_assess),
    which turns them into the compromise verdict.
  - With O(collection_spec=true) it only returns what the live collector C(exchange_hunt_collect) must keep on
    each server (log folders with the rules' prefilter literals, web folders, event channels), derived from the
    same rules, so no rule logic lives in PowerShell.
  - A host whose bundle is missing or unreadable is returned with its reason; the other hosts are still hunted.
  - Read-only; runs on the controller.
version_added: "0.2.0"
options:
  data_dir:
    description:
      - The repository's C(data) folder, with C(indicators/rules), C(indicators/lists) and C(indicators/webshells.yar).
    type: path
    required: true
  hosts:
    description:
      - Mapping of inventory hostname to its evidence, as for C(exchange_assess) (C(evidence_dir), C(error)).
      - Required unless O(collection_spec=true).
    type: dict
  output_file:
    description:
      - Controller file the per-host hunt results are written to (JSON).
      - Required unless O(collection_spec=true).
    type: path
  max_findings_per_rule:
    description: Findings kept per rule and host; the rest are counted, and the verdict then cannot be C(no).
    type: int
    default: 200
  collection_spec:
    description: Return the live collector's instructions instead of hunting.
    type: bool
    default: false
  since_days:
    description: Live collection reads logs and events of this many days back.
    type: int
    default: 90
  max_bytes:
    description: Most bytes one server may send back in total.
    type: int
    default: 67108864
  max_file_bytes:
    description: Most bytes kept from one log file.
    type: int
    default: 16777216
  max_events_per_channel:
    description: Most events kept from one event channel.
    type: int
    default: 20000
author:
  - exchange-remediation maintainers
"""

EXAMPLES = r"""
- name: Hunt every host of the play
  exchange_hunt:
    data_dir: "{{ playbook_dir }}/../data"
    hosts:
      ex01: {evidence_dir: /srv/evidence/ex01}
    output_file: /srv/exchange/evidence/run1/hunt.json
  delegate_to: localhost
  run_once: true
  register: hunt

- name: Tell the live collector what to keep
  exchange_hunt:
    data_dir: "{{ playbook_dir }}/../data"
    collection_spec: true
    since_days: 30
  delegate_to: localhost
  run_once: true
  register: hunt_spec
"""

RETURN = r"""
hosts:
  description: Per-host hunt status, error and number of findings (the findings are in O(output_file)).
  returned: when hunting
  type: dict
summary:
  description: Hosts hunted and findings by severity.
  returned: when hunting
  type: dict
  sample: {hosts: 12, hunted: 11, not_hunted: 1, critical: 9, high: 12, medium: 2, low: 3}
output_file:
  description: Where the per-host hunt results were written.
  returned: when hunting
  type: str
collection_spec:
  description: Log sets (root, recurse, include, literals), file sets and event channels for the live collector.
  returned: when collection_spec is true
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.exchange_remediation.module_arguments import HUNT_ARGUMENTS  # noqa: E402
from ansible.module_utils.exchange_remediation.module_runs import TaskInputError, run_hunt  # noqa: E402


def main() -> None:
    module = AnsibleModule(argument_spec=HUNT_ARGUMENTS, supports_check_mode=True)
    try:
        module.exit_json(**run_hunt(module.params))
    except TaskInputError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
