#!/usr/bin/python
"""Ansible adapter: write report.json, report.html, summary.md and junit.xml for a run.

The action plugin of the same name runs the same code inside the controller's worker process;
this module is what runs when the module is used without it (and what ansible-doc shows)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: exchange_report
short_description: Write the run's reports (JSON, HTML, Markdown, JUnit) and return the summary table
description:
  - Assembles C(report.json) (format version 1) from the per-host assessment entries, validates it
    against the JSON Schema shipped in C(docs/report.schema.json), and writes it with a
    self-contained C(report.html), C(summary.md) and C(junit.xml) into O(report_dir).
  - Everything taken from evidence is escaped in the HTML and Markdown reports.
  - Runs on the controller. Writing the reports is output of the run, not a change to a managed
    server, so the module reports C(changed=false); in check mode it writes nothing.
version_added: "0.1.0"
options:
  assessment_file:
    description: The file of full per-host entries written by the C(exchange_assess) module (O(output_file) there).
    type: path
    required: true
  report_dir:
    description: Folder to write the reports into; created when missing.
    type: path
    required: true
  schema_path:
    description: JSON Schema that report.json must satisfy.
    type: path
    required: true
  run:
    description: Facts about the run recorded in the report (playbook, check mode, Ansible version).
    type: dict
    default: {}
  formats:
    description: Which reports to write besides C(json), which is always written.
    type: list
    elements: str
    choices: [html, markdown, junit]
    default: [html, markdown, junit]
  plan_file:
    description:
      - C(plan.json) (schema 1) of a remediation run. When given, every host of the report gets a
        C(remediation) object (state, reason, wave, before, after, target, failed step, setup log,
        whether maintenance mode was exited, steps) and the report a top-level C(remediation)
        (waves, AD preparation, counts, whether the rollout stopped and which server stopped it);
        the HTML, Markdown, JUnit and table outputs show them.
      - Without it the reports are those of an assessment, unchanged.
    type: path
  before_file:
    description:
      - Assessment file (as O(assessment_file)) taken before remediation; each server's C(before) build
        comes from it. Without it, from the plan's record of the server. Needs O(plan_file).
    type: path
  outcomes_dir:
    description:
      - Folder of the apply play's C(<inventory_hostname>.json) outcome files. A missing folder means
        no outcome (a plan-only run); a file that cannot be read or parsed shows its server as
        C(skipped) with the reason C(outcome file unreadable). Needs O(plan_file).
    type: path
author:
  - exchange-remediation maintainers
"""

EXAMPLES = r"""
- name: Write the reports
  exchange_report:
    assessment_file: "{{ assessment.output_file }}"
    report_dir: "{{ playbook_dir }}/../reports/20261129T101500Z"
    schema_path: "{{ playbook_dir }}/../docs/report.schema.json"
  delegate_to: localhost
  run_once: true

- name: Write the reports of a remediation run, before and after
  exchange_report:
    assessment_file: "{{ playbook_dir }}/../evidence/20261129T101500Z/assessment-after.json"
    before_file: "{{ playbook_dir }}/../evidence/20261129T101500Z/assessment.json"
    plan_file: "{{ playbook_dir }}/../evidence/20261129T101500Z/plan.json"
    outcomes_dir: "{{ playbook_dir }}/../evidence/20261129T101500Z/outcomes"
    report_dir: "{{ playbook_dir }}/../reports/20261129T101500Z"
    schema_path: "{{ playbook_dir }}/../docs/report.schema.json"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
files:
  description: Paths of the files written, by format.
  returned: success
  type: dict
summary:
  description: Counts of hosts by outcome.
  returned: always
  type: dict
table:
  description: Plain-text per-server summary table, one line per list item.
  returned: always
  type: list
  elements: str
remediation:
  description: >-
    The report's top-level C(remediation) object (waves, AD preparation, counts, rollout_stopped,
    stopped_by).
  returned: when plan_file is given
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.exchange_remediation.module_arguments import REPORT_ARGUMENTS  # noqa: E402
from ansible.module_utils.exchange_remediation.module_runs import TaskInputError, run_report  # noqa: E402


def main() -> None:
    module = AnsibleModule(argument_spec=REPORT_ARGUMENTS, supports_check_mode=True)
    try:
        module.exit_json(**run_report(module.params, module.check_mode))
    except TaskInputError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
