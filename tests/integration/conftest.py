"""Helpers to run the real ansible-playbook from the repository's virtual environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str
    report_dir: Path

    def report(self) -> dict[str, Any]:
        return json.loads((self.report_dir / "report.json").read_text(encoding="utf-8"))


def run_playbook(playbook: str, inventory: Path, report_dir: Path, *extra: str, timeout: int = 300) -> PlaybookRun:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    command = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / playbook),
               "-e", f"report_dir={report_dir}", "-e", "exchange_facts_run_id=pytest", *extra]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return PlaybookRun(done.returncode, done.stdout, done.stderr, report_dir)


@pytest.fixture(scope="session")
def report_schema() -> dict[str, Any]:
    return json.loads((REPO / "docs" / "report.schema.json").read_text(encoding="utf-8"))
