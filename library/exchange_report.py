#!/usr/bin/python
"""Ansible adapter: write report.json, report.html, summary.md and junit.xml for a run.

The action plugin of the same name runs the same code inside the controller's worker process;
this module is what runs when the module is used without it (and what ansible-doc shows)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: exchange_report
short_description: Write the run's reports (JSON, HTML, Markdown, JUnit, indicator exports) and return the summary table
description:
  - Assembles C(report.json) (format version 1) from the per-host assessment entries, validates it
    against the JSON Schema shipped in C(docs/report.schema.json), and writes it with a
    self-contained C(report.html), C(summary.md) and C(junit.xml) into O(report_dir).
  - Everything taken from evidence is escaped in the HTML and Markdown reports.
  - A nightly run adds, in this order, each server's log retention (O(min_log_days)), the patch
    window (O(patch_window)), the drift against the previous report (O(previous_report)) and the
    policy (O(policy)), which is evaluated last so that its conditions see the others.
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
    type: list
    elements: str
    choices: [html, markdown, junit, stix, indicators_csv]
    default: [html, markdown, junit]
    description:
      - Which reports to write besides C(json), which is always written.
      - C(html) writes C(report.html) and a page per server, C(servers/<name>.html).
      - C(stix) writes C(indicators.stix.json), a STIX 2.1 bundle of the indicators; C(indicators_csv)
        writes C(indicators.csv), one row per observable and server. See O(export_hostnames).
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
  policy:
    description:
      - Conditions that fail the run (C(fail_when)), any of C(compromised), C(vulnerable), C(unknown),
        C(unpatched_after_window), C(new_indicators); case, spaces and hyphens do not matter, an unknown
        name fails the task. An empty list enforces nothing.
      - When given, the report gets a C(policy) object (every condition, whether it is enforced,
        evaluated and triggered, its servers and a summary; C(failed)) and the module returns it.
        Omitted = no policy object.
    type: list
    elements: str
  patch_window:
    description:
      - The maintenance window this run patched in, copied into the report as C(patch_window), with
        C(applied) (true when servers were patched in it), C(opens_at) and C(closes_at) (ISO 8601).
      - The C(unpatched_after_window) condition is only evaluated when C(applied) is true.
    type: dict
  previous_report:
    description:
      - C(report.json) of the previous run. The report gets a C(drift) object (servers added and gone,
        build, status, vulnerable, compromised, CVE, remediation changes and new indicators).
      - A file that is missing, unreadable or not a report.json of schema 1 fails the task.
      - An empty string means there is no earlier report (a nightly run's first night), and the report
        gets a C(drift) object whose C(previous) is null and whose summary says drift was not checked.
        Omitted = no C(drift) object.
    type: path
  min_log_days:
    description:
      - Days the logs of a hunted server must reach back. Each server's hunt gets a C(retention) object
        and, when its logs are shorter, a C(log_retention_short) warning. C(0) turns the check off.
    type: int
    default: 0
  export_hostnames:
    description:
      - Whether the indicator exports (C(stix), C(indicators_csv)) name the servers. C(false) replaces
        the servers by stable pseudonyms and redacts their names from every value, for sharing.
    type: bool
    default: true
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
policy:
  description: >-
    The report's C(policy) object (conditions, failed, summary), or null when O(policy) was not given.
  returned: always
  type: dict
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
