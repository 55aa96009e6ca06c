#!/usr/bin/env python3
"""Syntax-check every PowerShell file and inline PowerShell script with tree-sitter.

There is no PowerShell on the machines that run the test suite, so the PowerShell that
this repository ships is parsed with the tree-sitter PowerShell grammar instead:

* every ``*.ps1`` / ``*.psm1`` file under ``roles/``, ``library/``, ``playbooks/`` and
  ``tools/``;
* every inline script in the task files that tools/check_task_args.py walks:
  ``ansible.windows.win_powershell`` ``script:`` and ``ansible.windows.win_shell``
  commands (unless ``executable`` names a program other than PowerShell).

Each ERROR or MISSING node of the parse tree is reported as
``path:line:col: syntax error near '...'`` (for inline scripts, the line and column in
the YAML file), and the exit status is 1 when there is any.

Inline scripts may contain Jinja (``$path = '{{ exchange_x_dir }}'``). Ansible renders
the Jinja before PowerShell ever sees the script, so the Jinja text itself must not be
parsed as PowerShell; it is replaced by a placeholder of the same length, with the same
line breaks, so positions stay exact. Where the Jinja stands in for a value (outside any
PowerShell string) the placeholder is a single-quoted string literal, which is valid
wherever a value or a command argument is; inside a PowerShell string or comment it is
plain letters, because quotes there would end the surrounding string. ``{% %}`` and
``{# #}`` blocks become spaces. A script that is nothing but one Jinja expression (for
example ``"{{ lookup('ansible.builtin.file', 'X.ps1') }}"``) has no PowerShell to parse
here and is counted as skipped; the file it loads is parsed on its own.

Known gaps of the grammar (tree-sitter-powershell 0.26), which PowerShell itself accepts;
the report adds a hint when an error looks like one of them:

* unquoted comma-separated arguments: ``-Name MSExchangeIS, MSExchangeTransport`` (quote
  them: ``-Name 'MSExchangeIS', 'MSExchangeTransport'``);
* native ``--flag=value`` arguments (quote them: ``'--flag=value'``);
* a script-level ``param()`` block after ``using namespace``/``using module`` lines;
* a script whose only statement is a ``param()`` block.

Scripts that contain only comments and whitespace are valid and are not parsed (the
grammar needs at least one statement).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import tree_sitter
import tree_sitter_powershell
import yaml
from ansible.errors import AnsibleError
from ansible.parsing.splitter import parse_kv
from check_task_args import (
    TASK_KEYWORDS,
    TaskFile,
    column_of,
    discover_task_files,
    file_tasks,
    line_of,
)

POWERSHELL_SUFFIXES = (".ps1", ".psm1")
POWERSHELL_DIRS = ("roles", "library", "playbooks", "tools")

WIN_POWERSHELL_NAMES = frozenset(
    {"ansible.windows.win_powershell", "win_powershell", "ansible.legacy.win_powershell"}
)
WIN_SHELL_NAMES = frozenset(
    {"ansible.windows.win_shell", "win_shell", "ansible.builtin.win_shell", "ansible.legacy.win_shell"}
)
POWERSHELL_EXECUTABLE = re.compile(r"(^|[\\/])(powershell|pwsh)(\.exe)?$", re.IGNORECASE)

JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)

# Openers that a MISSING closer belongs to (reported at the opener, like PowerShell does).
OPENERS: Mapping[str, tuple[str, ...]] = {
    "}": ("{", "@{", "${"),
    ")": ("(", "@(", "$("),
    "]": ("[",),
}
CLOSERS: Mapping[str, str] = {"{": "}", "@{": "}", "${": "}", "(": ")", "@(": ")", "$(": ")", "[": "]"}

SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")
DOUBLE_QUOTES = frozenset('"\u201c\u201d\u201e')

HINT_BARE_LIST = re.compile(r"\s-?[A-Za-z*][\w.*\\:-]*\s*,\s*[A-Za-z*]")
HINT_NATIVE_FLAG = re.compile(r"(^|\s)--?[A-Za-z][\w-]*=")
HINT_PS7 = re.compile(r"\?\?|\?\.|&&|\|\|")
HINT_USING = re.compile(r"^\s*using\s+(namespace|module|assembly)\b", re.IGNORECASE | re.MULTILINE)
HINT_PARAM = re.compile(r"^\s*param\s*\(", re.IGNORECASE | re.MULTILINE)

LANGUAGE = tree_sitter.Language(tree_sitter_powershell.language())


@dataclass(frozen=True)
class SyntaxFinding:
    """One syntax error, positioned in the file that holds the script."""

    path: str
    line: int
    column: int
    near: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}:{self.column}: syntax error near '{self.near}'"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass(frozen=True)
class ScriptError:
    """A syntax error in script coordinates (0-based line, 0-based character column)."""

    line: int
    column: int
    missing: str = ""  # the token tree-sitter had to invent, for MISSING nodes
    whole_line: bool = False  # quote the whole line as "near" (the error sits on an opener)
    opener: tuple[int, int, str] | None = None  # a bracket that is never closed
    hint: str = ""


@dataclass
class Report:
    findings: list[SyntaxFinding] = field(default_factory=list)
    files: int = 0
    inline: int = 0
    skipped_inline: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        return (
            f"parsed {self.files} PowerShell files and {self.inline} inline scripts "
            f"({self.skipped_inline} skipped: Jinja-only or not PowerShell): "
            f"{len(self.findings)} syntax errors"
        )


@dataclass(frozen=True)
class InlineScript:
    """A PowerShell script found in a task, with where its text starts in the YAML file."""

    path: Path
    module: str
    text: str
    value: object  # the loaded YAML value the script came from (carries its position)
    exact: bool = True  # False when ansible's k=v parsing changed the text
    skipped: str = ""  # why the script is not parsed (not PowerShell, only Jinja)


# --------------------------------------------------------------------------- lexing aid

State = Literal["code", "single", "double", "here_single", "here_double", "line_comment", "block_comment"]


def _is_comment_start(text: str, index: int) -> bool:
    return index == 0 or text[index - 1].isspace() or text[index - 1] in ";{}()|&,="


def _advance(text: str, index: int, state: State) -> tuple[int, State]:
    """Consume one lexical step of PowerShell text; returns the next index and state."""
    char = text[index]
    at_line_start = index == 0 or text[index - 1] == "\n"
    if state == "code":
        if char == "`":
            return index + 2, state
        if text.startswith("<#", index):
            return index + 2, "block_comment"
        if char == "#" and _is_comment_start(text, index):
            return index + 1, "line_comment"
        if char == "@" and index + 1 < len(text) and text[index + 1] in SINGLE_QUOTES | DOUBLE_QUOTES:
            rest = text[index + 2 :].split("\n", 1)[0]
            if not rest.strip():
                here: State = "here_single" if text[index + 1] in SINGLE_QUOTES else "here_double"
                return index + 2, here
        if char in SINGLE_QUOTES:
            return index + 1, "single"
        if char in DOUBLE_QUOTES:
            return index + 1, "double"
        return index + 1, state
    if state == "single":
        if char in SINGLE_QUOTES:
            if index + 1 < len(text) and text[index + 1] in SINGLE_QUOTES:
                return index + 2, state
            return index + 1, "code"
        return index + 1, state
    if state == "double":
        if char == "`":
            return index + 2, state
        if char in DOUBLE_QUOTES:
            if index + 1 < len(text) and text[index + 1] in DOUBLE_QUOTES:
                return index + 2, state
            return index + 1, "code"
        return index + 1, state
    if state in ("here_single", "here_double"):
        quotes = SINGLE_QUOTES if state == "here_single" else DOUBLE_QUOTES
        if at_line_start and char in quotes and text.startswith("@", index + 1):
            return index + 2, "code"
        return index + 1, state
    if state == "line_comment":
        return index + 1, ("code" if char == "\n" else state)
    # block comment
    if text.startswith("#>", index):
        return index + 2, "code"
    return index + 1, state


def code_only(text: str) -> str:
    """The text with comments blanked out (strings kept), for 'is there any code?'."""
    out: list[str] = []
    index = 0
    state: State = "code"
    while index < len(text):
        next_index, next_state = _advance(text, index, state)
        in_comment = "comment" in state or "comment" in next_state
        chunk = text[index:next_index]
        out.append("".join(ch if ch == "\n" else " " for ch in chunk) if in_comment else chunk)
        index, state = next_index, next_state
    return "".join(out)


def _placeholder(jinja: str, state: State) -> str:
    """Same-length stand-in for one Jinja span, valid PowerShell in its context."""
    if not jinja.startswith("{{"):
        return "".join("\n" if ch == "\n" else " " for ch in jinja)
    body = ["\n" if ch == "\n" else "_" for ch in jinja]
    if state == "code":
        body[0] = body[-1] = "'"  # a string literal where the Jinja stands for a value
        body[1] = "J"
    else:
        body[0] = "J"  # inside a string or comment: a word, no quotes
    return "".join(body)


def neutralize_jinja(script: str) -> str:
    """Replace Jinja by same-length PowerShell placeholders (see the module docstring)."""
    out: list[str] = []
    last = index = 0
    state: State = "code"
    for match in JINJA.finditer(script):
        # lex the PowerShell before the Jinja to know whether it sits inside a string
        while index < match.start():
            index, state = _advance(script, index, state)
        out.append(script[last : match.start()])
        out.append(_placeholder(match.group(0), state))
        last = index = max(index, match.end())
    out.append(script[last:])
    return "".join(out)


def is_jinja_only(script: str) -> bool:
    """True when the whole script is one Jinja expression (e.g. a file lookup)."""
    stripped = script.strip()
    return stripped.startswith("{{") and JINJA.fullmatch(stripped) is not None


def _jinja_only_reason(script: str) -> str:
    return "the script is one Jinja expression" if is_jinja_only(script) else ""


# --------------------------------------------------------------------------- parsing


def _char_column(line_bytes: bytes, byte_column: int) -> int:
    return len(line_bytes[:byte_column].decode("utf-8", errors="replace"))


def _position(lines: Sequence[bytes], point: tree_sitter.Point) -> tuple[int, int]:
    row, byte_column = point
    line = lines[row] if row < len(lines) else b""
    return row, _char_column(line, byte_column)


def _unclosed_opener(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """First bracket inside an ERROR node that is never closed, if any."""
    stack: list[tree_sitter.Node] = []
    pending = [node]
    while pending:
        current = pending.pop()
        if current.child_count:
            pending.extend(reversed(current.children))
        elif current.is_missing:
            continue
        elif current.type in CLOSERS:
            stack.append(current)
        elif stack and current.type == CLOSERS.get(stack[-1].type):
            stack.pop()
    return stack[0] if stack else None


def _param_block_lines(script: str) -> range:
    """Lines (0-based) of the first script-level param() block, by bracket counting."""
    match = HINT_PARAM.search(script)
    if match is None:
        return range(0)
    first = script.count("\n", 0, match.start())
    depth = 0
    for offset, char in enumerate(script[match.end() - 1 :], start=match.end() - 1):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return range(max(first - 3, 0), script.count("\n", 0, offset) + 1)
    return range(first, script.count("\n") + 1)


def _hint(script: str, text: str, line: int) -> str:
    """Why a reported error may be a known grammar gap (or PowerShell 7 syntax)."""
    if HINT_PS7.search(text):
        return "PowerShell 7 operator; Exchange servers run Windows PowerShell 5.1"
    if HINT_NATIVE_FLAG.search(text):
        return "the grammar rejects unquoted --flag=value arguments; quote them ('--flag=value')"
    if HINT_BARE_LIST.search(text):
        return (
            "the grammar rejects unquoted comma-separated arguments (-Name A, B); quote them (-Name 'A', 'B')"
        )
    if HINT_USING.search(script) and line in _param_block_lines(script):
        return "the grammar rejects a script-level param() block after 'using' statements"
    return ""


def _node_error(node: tree_sitter.Node, lines: Sequence[bytes]) -> ScriptError:
    if node.is_missing:
        token = f"'{node.type}'" if not node.is_named else node.type
        parent = node.parent
        candidates = parent.children if parent is not None else []
        opener = next((child for child in candidates if child.type in OPENERS.get(node.type, ())), None)
        if opener is not None:
            row, column = _position(lines, opener.start_point)
            return ScriptError(row, column, missing=token, whole_line=True, opener=(row, column, opener.type))
        row, column = _position(lines, node.start_point)
        return ScriptError(row, column, missing=token, whole_line=True)
    row, column = _position(lines, node.start_point)
    unclosed = _unclosed_opener(node)
    opener = None
    if unclosed is not None:
        opener = (*_position(lines, unclosed.start_point), unclosed.type)
    return ScriptError(row, column, opener=opener)


def syntax_errors(script: str) -> list[ScriptError]:
    """Every ERROR/MISSING node of the script's parse tree, first one per line."""
    if not code_only(script).strip():
        return []
    source = script.encode("utf-8")
    lines = source.split(b"\n")
    tree = tree_sitter.Parser(LANGUAGE).parse(source)
    if not tree.root_node.has_error:
        return []
    found: dict[int, ScriptError] = {}
    pending = [tree.root_node]
    while pending:
        node = pending.pop()
        if not node.is_missing and node.type != "ERROR":
            pending.extend(child for child in reversed(node.children) if child.has_error or child.is_missing)
            continue
        error = _node_error(node, lines)
        context = (lines[error.line] if error.line < len(lines) else b"") if node.is_missing else node.text
        hint = _hint(script, (context or b"").decode("utf-8", errors="replace"), error.line)
        found.setdefault(error.line, replace(error, hint=hint))
    return [found[line] for line in sorted(found)]


