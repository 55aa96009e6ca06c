"""The bundled inventories parse, and the demo estate is what its README promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent


def _inventory(path: Path) -> dict:
    done = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(path), "--list"], cwd=REPO,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_example_inventory_parses_with_dag_groups_and_no_secrets() -> None:
    inventory = _inventory(REPO / "inventories" / "example" / "hosts.yml")
    assert set(inventory["exchange"]["children"]) >= {"dag_hq01", "dag_br01", "standalone", "edge", "triage"}
    assert len(inventory["dag_hq01"]["hosts"]) == 3
    text = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "inventories" / "example").rglob("*.yml"))
    assert "ansible_winrm_server_cert_validation: validate" in text
    assert "replace-me" not in text  # placeholders live only in vault.yml.example


def test_demo_inventory_has_at_least_eight_offline_servers_with_bundles() -> None:
    inventory = _inventory(REPO / "inventories" / "demo" / "hosts.yml")
    hostvars = inventory["_meta"]["hostvars"]
    assert len(hostvars) >= 8
    for name, variables in hostvars.items():
        assert variables["ansible_connection"] == "local", name
        bundle = Path(variables["exchange_evidence_dir"].replace("{{ inventory_dir }}",
                                                                 str(REPO / "inventories" / "demo")))
        assert bundle.is_dir(), name
    dag_groups = [group for group in inventory if group.startswith("dag")]
    assert any(len(inventory[group]["hosts"]) == 3 for group in dag_groups)


def test_demo_folder_as_inventory_skips_the_evidence_bundles() -> None:
    # The README says "-i inventories/demo": the folder holds 1,900 evidence files (logs, .evtx)
    # that Ansible must not try as inventory sources.
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    done = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(REPO / "inventories" / "demo"), "--list"],
                          cwd=REPO, capture_output=True, text=True, check=True, env=env)
    assert "WARNING" not in done.stderr, done.stderr[:500]
    assert len(json.loads(done.stdout)["_meta"]["hostvars"]) == 12
