"""Tests of media_signature.py (may a staged installer run?) and of the read-only PowerShell script that
reports what the decision needs (roles/exchange_media/files/Get-MediaSignature.ps1).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from check_powershell import read_script, syntax_errors

from exchange_remediation.media_signature import (
    MICROSOFT_ROOTS,
    common_name,
    distinguished_name,
    judge_signature,
    one_line,
    signature_targets,
    stopped_failures,
    verify_media,
)
from exchange_remediation.media_source import resolve_media

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles" / "exchange_media" / "files" / "Get-MediaSignature.ps1"

ROOT_2010 = "CN=Microsoft Root Certificate Authority 2010, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"
ROOT_2011 = "CN=Microsoft Root Certificate Authority 2011, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"
SIGNER = "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"
PATH = "C:\\ExchangeMedia\\Exchange2019\\CU15\\Exchange2019-KB0000001-x64-en.msp"
FILE = "Exchange2019-KB0000001-x64-en.msp"
# Made-up hashes for the tests; they name no real Microsoft file.
HASH_A = "ab" * 32
HASH_B = "cd" * 32


def _observed(status="Valid", root=ROOT_2011, **extra):
    return {"path": PATH, "exists": True, "checked_path": PATH, "status": status, "signer_subject": SIGNER,
            "root_subject": root, "error": None, **extra}


# =========================================================================== names


def test_distinguished_names_split_like_dotnet_prints_them():
    assert distinguished_name(ROOT_2011)[:2] == [("CN", "Microsoft Root Certificate Authority 2011"),
                                                 ("O", "Microsoft Corporation")]
    assert distinguished_name('CN="Contoso, Ltd", O=Contoso') == [("CN", "Contoso, Ltd"), ("O", "Contoso")]
    assert distinguished_name('CN="say ""hi""", C=US') == [("CN", 'say "hi"'), ("C", "US")]
    assert distinguished_name("CN=Contoso\\, Ltd, C=US") == [("CN", "Contoso, Ltd"), ("C", "US")]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (ROOT_2010, "Microsoft Root Certificate Authority 2010"),
        ("O=Microsoft Corporation, CN=Microsoft Root Certificate Authority 2011",
         "Microsoft Root Certificate Authority 2011"),
        ("OID.2.5.4.3=Some Root, O=X", "Some Root"),
        ("O=No Common Name", None),
        ("", None),
        (None, None),
    ],
)
def test_common_name(subject, expected):
    assert common_name(subject) == expected


# =========================================================================== one signature


@pytest.mark.parametrize("root", [ROOT_2010, ROOT_2011])
def test_valid_and_a_microsoft_root_is_trusted(root):
    verdict = judge_signature(FILE, PATH, _observed(root=root), MICROSOFT_ROOTS)
    assert verdict.trusted and verdict.reason is None
    assert (verdict.status, verdict.signer, verdict.root) == ("Valid", SIGNER, root)


def test_root_names_compare_without_case_or_spacing():
    root = "CN=microsoft  root certificate authority 2011, O=Microsoft Corporation"
    assert judge_signature(FILE, PATH, _observed(root=root), MICROSOFT_ROOTS).trusted


def test_valid_with_another_root_is_not_microsoft():
    verdict = judge_signature(FILE, PATH, _observed(root="CN=Contoso Root CA, DC=contoso, DC=local"), MICROSOFT_ROOTS)
    assert not verdict.trusted
    assert verdict.reason == (
        "Exchange2019-KB0000001-x64-en.msp: not signed by Microsoft (status Valid, chain root 'Contoso Root CA' is "
        "not one of: Microsoft Root Certificate Authority 2010, Microsoft Root Certificate Authority 2011)"
    )


def test_a_root_that_only_contains_the_microsoft_name_is_not_microsoft():
    spoof = "CN=Microsoft Root Certificate Authority 2011 (test), O=Fabrikam"
    assert not judge_signature(FILE, PATH, _observed(root=spoof), MICROSOFT_ROOTS).trusted
    spoof_org = "CN=Fabrikam Root, O=Microsoft Root Certificate Authority 2011"
    assert not judge_signature(FILE, PATH, _observed(root=spoof_org), MICROSOFT_ROOTS).trusted


def test_valid_without_a_chain_root_is_not_trusted():
    verdict = judge_signature(FILE, PATH, _observed(root=None), MICROSOFT_ROOTS)
    assert not verdict.trusted and "chain root unknown" in verdict.reason