def near_text(script_lines: Sequence[str], error: ScriptError) -> str:
    """What the report quotes: the text from the error to the end of its line."""
    line = script_lines[error.line] if error.line < len(script_lines) else ""
    text = (line if error.whole_line else line[error.column :]).strip() or line.strip()
    if not text:
        following = (candidate.strip() for candidate in script_lines[error.line + 1 :])
        text = next((candidate for candidate in following if candidate), "")
    return text if len(text) <= 60 else text[:57] + "..."


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


Locator = Callable[[int, int], tuple[int, int]]


def findings_for(
    shown: str,
    display: str,
    errors: Iterable[ScriptError],
    locate: Locator,
    suffix: str = "",
) -> list[SyntaxFinding]:
    """Turn script errors into findings at file positions (1-based)."""
    script_lines = display.split("\n")
    findings = []
    for error in errors:
        line, column = locate(error.line, error.column)
        detail = ""
        if error.missing and error.opener:
            detail = f"missing {error.missing} to close the '{error.opener[2]}' here"
        elif error.missing:
            detail = f"missing {error.missing}"
        elif error.opener:
            opener_line, opener_column = locate(error.opener[0], error.opener[1])
            detail = f"'{error.opener[2]}' at line {opener_line}, column {opener_column} is never closed"
        near = near_text(script_lines, error)
        findings.append(SyntaxFinding(shown, line, column, near, _join(detail, error.hint, suffix)))
    return findings


