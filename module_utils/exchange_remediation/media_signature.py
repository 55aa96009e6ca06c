"""May a staged installer run? Its SHA-256 and its Authenticode signature decide (patch-procedure §1).

The server only reports what it sees (files/Get-MediaSignature.ps1 of role exchange_media: the
status of Get-AuthenticodeSignature, the signer's subject, and the subject of the chain's root
built with X509Chain). This module decides: an item is verified when the file is there, its
SHA-256 equals the expected one (when one is known), and its signature status is ``Valid`` with a
chain that ends in one of the accepted roots — by default "Microsoft Root Certificate Authority
2010" or "... 2011" (mitigations.md §5). Status ``Valid`` alone is not enough: any code-signing
certificate trusted by the server gives it, Microsoft's or not.

Everything else becomes one line naming the file, for exchange_media_failures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .media_source import mismatch_message, missing_message

MICROSOFT_ROOTS = (
    "Microsoft Root Certificate Authority 2010",
    "Microsoft Root Certificate Authority 2011",
)

# Get-AuthenticodeSignature's only status that means "signed, intact and trusted here".
VALID = "Valid"

# Longest piece of a module or script error quoted in a failure line.
_DETAIL_LIMIT = 300


def one_line(text: Any, limit: int = _DETAIL_LIMIT) -> str:
    """A message on one line, shortened: failure lines are shown in reports as they are."""
    flat = re.sub(r"\s+", " ", str(text if text is not None else "")).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def distinguished_name(subject: str) -> list[tuple[str, str]]:
    """Split an X.500 name as .NET prints it ('CN=a, O="b, c", C=US') into (attribute, value) pairs."""
    pairs: list[tuple[str, str]] = []
    index, size = 0, len(subject)
    while index < size:
        while index < size and subject[index] in " ,;+":
            index += 1
        start = index
        while index < size and subject[index] != "=":
            index += 1
        if index >= size:
            break
        attribute = subject[start:index].strip()
        index += 1
        while index < size and subject[index] == " ":
            index += 1
        value_chars: list[str] = []
        if index < size and subject[index] == '"':
            index += 1
            while index < size:
                char = subject[index]
                if char == '"':
                    # "" inside a quoted value is one quote character.
                    if index + 1 < size and subject[index + 1] == '"':
                        value_chars.append('"')
                        index += 2
                        continue
                    index += 1
                    break
                value_chars.append(char)
                index += 1
            while index < size and subject[index] not in ",;+":
                index += 1
        else:
            while index < size and subject[index] not in ",;+":
                if subject[index] == "\\" and index + 1 < size:
                    value_chars.append(subject[index + 1])
                    index += 2
                    continue
                value_chars.append(subject[index])
                index += 1
        pairs.append((attribute, "".join(value_chars).strip()))
    return pairs


def common_name(subject: Any) -> str | None:
    """The CN of a certificate subject, or None."""
    if not isinstance(subject, str):
        return None
    for attribute, value in distinguished_name(subject):
        if attribute.upper() in ("CN", "OID.2.5.4.3", "2.5.4.3") and value:
            return value
    return None


def _folded(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()


@dataclass(frozen=True)
class SignatureVerdict:
    trusted: bool
    status: str | None  # Get-AuthenticodeSignature's Status, as reported
    signer: str | None  # the signer certificate's subject
    root: str | None  # the chain root's subject
    reason: str | None  # why not trusted (one line naming the file), None when trusted


def judge_signature(file_name: str, path: str, observed: Mapping[str, Any] | None, signers: Sequence[str],
                    image: bool = False) -> SignatureVerdict:
    """Decide from what the server reported whether the file is signed by one of the accepted roots."""
    if not observed:
        return SignatureVerdict(False, None, None, None, f"{file_name}: signature not checked (no result for {path})")
    if observed.get("exists") is False:
        return SignatureVerdict(False, None, None, None, missing_message(file_name, path))
    status = observed.get("status")
    status = str(status).strip() if status not in (None, "") else None
    signer = observed.get("signer_subject") or None
    root = observed.get("root_subject") or None
    inside = ""
    if image:
        checked = observed.get("checked_path") or "Setup.exe"
        inside = f", checked {checked} in the image"
    error = observed.get("error")
    if error and status is None:
        return SignatureVerdict(
            False, None, signer, root, f"{file_name}: signature could not be read{inside}: {one_line(error)}"
        )
    if status != VALID:
        return SignatureVerdict(
            False, status, signer, root, f"{file_name}: not signed by Microsoft (status {status or 'unknown'}{inside})"
        )
    root_name = common_name(root)
    accepted = {_folded(name) for name in signers}
    if root_name is None or _folded(root_name) not in accepted:
        shown = f"chain root {root_name!r}" if root_name else "chain root unknown"
        return SignatureVerdict(
            False,
            status,
            signer,
            root,
            f"{file_name}: not signed by Microsoft (status {status}, {shown} is not one of: "
            f"{', '.join(signers)}{inside})",
        )
    return SignatureVerdict(True, status, signer, root, None)


# --------------------------------------------------------------------------- the verdict


@dataclass
class MediaVerification:
    """exchange_media_verified (id -> details) and exchange_media_failures (one line each)."""

    verified: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"verified": self.verified, "failures": self.failures}


def _by_path(signatures: Any) -> dict[str, Mapping[str, Any]]:
    entries = signatures.get("files", []) if isinstance(signatures, Mapping) else signatures
    found: dict[str, Mapping[str, Any]] = {}
    for entry in entries or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
            found[entry["path"].casefold()] = entry
    return found


def hash_failure(entry: Mapping[str, Any], stat: Mapping[str, Any] | None) -> str | None:
    """Why a staged file is not there or not the expected one, or None."""
    if not stat or not stat.get("exists"):
        return missing_message(entry["file"], entry["path"])
    if stat.get("isdir"):
        return f"{entry['file']}: missing at {entry['path']} (a folder has that name)"
    expected = entry.get("sha256")
    actual = str(stat.get("checksum") or "").strip().lower()
    if expected and actual != expected:
        return mismatch_message(entry["file"], expected, actual or "no checksum")
    return None


def path_key(entry: Mapping[str, Any]) -> str:
    """Stats, staging errors and signatures are keyed by the staged path (case-insensitive, like Windows)."""
    return str(entry["path"]).casefold()


def signature_targets(resolved: Sequence[Mapping[str, Any]],
                      stats: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Paths whose signature the server must read: files with a passing hash check.

    ``files`` are read directly (.msp, .msi, .exe); ``images`` are mounted read-only and their
    Setup.exe is read. A file that is missing or has the wrong hash is already refused, so it is
    neither read again nor mounted.
    """
    files: dict[str, str] = {}
    images: dict[str, str] = {}
    for entry in resolved:
        if entry.get("refused") or hash_failure(entry, stats.get(path_key(entry))):
            continue
        target = images if entry.get("image") else files
        target.setdefault(str(entry["path"]).casefold(), str(entry["path"]))
    return {"files": list(files.values()), "images": list(images.values())}


