"""Jinja filter: describe where each host's evidence is, for the exchange_assess module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def exchange_evidence_specs(hostvars: Mapping[str, Any], hosts: Sequence[str],
                            known: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Per host: the bundle folder (offline, or written by live collection) and any collection error.

    Looking up a host's variables is the expensive part for a large estate, so offline hosts
    already described in ``known`` (from the start of the run) are not looked up again; only
    live hosts, whose bundle folder or error appears during the run, are.
    """
    specs: dict[str, dict[str, Any]] = {}
    for name in hosts:
        previous = known.get(name) if known else None
        if isinstance(previous, Mapping) and previous.get("source") == "evidence":
            specs[name] = dict(previous)
            continue
        host = hostvars[name]
        live_dir = host.get("exchange_facts_bundle_dir")
        offline_dir = host.get("exchange_evidence_dir")
        error = host.get("exchange_facts_error")
        if offline_dir is None and live_dir is None and error is None:
            error = "no facts collected: the host was not reached or live collection did not run"
        hunt_error = host.get("exchange_hunt_error")
        specs[name] = {
            "evidence_dir": str(live_dir or offline_dir) if (live_dir or offline_dir) else None,
            "source": "live" if offline_dir is None else "evidence",
            "error": str(error) if error else None,
        }
        if hunt_error:
            specs[name]["hunt_error"] = str(hunt_error)
    return specs


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"exchange_evidence_specs": exchange_evidence_specs}