def read_script(path: Path) -> str:
    """Text of a PowerShell file: UTF-8 (with or without BOM) or UTF-16 with BOM.

    Windows PowerShell 5.1 reads a BOM-less file as the ANSI code page; a file that
    is not valid UTF-8 is read as Windows-1252 for the same reason.
    """
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


# --------------------------------------------------------------------------- discovery


def discover_powershell_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for top in POWERSHELL_DIRS:
        base = root / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix.lower() not in POWERSHELL_SUFFIXES or not path.is_file():
                continue
            if any(part.startswith(".") for part in path.relative_to(base).parts[:-1]):
                continue
            found.append(path)
    return found


def _merged_args(task: Mapping[Any, Any], module_value: object) -> dict[Any, Any]:
    args: dict[Any, Any] = {}
    extra = task.get("args")
    if isinstance(extra, Mapping):
        args.update(extra)
    if isinstance(module_value, Mapping):
        args.update(module_value)
    return args


def inline_scripts(task: Mapping[Any, Any], path: Path) -> Iterator[InlineScript]:
    """PowerShell scripts of one task (``skipped`` says why one is not parsed)."""
    for key, value in task.items():
        name = str(key)
        if name in TASK_KEYWORDS:
            continue
        if name in WIN_POWERSHELL_NAMES:
            script = _merged_args(task, value).get("script")
            if isinstance(script, str):
                text = str(script)
                yield InlineScript(path, name, text, script, skipped=_jinja_only_reason(text))
        elif name in WIN_SHELL_NAMES:
            args = _merged_args(task, value)
            raw: object = value if isinstance(value, str) else args.get("_raw_params")
            if not isinstance(raw, str):
                continue
            try:
                parsed = parse_kv(raw, check_raw=True)
            except AnsibleError:
                # unbalanced quotes/Jinja: ansible rejects the task (check_task_args says so);
                # the PowerShell parse of the raw text shows where
                parsed = {"_raw_params": raw}
            args.update({k: v for k, v in parsed.items() if k != "_raw_params"})
            executable = args.get("executable")
            text = str(parsed.get("_raw_params", ""))
            skipped = _jinja_only_reason(text)
            if isinstance(executable, str) and not POWERSHELL_EXECUTABLE.search(executable.strip()):
                skipped = f"executable {executable} is not PowerShell"
            yield InlineScript(path, name, text, raw, exact=text == str(raw), skipped=skipped)


