"""tools/check_powershell.py: PowerShell files and inline scripts parsed with tree-sitter.

There is no PowerShell on the test machines, so a syntax error in a collector would only
show on a Windows host; these tests pin down that the tree-sitter check catches one at the
right line, that realistic valid PowerShell parses clean, and that Jinja in inline
win_powershell/win_shell scripts does not cause false errors.
"""

from __future__ import annotations

from pathlib import Path

import check_powershell as cps
import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "powershell"


def findings(*names: str) -> cps.Report:
    return cps.check_paths([FIXTURES / name for name in names], FIXTURES)


def test_realistic_collector_parses_clean() -> None:
    script = FIXTURES / "Get-ExchangeSetupInfo.ps1"
    assert script.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, as CSS-Exchange ships them
    report = findings("Get-ExchangeSetupInfo.ps1")
    assert report.findings == []
    assert report.files == 1


def test_unclosed_brace_is_reported_at_the_opening_brace() -> None:
    report = findings("unclosed_brace.ps1")
    assert [str(finding) for finding in report.findings] == [
        "unclosed_brace.ps1:3:57: syntax error near "
        "'foreach ($role in @('MailboxRole', 'ClientAccessRole')) {': missing '}' to close the '{' here"
    ]


def test_unterminated_string_is_reported_at_its_line() -> None:
    report = findings("unterminated_string.ps1")
    assert [(finding.line, finding.near) for finding in report.findings] == [
        (4, 'Write-Output "ExSetup version: $version')
    ]


def test_inline_scripts_with_jinja_parse_clean() -> None:
    report = findings("inline_tasks.yml")
    assert report.findings == []
    assert report.inline == 3  # win_powershell with Jinja, one-line and folded win_shell
    assert report.skipped_inline == 2  # executable cmd, and a script that is one Jinja lookup


def test_inline_errors_are_reported_at_their_yaml_position() -> None:
    report = findings("inline_broken.yml")
    assert [str(finding) for finding in report.findings] == [
        "inline_broken.yml:7:44: syntax error near 'if ($null -ne $setup.MsiInstallPath) {': "
        "missing '}' to close the '{' here; in the ansible.windows.win_powershell script",
        "inline_broken.yml:12:30: syntax error near 'Write-Output \"{{ exchange_build }}': "
        "in the ansible.windows.win_shell script",
    ]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("$a = {{ x }}", "$a = 'J____'"),
        ("$a = '{{ x }}'", "$a = 'J______'"),
        ('$a = "pre {{ x }} post"', '$a = "pre J______ post"'),
        ("# note {{ x }}\n$a = 1", "# note J______\n$a = 1"),
        ("{% if x %}\n$a = 1\n{% endif %}", "          \n$a = 1\n           "),
        ("$h = @'\n{{ x }}\n'@", "$h = @'\nJ______\n'@"),
        ("$a = {{ x\n }}", "$a = 'J__\n__'"),
    ],
)
def test_jinja_placeholders_keep_length_and_context(script: str, expected: str) -> None:
    neutral = cps.neutralize_jinja(script)
    assert neutral == expected
    assert [len(line) for line in neutral.split("\n")] == [len(line) for line in script.split("\n")]
    assert cps.syntax_errors(neutral) == []


def test_comment_only_and_empty_scripts_are_valid() -> None:
    assert cps.syntax_errors("") == []
    assert cps.syntax_errors("<#\n.SYNOPSIS\n    Nothing to run.\n#>\n# still nothing\n") == []


def test_known_grammar_gap_gets_a_hint() -> None:
    errors = cps.syntax_errors("Get-Service -Name MSExchangeIS, MSExchangeTransport\n")
    assert errors and "quote them" in errors[0].hint
    assert cps.syntax_errors("Get-Service -Name 'MSExchangeIS', 'MSExchangeTransport'\n") == []


def test_powershell_7_operators_are_errors_for_windows_powershell() -> None:
    errors = cps.syntax_errors("$path = $env:ExchangeInstallPath ?? 'C:\\Exchange'\n")
    assert errors and "Windows PowerShell 5.1" in errors[0].hint


def test_cli_exit_status_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert cps.main(["--root", str(FIXTURES), str(FIXTURES / "unclosed_brace.ps1")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("unclosed_brace.ps1:3:57: syntax error near")
    assert out[-1] == (
        "parsed 1 PowerShell files and 0 inline scripts (0 skipped: Jinja-only or not PowerShell): "
        "1 syntax errors"
    )
    assert cps.main(["--root", str(FIXTURES), str(FIXTURES / "Get-ExchangeSetupInfo.ps1")]) == 0


def test_repository_powershell_parses_clean() -> None:
    report = cps.check_tree(REPO)
    assert [str(finding) for finding in report.findings] == []
    shipped = [
        path
        for top in cps.POWERSHELL_DIRS
        for pattern in ("*.ps1", "*.psm1")
        for path in (REPO / top).rglob(pattern)
    ]
    assert report.files == len(shipped)
