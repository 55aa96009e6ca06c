#!/usr/bin/python
"""Ansible adapter: plan a mailbox migration to Exchange Online (readiness, batches, CSVs).

The action plugin of the same name runs the same code inside the controller's worker process;
this module is what runs when the module is used without it (and what ansible-doc shows)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: m365_migration_plan
short_description: Check migration readiness and plan permission-aware batches for Exchange Online
description:
  - Reads the on-premises mailbox inventory (C(mailboxes.json), C(docs/migration-inventory.md)) and the run's
    assessment on the controller, checks readiness on premises (hybrid server builds, MRSProxy on every EWS
    virtual directory, routing and accepted domains, mailbox sizes, duplicate addresses) and, when app
    credentials are given, in Microsoft Graph (target users, Exchange Online licences, domains).
  - Plans batches that keep permission-linked mailboxes together, bounded by count and size, and writes one
    CSV per batch in the format C(New-MigrationBatch) takes, C(plan.json) and C(plan.md) into O(output_dir).
  - Every failed check names the object and the fix. Blockers have an id (C(<check>:<object>)); nothing is
    staged while one stands unless it is listed in O(override_blockers).
  - Changes nothing anywhere.
version_added: "0.3.0"
options:
  inventory_file:
    description: The mailbox inventory (C(mailboxes.json)).
    type: path
    required: true
  assessment_file:
    description: The run's assessment (C(evidence/<run>/assessment.json)), for the hybrid servers' builds.
    type: path
  data_dir:
    description: Folder with the build catalog and C(migration-rules.yml).
    type: path
    required: true
  output_dir:
    description: Folder C(plan.json), C(plan.md) and C(batches/*.csv) are written to.
    type: path
    required: true
  tenant:
    description:
      - The tenant name (C(contoso) for C(contoso.onmicrosoft.com)).
      - The target delivery domain is C(<tenant>.mail.onmicrosoft.com).
    type: str
    required: true
  service_accounts:
    description: Mailbox ids or addresses of service accounts (backup, archiving) left out of the permission links.
    type: list
    elements: str
    default: []
  max_mailboxes:
    description: Most mailboxes in one batch.
    type: int
    default: 100
  max_gb:
    description: Most gigabytes (GiB) in one batch.
    type: int
    default: 1000
  order_by:
    description: How batches are grouped and ordered.
    type: str
    choices: [database, department, list]
    default: database
  order:
    description: With O(order_by=list), the mailbox ids that go first, in this order.
    type: list
    elements: str
    default: []
  batch_prefix:
    description: Prefix of the batch names.
    type: str
    default: Batch
  hybrid_servers:
    description: Names of the servers Exchange Online connects to; default every non-Edge server.
    type: list
    elements: str
  exo_accepted_domains:
    description: Accepted domains of Exchange Online, when known; every address domain must be one.
    type: list
    elements: str
  override_blockers:
    description: Blocker ids the operator accepts by name.
    type: list
    elements: str
    default: []
  graph:
    description:
      - App credentials for Microsoft Graph (C(tenant_id), C(client_id), C(certificate_thumbprint),
        C(private_key_path), optional C(private_key_passphrase), C(authority_host), C(graph_base_url), C(ca_bundle)).
      - Without them the Graph checks do not run and the plan says so.
    type: dict
author:
  - exchange-remediation maintainers
"""

EXAMPLES = r"""
- name: Plan the migration of the demo organisation
  m365_migration_plan:
    inventory_file: "{{ playbook_dir }}/../inventories/demo/organisation/mailboxes.json"
    data_dir: "{{ playbook_dir }}/../data"
    output_dir: /srv/exchange/evidence/run1/migration
    tenant: contoso
    service_accounts: [svc-backup, svc-archive]
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
plan_file:
  description: Where plan.json was written.
  returned: success
  type: str
blockers:
  description: Ids of the blockers that stand (not overridden).
  returned: success
  type: list
batches:
  description: Name, CSV file and mailbox count of each batch.
  returned: success
  type: list
summary:
  description: Batch statistics (batches, planned mailboxes and bytes, components, excluded, oversized, problems).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.exchange_remediation.migration_plan_task import (  # noqa: E402
    MIGRATION_PLAN_ARGUMENTS,
    MigrationPlanError,
    run_migration_plan,
)


def main() -> None:
    module = AnsibleModule(argument_spec=MIGRATION_PLAN_ARGUMENTS, supports_check_mode=True)
    try:
        module.exit_json(**run_migration_plan(module.params))
    except MigrationPlanError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