# --------------------------------------------------------------------------- positions


@dataclass(frozen=True)
class _Placement:
    """Where an inline script's text sits in its YAML file."""

    first_line: int  # 1-based file line of the script's first line
    first_column: int  # 1-based file column of the script's first character
    literal: bool  # a '|' block scalar: script line N is file line first_line + N


def _placement(script: InlineScript, file_lines: Sequence[str]) -> _Placement:
    line, column = line_of(script.value), column_of(script.value)
    row = file_lines[line - 1] if 0 < line <= len(file_lines) else ""
    indicator = row[column - 1] if 0 < column <= len(row) else ""
    if indicator and indicator in "|>":
        content = next((text for text in file_lines[line:] if text.strip()), "")
        indent = len(content) - len(content.lstrip(" "))
        return _Placement(line + 1, indent + 1, indicator == "|" and script.exact)
    quoted = 1 if indicator in ("'", '"') else 0
    single = script.exact and "\n" not in script.text.rstrip("\n")
    return _Placement(line, column + quoted, single)


def inline_locator(script: InlineScript, file_lines: Sequence[str]) -> Locator:
    """Map script (line, column) to YAML file (line, column), both 1-based on output.

    Exact for '|' block scalars and single-line values (Jinja placeholders keep every
    length); for folded ('>') and multi-line flow scalars the script text is searched
    for in the file, falling back to the line where the value starts.
    """
    place = _placement(script, file_lines)
    script_lines = script.text.split("\n")

    def locate(line: int, column: int) -> tuple[int, int]:
        if place.literal:
            return place.first_line + line, place.first_column + column
        text = script_lines[line] if line < len(script_lines) else ""
        wanted = text[column:].strip()
        for size in (len(wanted), 20, 8):
            probe = wanted[:size]
            if not probe:
                break
            for offset, file_line in enumerate(file_lines[place.first_line - 1 :]):
                found = file_line.find(probe)
                if found >= 0:
                    return place.first_line + offset, found + 1
        return place.first_line, place.first_column

    return locate