@pytest.mark.parametrize(
    "status", ["HashMismatch", "NotSigned", "UnknownError", "NotTrusted", "NotSupportedFileFormat"]
)
def test_any_status_but_valid_is_refused(status):
    verdict = judge_signature(FILE, PATH, _observed(status=status), MICROSOFT_ROOTS)
    assert not verdict.trusted and verdict.status == status
    assert verdict.reason == f"Exchange2019-KB0000001-x64-en.msp: not signed by Microsoft (status {status})"


def test_a_missing_file_is_reported_as_missing():
    verdict = judge_signature(FILE, PATH, {"path": PATH, "exists": False}, MICROSOFT_ROOTS)
    assert not verdict.trusted and verdict.reason == f"{FILE}: missing at {PATH}"


def test_no_observation_is_not_a_pass():
    verdict = judge_signature(FILE, PATH, None, MICROSOFT_ROOTS)
    assert not verdict.trusted and verdict.reason == f"{FILE}: signature not checked (no result for {PATH})"


def test_an_unreadable_signature_reports_the_error_on_one_line():
    observed = {"path": PATH, "exists": True, "status": None, "error": "Access is denied.\r\n  At line:1"}
    verdict = judge_signature(FILE, PATH, observed, MICROSOFT_ROOTS)
    assert verdict.reason == f"{FILE}: signature could not be read: Access is denied. At line:1"


def test_an_image_names_the_file_checked_inside_it():
    iso = "ExchangeServer2019-x64-CU15.ISO"
    observed = _observed(status="HashMismatch", checked_path="E:\\Setup.exe")
    verdict = judge_signature(iso, "C:\\M\\" + iso, observed, MICROSOFT_ROOTS, image=True)
    assert verdict.reason == f"{iso}: not signed by Microsoft (status HashMismatch, checked E:\\Setup.exe in the image)"
    unmounted = {"path": "C:\\M\\" + iso, "exists": True, "status": None,
                 "error": "the mounted image has no drive letter"}
    assert judge_signature(iso, "C:\\M\\" + iso, unmounted, MICROSOFT_ROOTS, image=True).reason == (
        f"{iso}: signature could not be read, checked Setup.exe in the image: the mounted image has no drive letter"
    )


def test_other_signers_can_be_configured():
    contoso = "CN=Contoso Root CA, DC=contoso, DC=local"
    assert judge_signature(FILE, PATH, _observed(root=contoso), ["Contoso Root CA"]).trusted
    assert not judge_signature(FILE, PATH, _observed(root=ROOT_2011), ["Contoso Root CA"]).trusted


def test_one_line_flattens_and_shortens():
    assert one_line("a\r\n  b\tc") == "a b c"
    assert one_line("x" * 400) == "x" * 297 + "..."
    assert one_line(None) == ""


# =========================================================================== the verdict over a server's items


def _items():
    return [
        {"id": "iso", "kind": "cu_iso", "file": "ExchangeServer2019-x64-CU15.ISO",
         "relative_path": "Exchange2019/CU15/ExchangeServer2019-x64-CU15.ISO", "sha256": HASH_A},
        {"id": "su", "kind": "su_msp", "file": FILE, "relative_path": "Exchange2019/CU15/" + FILE, "sha256": HASH_B},
        {"id": "ucma", "kind": "prerequisite", "file": "UcmaRuntimeSetup.exe",
         "relative_path": "Prerequisites/UcmaRuntimeSetup.exe", "sha256": HASH_A},
        {"id": "nohash", "kind": "prerequisite", "file": "vcredist_x64.exe",
         "relative_path": "Prerequisites/vcredist_x64.exe", "sha256": None},
    ]


def _resolved(source=None, require=True, items=None):
    source = source or {"type": "unc", "location": "\\\\fs01\\media"}
    return [entry.as_dict() for entry in resolve_media(items or _items(), source, "C:\\M", {}, require)]


def _paths(resolved):
    return {entry["id"]: entry["path"] for entry in resolved}


def test_signature_targets_are_the_files_that_passed_the_hash_check():
    resolved = _resolved()
    paths = _paths(resolved)
    stats = {
        paths["iso"].casefold(): {"exists": True, "checksum": HASH_A},
        paths["su"].upper().casefold(): {"exists": True, "checksum": HASH_B.upper()},
        paths["ucma"].casefold(): {"exists": True, "checksum": HASH_B},  # wrong hash: not read
    }
    assert signature_targets(resolved, stats) == {"files": [paths["su"]], "images": [paths["iso"]]}


