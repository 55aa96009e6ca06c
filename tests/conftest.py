"""Make the pure core importable as ``exchange_remediation`` (Ansible loads it as
``ansible.module_utils.exchange_remediation``)."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "module_utils"))
sys.path.insert(0, str(REPO / "tools"))
