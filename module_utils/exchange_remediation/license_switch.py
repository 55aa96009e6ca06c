"""Setup.exe switches that depend on the version of the media that runs setup.

The license-terms switch is chosen by the TARGET media (patch-procedure §4): Exchange 2013,
2016 before build 2375 (CU22) and 2019 before build 986 (CU11) take
``/IAcceptExchangeServerLicenseTerms``; later 2016/2019 media and SE reject it and need the
``_DiagnosticDataON`` or ``_DiagnosticDataOFF`` form. The build thresholds are data
(``setup_switches`` in data/patch-media.yml), not code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .build_number import Build

LICENSE_SWITCH = "/IAcceptExchangeServerLicenseTerms"
DIAGNOSTIC_DATA_CHOICES = ("OFF", "ON")
EXTENDED_PROTECTION_OPT_OUTS = ("DoNotEnableEP", "DoNotEnableEP_FEEWS")


@dataclass(frozen=True)
class SetupSwitchRule:
    """For one product: from which build part on the media takes the newer switches."""

    diagnostic_data_from_build: int | None
    extended_protection_from_build: int | None


@dataclass(frozen=True)
class SetupSwitches:
    rules: Mapping[str, SetupSwitchRule]

    def _rule(self, product_code: str) -> SetupSwitchRule:
        rule = self.rules.get(product_code)
        if rule is None:
            raise ValueError(f"no setup switch rule for product {product_code!r} in patch-media.yml")
        return rule

    def license_switch(self, product_code: str, media_build: Build, diagnostic_data: str = "OFF") -> str:
        """The license-terms switch that Setup.exe of this media accepts."""
        threshold = self._rule(product_code).diagnostic_data_from_build
        if threshold is None or media_build.build < threshold:
            return LICENSE_SWITCH
        return f"{LICENSE_SWITCH}_DiagnosticData{normalise_diagnostic_data(diagnostic_data)}"

    def extended_protection_default(self, product_code: str, media_build: Build) -> bool:
        """True when this media's setup enables Extended Protection by default (2019 CU14+, SE)
        and therefore accepts the /DoNotEnableEP opt-out switches."""
        threshold = self._rule(product_code).extended_protection_from_build
        return threshold is not None and media_build.build >= threshold


def normalise_diagnostic_data(value: Any) -> str:
    """"OFF" or "ON" (any case); anything else is a ValueError naming the option."""
    if isinstance(value, str) and value.strip().upper() in DIAGNOSTIC_DATA_CHOICES:
        return value.strip().upper()
    raise ValueError(f"diagnostic_data must be one of {', '.join(DIAGNOSTIC_DATA_CHOICES)}, got {value!r}")


def normalise_extended_protection_opt_out(value: Any) -> str | None:
    """None (setup's default: Extended Protection on) or one of the documented opt-out switches,
    with or without the leading slash. Microsoft warns that opting out weakens security, so it
    is only ever set when the operator names it."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lstrip("/") in EXTENDED_PROTECTION_OPT_OUTS:
        return value.strip().lstrip("/")
    raise ValueError(f"extended_protection_opt_out must be empty or one of "
                     f"{', '.join(EXTENDED_PROTECTION_OPT_OUTS)}, got {value!r}")


def load_setup_switches(data: Mapping[str, Any]) -> SetupSwitches:
    """From the ``setup_switches`` mapping of patch-media.yml (already schema-validated)."""
    return SetupSwitches({
        str(code): SetupSwitchRule(rule.get("diagnostic_data_from_build"), rule.get("extended_protection_from_build"))
        for code, rule in data.items()
    })
