"""Exchange build numbers as Windows reports them, normalised to comparable tuples."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple


class Build(NamedTuple):
    """A four-part build number. Compared as integers, never as strings or floats
    (15.2.986.5 < 15.2.1118.7)."""

    major: int
    minor: int
    build: int
    revision: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.build}.{self.revision}"


# ExSetup.exe FileVersion comes zero-padded ("15.01.2176.009") or plain ("15.1.2176.9");
# anything after the four parts (e.g. " (built by ...)") is ignored.
_FILE_VERSION = re.compile(r"^\s*(\d+)\.(\d+)\.(\d+)\.(\d+)")
# Get-ExchangeServer AdminDisplayVersion: "Version 15.2 (Build 986.5)".
_ADMIN_DISPLAY = re.compile(r"^\s*Version\s+(\d+)\.(\d+)\s+\(Build\s+(\d+)\.(\d+)\)", re.IGNORECASE)

# Largest value a part can take in a Windows file version (each part is a 16-bit word).
_MAX_PART = 65535


@dataclass(frozen=True)
class ParsedVersion:
    """What a version string said.

    ``su_level_known`` is False for sources that only move with the CU (AdminDisplayVersion,
    the Setup registry values): the SU level must then be reported as unknown, never as
    "no SU".
    """

    build: Build | None
    source: str
    su_level_known: bool
    error: str | None = None


def _build_from_parts(parts: tuple[str, ...]) -> Build | None:
    # A part longer than five digits cannot be a 16-bit word; checking first also keeps int()
    # from refusing very long digit strings with an exception.
    if any(len(p.lstrip("0")) > 5 for p in parts):
        return None
    numbers = [int(p) for p in parts]
    if any(n > _MAX_PART for n in numbers):
        return None
    return Build(*numbers)


def parse_file_version(text: Any) -> ParsedVersion:
    """Parse ExSetup.exe's FileVersion (authoritative: it moves with every SU)."""
    if not isinstance(text, str) or not text.strip():
        return ParsedVersion(None, "exsetup", True, "ExSetup.exe file version is missing or empty")
    parts = text.split(".")
    if len(parts) == 4 and all(part.isascii() and part.isdigit() for part in parts):
        # The common case, checked without the regular expression: an estate has thousands.
        build = _build_from_parts(tuple(parts))
    else:
        match = _FILE_VERSION.match(text)
        build = _build_from_parts(match.groups()) if match else None
    if build is None:
        return ParsedVersion(None, "exsetup", True, f"unrecognised ExSetup.exe file version {text.strip()[:60]!r}")
    return ParsedVersion(build, "exsetup", True)


def parse_admin_display_version(text: Any) -> ParsedVersion:
    """Parse AdminDisplayVersion; it stays at the CU build when an SU is installed."""
    if not isinstance(text, str) or not text.strip():
        return ParsedVersion(None, "admin_display_version", False, "AdminDisplayVersion is missing or empty")
    match = _ADMIN_DISPLAY.match(text)
    build = _build_from_parts(match.groups()) if match else None
    if build is None:
        return ParsedVersion(
            None, "admin_display_version", False, f"unrecognised AdminDisplayVersion {text.strip()[:60]!r}"
        )
    return ParsedVersion(build, "admin_display_version", False)


_REGISTRY_KEYS = ("MsiProductMajor", "MsiProductMinor", "MsiBuildMajor", "MsiBuildMinor")


def parse_setup_registry(values: Any) -> ParsedVersion:
    """Parse the DWORDs under HKLM\\SOFTWARE\\Microsoft\\ExchangeServer\\v15\\Setup (CU level)."""
    if not isinstance(values, Mapping):
        return ParsedVersion(None, "setup_registry", False, "Setup registry values are missing")
    parts: list[int] = []
    for key in _REGISTRY_KEYS:
        value = values.get(key)
        if isinstance(value, bool):
            value = None
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or value < 0 or value > _MAX_PART:
            return ParsedVersion(None, "setup_registry", False, f"Setup registry value {key} is missing or invalid")
        parts.append(value)
    return ParsedVersion(Build(*parts), "setup_registry", False)


def parse_build_text(text: Any) -> Build | None:
    """Parse any textual form (file version or AdminDisplayVersion); None when unrecognised."""
    if not isinstance(text, str):
        return None
    for parser in (parse_file_version, parse_admin_display_version):
        parsed = parser(text)
        if parsed.build is not None:
            return parsed.build
    return None


def best_version(exchange: Mapping[str, Any]) -> ParsedVersion:
    """Pick the most precise version a server's facts offer.

    ExSetup.exe first; AdminDisplayVersion and the Setup registry values only as fallbacks,
    flagged as CU-level so the SU is reported unknown.
    """
    exsetup = parse_file_version(exchange.get("exsetup_version"))
    if exsetup.build is not None:
        return exsetup
    fallbacks = [parse_admin_display_version(exchange.get("admin_display_version"))]
    fallbacks.append(parse_setup_registry(exchange.get("setup_registry")))
    for fallback in fallbacks:
        if fallback.build is not None:
            return ParsedVersion(fallback.build, fallback.source, False, exsetup.error)
    return exsetup