def test_verify_media_over_every_outcome():
    resolved = _resolved()
    paths = _paths(resolved)
    stats = {
        paths["iso"].casefold(): {"exists": True, "isdir": False, "checksum": HASH_A},
        paths["su"].casefold(): {"exists": True, "isdir": False, "checksum": HASH_B},
        paths["ucma"].casefold(): {"exists": True, "isdir": False, "checksum": HASH_B},
    }
    signatures = {"files": [
        _observed(path=paths["su"]),
        _observed(path=paths["iso"].upper(), status="NotSigned", checked_path="E:\\Setup.exe"),
    ]}
    outcome = verify_media(resolved, stats, signatures)
    assert outcome.verified == {
        "su": {"path": paths["su"], "file": FILE, "kind": "su_msp", "sha256": HASH_B, "sha256_source": "data",
               "signature_status": "Valid", "signer": SIGNER, "root": ROOT_2011},
    }
    assert outcome.failures == [
        "ExchangeServer2019-x64-CU15.ISO: not signed by Microsoft "
        "(status NotSigned, checked E:\\Setup.exe in the image)",
        f"UcmaRuntimeSetup.exe: SHA-256 mismatch (expected {HASH_A}, got {HASH_B})",
        "vcredist_x64.exe: no SHA-256 known: set exchange_media_sha256['Prerequisites/vcredist_x64.exe']",
    ]
    assert outcome.as_dict() == {"verified": outcome.verified, "failures": outcome.failures}


def test_verify_media_missing_files_and_folders():
    resolved = _resolved()
    paths = _paths(resolved)
    stats = {paths["iso"].casefold(): {"exists": False}, paths["su"].casefold(): {"exists": True, "isdir": True}}
    outcome = verify_media(resolved[:3], stats, [])
    assert outcome.verified == {}
    assert outcome.failures == [
        f"ExchangeServer2019-x64-CU15.ISO: missing at {paths['iso']}",
        f"{FILE}: missing at {paths['su']} (a folder has that name)",
        f"UcmaRuntimeSetup.exe: missing at {paths['ucma']}",
    ]


def test_verify_media_names_the_failed_copy_or_download():
    for source, verb, where in (
        ({"type": "unc", "location": "\\\\fs01\\media"}, "copy from", "\\\\fs01\\media\\Exchange2019\\CU15\\" + FILE),
        ({"type": "http", "location": "https://mirror.example/x"}, "download from",
         "https://mirror.example/x/Exchange2019/CU15/" + FILE),
    ):
        resolved = _resolved(source)
        errors = {_paths(resolved)["su"].casefold(): "The remote server returned an error: (404) Not Found."}
        outcome = verify_media(resolved[1:2], {}, [], stage_errors=errors)
        assert outcome.failures == [
            f"{FILE}: {verb} {where} failed: The remote server returned an error: (404) Not Found."
        ]


def test_verify_media_under_check_mode_says_what_would_be_copied():
    resolved = _resolved()
    su = resolved[1]
    outcome = verify_media([su], {}, [], pending=[su], check_mode=True)
    assert outcome.failures == [f"{FILE}: missing at {su['path']} (check mode: not copied from {su['source']})"]
    # Without --check the same item is plainly missing.
    assert verify_media([su], {}, [], pending=[su]).failures == [f"{FILE}: missing at {su['path']}"]


def test_an_item_the_plan_marks_unsigned_needs_only_its_hash():
    item = {**_items()[2], "signed_by_microsoft": False}
    (entry,) = _resolved(items=[item])
    stats = {entry["path"].casefold(): {"exists": True, "checksum": HASH_A}}
    outcome = verify_media([entry], stats, [_observed(path=entry["path"], status="NotSigned", root=None)])
    assert outcome.failures == [] and outcome.verified["ucma"]["signature_status"] == "NotSigned"


def test_without_a_required_hash_the_signature_still_decides():
    (entry,) = _resolved(require=False, items=[_items()[3]])
    assert entry["refused"] is None
    stats = {entry["path"].casefold(): {"exists": True, "checksum": HASH_B}}
    trusted = verify_media([entry], stats, [_observed(path=entry["path"])])
    assert trusted.verified["nohash"]["sha256"] == HASH_B and trusted.verified["nohash"]["sha256_source"] == "none"
    refused = verify_media([entry], stats, [_observed(path=entry["path"], status="NotSigned")])
    assert refused.failures == ["vcredist_x64.exe: not signed by Microsoft (status NotSigned)"]


