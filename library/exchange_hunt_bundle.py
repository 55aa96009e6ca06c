#!/usr/bin/python
"""Ansible adapter: write the live collector's result as an evidence bundle on the controller.

The action plugin of the same name runs the same code inside the controller's worker process;
this module is what runs when the module is used without it (and what ansible-doc shows)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: exchange_hunt_bundle
short_description: Write a live Exchange server's hunt evidence into its evidence bundle on the controller
description:
  - Takes the result of C(exchange_hunt_collect) and writes it into the host's evidence bundle in the layout of an
    offline bundle, so the hunt reads live and offline evidence the same way. C(files/<Drive>/<path>) holds the
    reduced logs and the first bytes of script files, C(eventlogs/<Channel>.jsonl) the events (C(/) in a channel
    name becomes C(%4)), C(listing.jsonl) every file found in the web folders and system locations with its
    size and SHA-256, and C(collection.json) what was read on the server (line counts per file, caps hit, errors).
  - Rewrites C(manifest.sha256) (sha256sum format) over every file of the bundle, C(server.json) included, so
    C(sha256sum -c manifest.sha256) inside the bundle proves the evidence is as collected.
  - A server path that cannot be mapped safely into the bundle (C(..), a C(:) after the drive, a device name, not
    on a drive letter) is reported in RV(errors) and not written. The same input writes the same bytes; a second
    run replaces what the first wrote. A folder with evidence files but no C(collection.json) (an offline bundle)
    is never overwritten.
  - Runs on the controller (C(delegate_to=localhost)). Writing evidence on the controller is output of the run,
    not a change to a managed server, so it reports C(changed=false) and also writes in check mode.
version_added: "0.2.0"
options:
  bundle_dir:
    description: The host's evidence bundle folder on the controller (created when missing).
    type: path
    required: true
  collected:
    description: The registered result of C(exchange_hunt_collect).
    type: dict
    required: true
seealso:
  - module: exchange_hunt_collect
author:
  - exchange-remediation maintainers
"""

EXAMPLES = r"""
- name: Write the hunt evidence into the bundle
  exchange_hunt_bundle:
    bundle_dir: "{{ exchange_facts_bundle_dir }}"
    collected: "{{ exchange_hunt_collected }}"
  delegate_to: localhost
  become: false
  check_mode: false
"""

RETURN = r"""
bundle_dir:
  description: The bundle folder written.
  returned: always
  type: str
files:
  description: Log files written under C(files/).
  returned: always
  type: int
listing:
  description: Entries written to C(listing.jsonl).
  returned: always
  type: int
copied:
  description: Script file heads written under C(files/).
  returned: always
  type: int
events:
  description: Events written per channel.
  returned: always
  type: dict
  sample: {"Application": 12, "MSExchange Management": 3}
caps_hit:
  description: The collection caps that were hit on the server (C(cap), C(stream), C(source), C(limit), C(detail)).
  returned: always
  type: list
  elements: dict
errors:
  description: What could not be read on the server, then what could not be written into the bundle.
  returned: always
  type: list
  elements: str
manifest:
  description: Path of the rewritten C(manifest.sha256).
  returned: always
  type: str
manifest_entries:
  description: Files listed in the manifest.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.exchange_remediation.live_bundle import (  # noqa: E402
    BUNDLE_ARGUMENTS,
    BundleError,
    run_bundle,
)


def main() -> None:
    module = AnsibleModule(argument_spec=BUNDLE_ARGUMENTS, supports_check_mode=True)
    try:
        module.exit_json(**run_bundle(module.params))
    except BundleError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
