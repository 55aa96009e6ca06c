#!/usr/bin/python
"""Ansible adapter: assess every host of the play from its evidence bundle in one call.

The action plugin of the same name runs the same code inside the controller's worker process;
this module is what runs when the module is used without it (and what ansible-doc shows)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: exchange_assess
short_description: Assess Exchange servers from their evidence bundles (build, support, CVEs, next step)
description:
  - Reads C(server.json) of each host's evidence bundle on the controller and assesses it with the
    pure Python core in C(module_utils/exchange_remediation), giving product, CU, SU, supported, latest,
    the status of every CVE in the catalog, mitigations in place, the next step and warnings.
  - One call assesses all hosts, so a run over hundreds of hosts costs one module execution.
  - A host whose bundle is missing or damaged, whose build is unknown, or whose collection failed
    is returned with C(status=error) and the reason; the other hosts are still assessed.
  - Read-only; runs on the controller.
version_added: "0.1.0"
options:
  hosts:
    description:
      - Mapping of inventory hostname to what is known about its evidence.
      - Each value may hold C(evidence_dir) (the bundle folder on the controller) and C(error)
        (why facts could not be collected; takes precedence).
    type: dict
    required: true
  data_dir:
    description: Folder holding C(exchange-builds.csv), C(products.yml), C(cves.yml) and C(march21-out-of-support.yml).
    type: path
    required: true
  today:
    description: Date the support lifecycle is judged at (ISO C(YYYY-MM-DD)); defaults to today (UTC).
    type: str
  signature_max_age_days:
    description: Antivirus signatures older than this many days raise a warning.
    type: int
    default: 7
  hunt_file:
    description:
      - Per-host hunt results written by C(exchange_hunt). Their findings become each host's C(indicators) and
        decide C(verdict.compromised); without them every host's compromise verdict is C(unknown).
    type: path
  min_coverage_percent:
    description:
      - C(compromised=no) needs logs that cover at least this percentage of every window in which the host was
        open to an exploitation campaign.
    type: float
    default: 90.0
  output_file:
    description:
      - Controller file the full per-host entries are written to (JSON), for the C(exchange_report)
        module. Megabytes for a large estate, so they are not passed through Ansible variables.
    type: path
    required: true
author:
  - exchange-remediation maintainers
"""

EXAMPLES = r"""
- name: Assess every host of the play
  exchange_assess:
    hosts:
      ex01: {evidence_dir: /srv/evidence/ex01}
      ex02: {error: "host unreachable over WinRM"}
    data_dir: "{{ playbook_dir }}/../data"
    output_file: /srv/exchange/evidence/run1/assessment.json
  delegate_to: localhost
  run_once: true
  register: assessment
"""

RETURN = r"""
hosts:
  description: Per-host status, error, exchange, verdict and next_step (the full entries are in O(output_file)).
  returned: always
  type: dict
summary:
  description: Counts of hosts by outcome.
  returned: always
  type: dict
  sample: {hosts: 9, ok: 8, error: 1, vulnerable: 6}
output_file:
  description: Where the full per-host entries were written.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.exchange_remediation.module_arguments import ASSESS_ARGUMENTS  # noqa: E402
from ansible.module_utils.exchange_remediation.module_runs import TaskInputError, run_assess  # noqa: E402


def main() -> None:
    module = AnsibleModule(argument_spec=ASSESS_ARGUMENTS, supports_check_mode=True)
    try:
        module.exit_json(**run_assess(module.params))
    except TaskInputError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