def verify_media(
    resolved: Sequence[Mapping[str, Any]],
    stats: Mapping[str, Mapping[str, Any]],
    signatures: Any,
    signers: Sequence[str] = MICROSOFT_ROOTS,
    stage_errors: Mapping[str, str] | None = None,
    pending: Sequence[Mapping[str, Any]] = (),
    check_mode: bool = False,
) -> MediaVerification:
    """The verdict over every item: refused, staging failed, missing, wrong hash, or signature.

    ``stats`` maps the staged path (see path_key) to what ansible.windows.win_stat returned
    (exists, isdir, checksum); ``signatures`` is the result of Get-MediaSignature.ps1;
    ``stage_errors`` maps the staged path to why its copy or download failed. Under check mode
    nothing was copied, so a file that would have been says so instead of only "missing".
    """
    outcome = MediaVerification()
    observed = _by_path(signatures)
    errors = stage_errors or {}
    would_stage = {path_key(entry) for entry in pending} if check_mode else set()
    for entry in resolved:
        item_id = str(entry["id"])
        if entry.get("refused"):
            outcome.failures.append(str(entry["refused"]))
            continue
        key = path_key(entry)
        if key in errors:
            verb = "download from" if entry.get("source_type") == "http" else "copy from"
            outcome.failures.append(f"{entry['file']}: {verb} {entry['source']} failed: {one_line(errors[key])}")
            continue
        stat = stats.get(key)
        problem = hash_failure(entry, stat)
        if problem:
            if key in would_stage:
                problem += f" (check mode: not copied from {entry['source']})"
            outcome.failures.append(problem)
            continue
        verdict = judge_signature(entry["file"], entry["path"], observed.get(key), signers,
                                  bool(entry.get("image")))
        if not verdict.trusted and entry.get("signature_required", True):
            outcome.failures.append(str(verdict.reason))
            continue
        actual = str((stat or {}).get("checksum") or "").strip().lower()
        outcome.verified[item_id] = {
            "path": entry["path"],
            "file": entry["file"],
            "kind": entry.get("kind"),
            "sha256": actual or entry.get("sha256"),
            "sha256_source": entry.get("sha256_source"),
            "signature_status": verdict.status,
            "signer": verdict.signer,
            "root": verdict.root,
        }
    return outcome


def stopped_failures(resolved: Sequence[Mapping[str, Any]], task: str, message: Any) -> list[str]:
    """One line per file when the run stopped in a task before the verdict (nothing is verified)."""
    detail = f"not verified: stopped in task '{one_line(task, 120)}': {one_line(message)}"
    files: dict[str, str] = {}
    for entry in resolved:
        if isinstance(entry, Mapping) and entry.get("file"):
            files.setdefault(str(entry["file"]).casefold(), str(entry["file"]))
    if not files:
        return [f"media {detail}"]
    return [f"{file_name}: {detail}" for file_name in files.values()]
