#!/usr/bin/python
"""Ansible adapter: plan CU/SU updates, prerequisites, AD preparation, media and DAG waves.

The action plugin of the same name runs the same code inside the controller's worker process;
this module is what runs when the module is used without it (and what ansible-doc shows)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: exchange_patch_plan
short_description: Plan the updates of an Exchange estate and the waves that patch it
description:
  - Reads the run's assessment (written by C(exchange_assess)) and each host's C(server.json) on the
    controller and plans, per server, the update path (a CU first when the installed CU gets no more
    SUs, then the SU), the prerequisites by target CU, the setup license switch, the media needed,
    and whether Active Directory must be prepared first.
  - Servers that cannot be patched automatically (Exchange 2010 or 2013, unknown build, Edge without
    a path, a half-done setup, an unsupported .NET release) are C(blocked) with the reason.
  - Groups the servers to patch into waves that never hold two members of one DAG, in the minimum
    number of waves the optional limits per wave and per AD site allow.
  - Writes C(plan.json) and C(plan.md) into O(output_dir). Read-only towards servers; runs on the controller.
version_added: "0.2.0"
options:
  assessment_file:
    description: The per-host assessment written by C(exchange_assess) (C(evidence/<run>/assessment.json)).
    type: path
    required: true
  data_dir:
    description: Folder with the build catalog and the patch data (prerequisites, AD levels, media names, durations).
    type: path
    required: true
  output_dir:
    description: Folder C(plan.json) and C(plan.md) are written to; created when missing.
    type: path
    required: true
  generated_at:
    description: Time stamp recorded in the plan (ISO 8601, UTC).
    type: str
    required: true
  hosts:
    description: Inventory hosts to plan; default every host of the assessment.
    type: list
    elements: str
  max_per_wave:
    description: Most servers patched at the same time; default no limit.
    type: int
  max_per_site:
    description: Most servers of one AD site patched at the same time; default no limit.
    type: int
  upgrade_to_se:
    description: Plan the in-place upgrade of Exchange 2019 CU14/CU15 servers to Exchange Server SE.
    type: bool
    default: false
  diagnostic_data:
    description:
      - Which setup license switch to use on media that needs one
        (C(/IAcceptExchangeServerLicenseTerms_DiagnosticDataOFF) or C(ON)).
    type: str
    choices: ["OFF", "ON"]
    default: "OFF"
  domain_controller:
    description: Domain controller FQDN passed to setup as C(/DomainController).
    type: str
  extended_protection_opt_out:
    description:
      - Setup switch that keeps Extended Protection off on 2019 CU14+ and SE. Microsoft warns that it weakens
        security (CVE-2024-21410); empty keeps setup's default (Extended Protection on).
    type: str
    choices: ["", "DoNotEnableEP", "DoNotEnableEP_FEEWS"]
    default: ""
  media_sha256:
    description: Known SHA-256 of media files, by file name or path relative to the media source.
    type: dict
    default: {}
author:
  - exchange-remediation maintainers
"""

EXAMPLES = r"""
- name: Plan the estate's updates and waves
  exchange_patch_plan:
    assessment_file: "{{ playbook_dir }}/../evidence/{{ exchange_facts_run }}/assessment.json"
    data_dir: "{{ playbook_dir }}/../data"
    output_dir: "{{ playbook_dir }}/../evidence/{{ exchange_facts_run }}"
    generated_at: "{{ now(utc=true, fmt='%Y-%m-%dT%H:%M:%SZ') }}"
    max_per_site: 2
  delegate_to: localhost
  run_once: true
  register: plan
"""

RETURN = r"""
plan_file:
  description: Where plan.json was written.
  returned: success
  type: str
markdown_file:
  description: Where plan.md was written.
  returned: success
  type: str
summary:
  description: Counts (patch, up_to_date, blocked), waves, the modelled window and the one-at-a-time window.
  returned: success
  type: dict
waves:
  description: Inventory hosts of each wave, in order.
  returned: success
  type: list
apply_hosts:
  description: Live hosts to patch, wave after wave (offline evidence bundles are planned but never applied).
  returned: success
  type: list
apply_batches:
  description: Number of live hosts in each wave, for the play's C(serial).
  returned: success
  type: list
ad_prep_hosts:
  description: The live host that prepares Active Directory when the plan needs it (empty list otherwise).
  returned: success
  type: list
servers:
  description: Per host its state (patch, up_to_date, blocked), wave, whether it is live, and the reasons.
  returned: success
  type: dict
table:
  description: The plan as lines of text for the play's output.
  returned: success
  type: list
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.exchange_remediation.patch_plan_task import (  # noqa: E402
    PLAN_ARGUMENTS,
    PlanInputError,
    run_patch_plan,
)


def main() -> None:
    module = AnsibleModule(argument_spec=PLAN_ARGUMENTS, supports_check_mode=True)
    try:
        module.exit_json(**run_patch_plan(module.params))
    except PlanInputError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