# --------------------------------------------------------------------------- the checker


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def check_script_file(path: Path, root: Path) -> list[SyntaxFinding]:
    """Syntax errors of one .ps1/.psm1 file."""
    shown = _relative(path, root)
    try:
        text = read_script(path)
    except (OSError, UnicodeDecodeError) as exc:
        return [SyntaxFinding(shown, 1, 1, "", f"cannot read: {exc}")]
    return findings_for(shown, text, syntax_errors(text), lambda line, column: (line + 1, column + 1))


def check_inline(script: InlineScript, root: Path) -> list[SyntaxFinding]:
    """Syntax errors of one inline script, positioned in its YAML file."""
    errors = syntax_errors(neutralize_jinja(script.text))
    if not errors:
        return []
    file_lines = script.path.read_text(encoding="utf-8").split("\n")
    locate = inline_locator(script, file_lines)
    suffix = f"in the {script.module} script"
    return findings_for(_relative(script.path, root), script.text, errors, locate, suffix)


def check_tree(root: Path) -> Report:
    """PowerShell files under roles/, library/, playbooks/, tools/ and inline scripts."""
    report = Report()
    for path in discover_powershell_files(root):
        report.files += 1
        report.findings.extend(check_script_file(path, root))
    _check_task_files(root, None, report)
    return report


def check_paths(paths: Iterable[Path], root: Path) -> Report:
    """Explicit .ps1/.psm1 files and YAML task files (directories are searched)."""
    report = Report()
    yaml_files: list[Path] = []
    for path in paths:
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.suffix.lower() in POWERSHELL_SUFFIXES and candidate.is_file():
                report.files += 1
                report.findings.extend(check_script_file(candidate, root))
            elif candidate.suffix in (".yml", ".yaml") and candidate.is_file():
                yaml_files.append(candidate)
    _check_task_files(root, yaml_files, report)
    return report


def _check_task_files(root: Path, files: list[Path] | None, report: Report) -> None:
    task_files = discover_task_files(root) if files is None else [TaskFile(path, "auto") for path in files]
    for task_file in task_files:
        try:
            _kind, tasks = file_tasks(task_file)
        except (OSError, yaml.YAMLError, AnsibleError, UnicodeDecodeError):
            continue  # tools/check_task_args.py reports files that do not load
        for context in tasks:
            if not isinstance(context.task, Mapping):
                continue
            for script in inline_scripts(context.task, task_file.path):
                if script.skipped:
                    report.skipped_inline += 1
                    continue
                report.inline += 1
                report.findings.extend(check_inline(script, root))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: cwd)")
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help=".ps1/.psm1 files, YAML task files or directories instead of the whole repository",
    )
    options = parser.parse_args(argv)
    report = check_paths(options.paths, options.root) if options.paths else check_tree(options.root)
    for finding in report.findings:
        print(finding)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
