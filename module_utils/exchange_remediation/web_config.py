"""URL Rewrite rules read from a site's web.config (mitigations.md §7, offline form)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

# Where the Default Web Site's web.config sits in an evidence bundle (files/<Drive>/...).
DEFAULT_SITE_WEB_CONFIG = ("inetpub", "wwwroot", "web.config")


class WebConfigError(ValueError):
    """The file is not XML we can read; a mitigation it would prove is then undecided."""


def _rule(element: ET.Element) -> dict[str, Any]:
    match = element.find("match")
    action = element.find("action")
    conditions = [
        {
            "input": add.get("input"),
            "pattern": add.get("pattern"),
            # IIS omits attributes at their defaults: absent negate = false, ignoreCase = true.
            "negate": add.get("negate", "false"),
            "ignore_case": add.get("ignoreCase", "true"),
            "match_type": add.get("matchType", "Pattern"),
        }
        for add in element.findall("conditions/add")
    ]
    return {
        "name": element.get("name"),
        "enabled": element.get("enabled", "true"),
        "pattern_syntax": element.get("patternSyntax", "ECMAScript"),
        "stop_processing": element.get("stopProcessing", "false"),
        "match_url": match.get("url") if match is not None else None,
        "conditions": conditions,
        "action_type": action.get("type") if action is not None else None,
    }


def rewrite_rules_from_web_config(text: str) -> list[dict[str, Any]]:
    """Site-level inbound rules (system.webServer/rewrite/rules) in document order."""
    try:
        # Parsed from text without resolving anything external; a BOM is tolerated.
        root = ET.fromstring(text.lstrip("\ufeff").encode("utf-8"))
    except ET.ParseError as exc:
        raise WebConfigError(f"web.config is not well-formed XML: {exc}") from exc
    if root.tag != "configuration":
        raise WebConfigError(f"web.config root element is <{root.tag}>, not <configuration>")
    if root.find("system.webServer/rewrite/rules/clear") is not None:
        raise WebConfigError("web.config clears the inherited rewrite rules (<clear/>)")
    return [_rule(rule) for rule in root.findall("system.webServer/rewrite/rules/rule")]
