"""Rewrite rules from web.config, and what they prove about the ProxyLogon/ProxyNotShell mitigations."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from exchange_remediation.estate_assessment import assess_estate
from exchange_remediation.web_config import WebConfigError, rewrite_rules_from_web_config

DATA = Path(__file__).resolve().parents[2] / "data"

EOMT_WEB_CONFIG = """\ufeff<?xml version="1.0" encoding="UTF-8"?>
<configuration>
  <system.webServer>
    <rewrite>
      <rules>
        <rule name="X-AnonResource-Backend Abort - inbound">
          <match url=".*" />
          <conditions><add input="{HTTP_COOKIE}" pattern="(.*)X-AnonResource-Backend(.*)" /></conditions>
          <action type="AbortRequest" />
        </rule>
        <rule name="X-BEResource Abort - inbound" stopProcessing="true">
          <match url=".*" />
          <conditions><add input="{HTTP_COOKIE}" pattern="(.*)X-BEResource=(.+)/(.+)~(.+)" /></conditions>
          <action type="AbortRequest" />
        </rule>
        <rule name="PowerShell - inbound" stopProcessing="true">
          <match url=".*" />
          <conditions><add input="{REQUEST_URI}" pattern=".*autodiscover\\.json.*\\@.*Powershell.*" /></conditions>
          <action type="AbortRequest" />
        </rule>
      </rules>
    </rewrite>
  </system.webServer>
</configuration>
"""


def test_rules_are_read_with_iis_defaults_filled_in() -> None:
    rules = rewrite_rules_from_web_config(EOMT_WEB_CONFIG)
    assert [r["name"] for r in rules] == ["X-AnonResource-Backend Abort - inbound", "X-BEResource Abort - inbound",
                                          "PowerShell - inbound"]
    first = rules[0]
    assert first["match_url"] == ".*" and first["action_type"] == "AbortRequest"
    assert first["stop_processing"] == "false"
    assert first["conditions"] == [{"input": "{HTTP_COOKIE}", "pattern": "(.*)X-AnonResource-Backend(.*)",
                                    "negate": "false", "ignore_case": "true", "match_type": "Pattern"}]


@pytest.mark.parametrize("text", ["<configuration><system.webServer>", "<html/>",
                                  "<configuration><system.webServer><rewrite><rules><clear/></rules></rewrite>"
                                  "</system.webServer></configuration>"])
def test_unreadable_or_clearing_configs_raise(text: str) -> None:
    with pytest.raises(WebConfigError):
        rewrite_rules_from_web_config(text)


def _bundle(root: Path, name: str, web_config: str | None) -> Path:
    bundle = root / name
    site = bundle / "files" / "C" / "inetpub" / "wwwroot"
    site.mkdir(parents=True)
    if web_config is not None:
        # Bundles keep the server's own casing: the lookup must not depend on it.
        (site / "Web.config").write_text(web_config, encoding="utf-8")
    server = {"schema": 1, "hostname": name.upper(),
              "exchange": {"exsetup_version": "15.1.2106.2", "roles": ["Mailbox"]},
              "iis": {"url_rewrite_version": "7.2.1993",
                      "rewrite_rules": ["X-AnonResource-Backend Abort - inbound", "X-BEResource Abort - inbound",
                                        "PowerShell - inbound"]}}
    (bundle / "server.json").write_text(json.dumps(server), encoding="utf-8")
    return bundle


def test_bundle_web_config_proves_eomt_and_exposes_an_obsolete_eomtv2_pattern(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "ex16", EOMT_WEB_CONFIG)
    entry = assess_estate({"ex16": {"evidence_dir": str(bundle)}}, str(DATA), dt.date(2026, 11, 29)).hosts["ex16"]
    assert entry["cves"]["CVE-2021-26855"] == "mitigated"
    assert "mitigation_by_name_only" not in {w["code"] for w in entry["warnings"]}
    # The October 2022 first-draft pattern was bypassed: it does not count (mitigations.md §3).
    assert entry["cves"]["CVE-2022-41040"] == "vulnerable"
    eomtv2 = next(m for m in entry["mitigations"] if m["id"] == "eomtv2_autodiscover_powershell")
    assert "obsolete or altered pattern" in eomtv2["reason"]


def test_an_unparsable_web_config_makes_the_covered_cve_unknown(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "ex16", "<configuration><system.webServer><rewrite>")
    entry = assess_estate({"ex16": {"evidence_dir": str(bundle)}}, str(DATA), dt.date(2026, 11, 29)).hosts["ex16"]
    assert entry["cves"]["CVE-2021-26855"] == "unknown"
    assert "cannot be told" in entry["cve_details"]["CVE-2021-26855"]["reason"]
    assert entry["cves"]["CVE-2021-27065"] == "vulnerable"


def test_without_web_config_the_names_are_trusted_with_a_warning(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "ex16", None)
    entry = assess_estate({"ex16": {"evidence_dir": str(bundle)}}, str(DATA), dt.date(2026, 11, 29)).hosts["ex16"]
    assert entry["cves"]["CVE-2021-26855"] == "mitigated"
    assert "mitigation_by_name_only" in {w["code"] for w in entry["warnings"]}
