"""Which earlier report a nightly run compares with: the same estate's newest, never another's."""

from __future__ import annotations

import json
import os

from exchange_remediation.report_history import ReportIdentity, find_previous_report, report_identity

ACME = ReportIdentity("acme", "/srv/estates/inventories/acme/hosts.yml")


def _write(root, run: str, client: str, inventory: str, mtime: int, hosts=("ex19-dag1",)) -> str:
    folder = root / run
    folder.mkdir(parents=True)
    path = folder / "report.json"
    path.write_text(json.dumps({
        "schema": 1, "generated_at": "2026-11-27T02:00:00Z",
        "run": {"playbook": "nightly", "client": client, "inventory": inventory},
        "hosts": {name: {"status": "ok"} for name in hosts},
    }), encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return str(path)


def test_the_newest_report_of_the_same_estate_is_chosen(tmp_path):
    _write(tmp_path, "20261126T020000Z", "acme", ACME.inventory, 1_000)
    newest = _write(tmp_path, "20261127T020000Z", "acme", ACME.inventory, 2_000)
    assert find_previous_report(str(tmp_path), ACME) == newest


def test_another_clients_or_inventorys_report_is_never_used(tmp_path):
    ours = _write(tmp_path, "20261126T020000Z", "acme", ACME.inventory, 1_000)
    _write(tmp_path, "20261127T020000Z", "globex", "/srv/estates/inventories/globex/hosts.yml", 3_000,
           hosts=("gx-mbx01",))
    _write(tmp_path, "20261127T030000Z", "acme", "/srv/estates/inventories/acme-lab/hosts.yml", 4_000)
    assert find_previous_report(str(tmp_path), ACME) == ours


def test_the_current_runs_folder_and_broken_reports_are_passed_over(tmp_path):
    ours = _write(tmp_path, "20261126T020000Z", "acme", ACME.inventory, 1_000)
    current = _write(tmp_path, "20261128T020000Z", "acme", ACME.inventory, 5_000)
    broken = tmp_path / "20261127T020000Z"
    broken.mkdir()
    (broken / "report.json").write_text("{ half written", encoding="utf-8")
    os.utime(broken / "report.json", (4_000, 4_000))
    assert find_previous_report(str(tmp_path), ACME, exclude_dir=os.path.dirname(current)) == ours


def test_a_first_run_finds_nothing(tmp_path):
    assert find_previous_report(str(tmp_path / "missing"), ACME) is None
    assert find_previous_report(str(tmp_path), ACME) is None


def test_identity_normalises_the_inventory_path():
    report = {"run": {"client": "acme", "inventory": "/srv/estates/inventories/acme/./hosts.yml"}}
    assert report_identity(report) == ACME
    assert report_identity({"schema": 1}) == ReportIdentity("", ".")