def test_stopped_failures_name_every_file_once():
    resolved = _resolved()
    lines = stopped_failures(resolved + resolved[:1], "Read the SHA-256", "WinRM\r\nerror")
    assert lines[0] == ("ExchangeServer2019-x64-CU15.ISO: not verified: stopped in task 'Read the SHA-256': "
                        "WinRM error")
    assert len(lines) == 4
    assert stopped_failures([], "t", "m") == ["media not verified: stopped in task 't': m"]


# =========================================================================== Get-MediaSignature.ps1


def _script() -> str:
    return read_script(SCRIPT)


def _code() -> str:
    """The script without comment-based help and line comments (strings are kept)."""
    text = re.sub(r"<#.*?#>", "", _script(), flags=re.S)
    return re.sub(r"(?m)^\s*#.*$", "", text)


def test_script_is_utf8_with_bom_and_parses():
    raw = SCRIPT.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"\n") and b"\r" not in raw
    assert syntax_errors(_script()) == []
    assert not re.search(r"[\u2018\u2019\u201c\u201d]", _script()), "no curly quotes"
    assert re.match(r"\s*<#.*?\.SYNOPSIS.*?\.DESCRIPTION.*?#>", _script(), re.S)


def test_script_is_read_only_and_says_so():
    code = _code()
    assert re.search(r"^Set-StrictMode -Version 2\s*$", code, re.M)
    assert re.search(r"^\s*\$Ansible\.Changed = \$false\s*$", code, re.M)
    assert re.search(r"^\s*\$Ansible\.Result = \$result\s*$", code, re.M)
    assert "SupportsShouldProcess" not in code
    # Verb-Noun words outside single-quoted strings (the result's 'collector' name is one).
    commands = set(re.findall(r"\b([A-Z][a-z]+-[A-Z][A-Za-z]+)\b", re.sub(r"'[^'\n]*'", "''", code)))
    own = set(re.findall(r"^function ([\w-]+) \{", code, re.M))
    allowed = {"Get-Variable", "Get-AuthenticodeSignature", "Get-DiskImage", "Get-Volume", "Select-Object",
               "Test-Path", "Join-Path", "Start-Sleep", "New-Object", "Set-StrictMode", "Mount-DiskImage",
               "Dismount-DiskImage"}
    assert commands - own <= allowed, commands - own - allowed
    assert not re.search(r"Remove-|Set-Item|New-Item|Copy-Item|Move-Item|Invoke-Expression|Out-File|Set-Content", code)


def test_images_are_mounted_read_only_and_dismounted_in_finally():
    code = _code()
    (mount,) = re.findall(r"Mount-DiskImage [^\n]*", code.replace("Dismount-DiskImage", "DISMOUNT"))
    assert "-Access ReadOnly" in mount and "-StorageType ISO" in mount
    body = re.search(r"^function Get-ImageSignature \{\n(.*?)^\}", code, re.M | re.S).group(1)
    finally_block = body.split("finally {", 1)[1]
    assert "Dismount-DiskImage" in finally_block and "$mountedHere" in finally_block
    # An image that was already attached is read where it is and left attached.
    assert re.search(r"if \(-not \$image\.Attached\)", body)


def test_script_reports_what_the_decision_reads():
    code = _code()
    entry = re.search(r"^function New-SignatureEntry \{\n(.*?)^\}", code, re.M | re.S).group(1)
    for key in ("path", "exists", "checked_path", "status", "signer_subject", "root_subject", "error"):
        assert re.search(rf"^\s*{key}\s+= \$(null|Path)$", entry, re.M), key
    assert "X509Chain" in code and "ChainElements" in code
    assert "X509RevocationMode]::NoCheck" in code
    for name in ("FilePath", "ImagePath", "ImageEntry"):
        assert f"${name}" in code
    assert "'Setup.exe'" in code


def test_every_function_has_help_and_catches_its_own_errors():
    text = _script()
    functions = dict(re.findall(r"^function ([\w-]+) \{\n(.*?)^\}", text, re.M | re.S))
    assert {"Get-FileSignature", "Get-ImageSignature", "Get-CertificateChainRoot"} <= set(functions)
    for name, body in functions.items():
        assert re.match(r"\s*<#\s*\.SYNOPSIS", body), name
    for name in ("Get-FileSignature", "Get-ImageSignature"):
        assert "catch {" in functions[name], name
