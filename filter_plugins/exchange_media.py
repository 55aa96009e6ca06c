"""Jinja filters of role exchange_media: thin adapters from task results to the pure core.

Every decision (where an item comes from and goes to, which hash it must have, what to copy,
whether a staged file may run) is made in module_utils/exchange_remediation/media_source.py and
media_signature.py; these filters only turn Ansible's loop results into plain mappings and back.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

# The pure core lives in ../module_utils; Ansible only makes it importable inside modules.
_CORE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _CORE not in sys.path:
    sys.path.insert(0, _CORE)

from exchange_remediation import media_signature as _signature  # noqa: E402
from exchange_remediation import media_source as _source  # noqa: E402


def exchange_media_input_problems(items: Any, source: Any, dest_dir: Any, sha256: Any = None) -> list[str]:
    """Every problem of the role's inputs, each naming its variable (empty when all is well)."""
    return _source.input_problems(items, source, dest_dir, sha256)


def exchange_media_resolve(items: Any, source: Any, dest_dir: Any, sha256: Any = None,
                           require_sha256: bool = True) -> list[dict[str, Any]]:
    """Each media item with its source, staged path, expected SHA-256 and any refusal."""
    try:
        resolved = _source.resolve_media(items, source, dest_dir, sha256, bool(require_sha256))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc
    return [entry.as_dict() for entry in resolved]


def _results(registered: Any) -> list[Mapping[str, Any]]:
    if isinstance(registered, Mapping):
        registered = registered.get("results", [])
    if not isinstance(registered, Sequence) or isinstance(registered, str):
        return []
    return [result for result in registered if isinstance(result, Mapping)]


def exchange_media_stat_map(registered: Any, previous: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """win_stat loop results -> {staged path (case-folded): {exists, isdir, checksum}}, over ``previous``."""
    stats: dict[str, dict[str, Any]] = {key: dict(value) for key, value in (previous or {}).items()}
    for result in _results(registered):
        item = result.get("item")
        stat = result.get("stat")
        if result.get("skipped") or not isinstance(item, Mapping) or not isinstance(stat, Mapping):
            continue
        stats[_signature.path_key(item)] = {
            "exists": bool(stat.get("exists")),
            "isdir": bool(stat.get("isdir")),
            "checksum": stat.get("checksum"),
        }
    return stats


def exchange_media_to_stage(resolved: Sequence[Mapping[str, Any]],
                           stats: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Items to copy or download (missing, or present with another hash); each once per staged path."""
    return _source.pending_media(resolved, stats)


def exchange_media_folders(pending: Sequence[Mapping[str, Any]]) -> list[str]:
    """Folders to create on the server before staging."""
    return _source.staging_folders(pending)


def exchange_media_error_map(registered: Any, previous: Mapping[str, str] | None = None) -> dict[str, str]:
    """Copy/download loop results (run with ignore_errors) -> {staged path: why it failed}."""
    errors = dict(previous or {})
    for result in _results(registered):
        item = result.get("item")
        if not isinstance(item, Mapping) or result.get("skipped"):
            continue
        if result.get("failed") or result.get("unreachable"):
            errors[_signature.path_key(item)] = _signature.one_line(result.get("msg") or "no message returned")
    return errors


def exchange_media_signature_targets(resolved: Sequence[Mapping[str, Any]],
                                     stats: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """{files: [...], images: [...]}: the paths whose signature Get-MediaSignature.ps1 reads."""
    return _signature.signature_targets(resolved, stats)


def exchange_media_verdict(resolved: Sequence[Mapping[str, Any]], stats: Mapping[str, Mapping[str, Any]],
                           signatures: Any, signers: Sequence[str] | None = None,
                           stage_errors: Mapping[str, str] | None = None,
                           pending: Sequence[Mapping[str, Any]] | None = None,
                           check_mode: bool = False) -> dict[str, Any]:
    """{verified: {id: {path, sha256, signature_status, signer, ...}}, failures: [one line per item]}."""
    return _signature.verify_media(
        resolved,
        stats,
        signatures,
        tuple(signers) if signers else _signature.MICROSOFT_ROOTS,
        stage_errors or {},
        pending or (),
        bool(check_mode),
    ).as_dict()


def exchange_media_stopped(resolved: Any, task: Any, message: Any) -> list[str]:
    """Failure lines when staging or verification stopped in a task: no item counts as verified."""
    return _signature.stopped_failures(resolved if isinstance(resolved, Sequence) else [], str(task), message)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "exchange_media_input_problems": exchange_media_input_problems,
            "exchange_media_resolve": exchange_media_resolve,
            "exchange_media_stat_map": exchange_media_stat_map,
            "exchange_media_to_stage": exchange_media_to_stage,
            "exchange_media_folders": exchange_media_folders,
            "exchange_media_error_map": exchange_media_error_map,
            "exchange_media_signature_targets": exchange_media_signature_targets,
            "exchange_media_verdict": exchange_media_verdict,
            "exchange_media_stopped": exchange_media_stopped,
        }
