"""Where a server's files are, and where their copies sit in an evidence bundle.

Rules name Windows paths with tokens (<EX>, <SYS>, <WWW>, <IISLOG>, <WINDIR>, <PROGRAMDATA>) and
globs (hunt-spec section 1). A bundle keeps a copy of C:\\x\\y as files/C/x/y. Windows paths are
case-insensitive, so matching is too, at every component, whatever case the copy was written in.
The bundle is read once into an index; every glob is then matched in memory. Symbolic links are
never followed out of the bundle: a link to a folder is not entered at all (no loops), a link to a
file counts only when its target is a regular file inside the bundle.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FILES_DIR = "files"

DEFAULT_SYSTEM_DRIVE = "C:"
DEFAULT_EXCHANGE_V15 = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"
DEFAULT_EXCHANGE_V14 = "C:\\Program Files\\Microsoft\\Exchange Server\\V14\\"

TOKENS = ("<EX>", "<SYS>", "<WWW>", "<IISLOG>", "<WINDIR>", "<PROGRAMDATA>")

_DRIVE = re.compile(r"^([A-Za-z]):(?:[\\/]|$)")
_MAJOR = re.compile(r"^\s*(\d+)\.")


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _folder(path: str) -> str:
    """A folder path without a trailing backslash ('C:' stays 'C:')."""
    return normalise_windows_path(path).rstrip("\\")


def normalise_windows_path(path: str) -> str:
    """Forward slashes to backslashes, repeated separators collapsed, drive letter upper-case."""
    text = path.replace("/", "\\")
    prefix = ""
    if text.startswith("\\\\?\\"):
        text = text[4:]
    elif text.startswith("\\\\"):
        prefix, text = "\\\\", text[2:]
    text = re.sub(r"\\{2,}", r"\\", text)
    drive = _DRIVE.match(text)
    if drive:
        text = drive.group(1).upper() + text[1:]
    return prefix + text


@dataclass(frozen=True)
class ServerPaths:
    """The folders behind the path tokens of one server (None = the documented default)."""

    exchange: str | None
    system_drive: str = DEFAULT_SYSTEM_DRIVE
    www: str | None = None
    iis_logs: str | None = None
    windir: str | None = None
    programdata: str | None = None
    major: int | None = None

    @classmethod
    def from_server(cls, server: Mapping[str, Any] | None) -> ServerPaths:
        """server.json as a dict (or None, a damaged one): install path and build major, else defaults."""
        exchange: Mapping[str, Any] = {}
        if isinstance(server, Mapping) and isinstance(server.get("exchange"), Mapping):
            exchange = server["exchange"]
        major = None
        version = exchange.get("exsetup_version")
        if isinstance(version, str) and _MAJOR.match(version):
            major = int(_MAJOR.match(version).group(1))  # type: ignore[union-attr]
        install = _text(exchange.get("install_path"))
        system_drive = DEFAULT_SYSTEM_DRIVE
        if install and _DRIVE.match(install):
            # Exchange lives on the system drive unless told otherwise; a D:\ install (ex19-dag3)
            # does not move inetpub, so the system drive stays C:.
            install = normalise_windows_path(install)
        return cls(exchange=install, system_drive=system_drive, major=major)

    def with_tokens(self, tokens: Mapping[str, Any] | None) -> ServerPaths:
        """The values a live collector resolved on the server (collection.json 'tokens') win."""
        if not isinstance(tokens, Mapping):
            return self
        values = {name: _text(tokens.get(name)) for name in TOKENS}
        return ServerPaths(
            exchange=values["<EX>"] or self.exchange,
            system_drive=_folder(values["<SYS>"]) if values["<SYS>"] else self.system_drive,
            www=values["<WWW>"] or self.www,
            iis_logs=values["<IISLOG>"] or self.iis_logs,
            windir=values["<WINDIR>"] or self.windir,
            programdata=values["<PROGRAMDATA>"] or self.programdata,
            major=self.major,
        )

    def tokens(self) -> dict[str, str]:
        system = _folder(self.system_drive or DEFAULT_SYSTEM_DRIVE)
        default_exchange = DEFAULT_EXCHANGE_V14 if self.major == 14 else DEFAULT_EXCHANGE_V15
        exchange = normalise_windows_path(self.exchange or default_exchange).rstrip("\\") + "\\"
        return {
            "<EX>": exchange,
            "<SYS>": system,
            "<WWW>": _folder(self.www) if self.www else f"{system}\\inetpub\\wwwroot",
            "<IISLOG>": _folder(self.iis_logs) if self.iis_logs else f"{system}\\inetpub\\logs\\LogFiles",
            "<WINDIR>": _folder(self.windir) if self.windir else f"{system}\\Windows",
            "<PROGRAMDATA>": _folder(self.programdata) if self.programdata else f"{system}\\ProgramData",
        }


def expand_tokens(text: str, tokens: Mapping[str, str]) -> str:
    """Replace every token; tokens are matched case-insensitively (<ex> is <EX>)."""
    if "<" not in text:
        return text
    for name, value in tokens.items():
        if name in text:
            text = text.replace(name, value)
        elif name.lower() in text.lower():
            text = re.sub(re.escape(name), lambda _match, value=value: value, text, flags=re.IGNORECASE)
    return text


def windows_to_bundle(windows_path: str) -> str | None:
    """'C:\\inetpub\\x.aspx' -> 'files/C/inetpub/x.aspx'; None for a path not on a drive letter or with '..'."""
    text = normalise_windows_path(windows_path)
    drive = _DRIVE.match(text)
    if not drive:
        return None
    parts = [part for part in text[2:].split("\\") if part]
    if any(part in (".", "..") for part in parts):
        return None
    return "/".join([FILES_DIR, drive.group(1).upper(), *parts])


def bundle_to_windows(relative: str) -> str | None:
    """'files/C/inetpub/x.aspx' -> 'C:\\inetpub\\x.aspx'; None when the path is not under files/<Drive>/."""
    parts = [part for part in relative.replace("\\", "/").split("/") if part]
    if len(parts) < 2 or parts[0].lower() != FILES_DIR or not re.fullmatch(r"[A-Za-z]", parts[1]):
        return None
    return "\\".join([f"{parts[1].upper()}:", *parts[2:]]) if len(parts) > 2 else f"{parts[1].upper()}:\\"


@functools.lru_cache(maxsize=4096)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A Windows glob (tokens already expanded) as a case-insensitive regex over whole Windows paths.

    '*' and '?' stay within one component, '**' spans any number of components (also none), and a
    trailing backslash names everything below a folder.
    """
    text = normalise_windows_path(pattern)
    if text.endswith("\\"):
        text += "**"
    parts = text.split("\\")
    out: list[str] = []
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if part == "**":
            out.append(".*" if last else r"(?:[^\\]*\\)*")
            continue
        piece = "".join(r"[^\\]*" if char == "*" else r"[^\\]" if char == "?" else re.escape(char) for char in part)
        out.append(piece if last else piece + r"\\")
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


@functools.lru_cache(maxsize=4096)
def glob_folder(pattern: str) -> str:
    """The part of a glob before its first wildcard component: the folder that must exist."""
    text = normalise_windows_path(pattern)
    if text.endswith("\\"):
        text += "**"
    folder: list[str] = []
    for part in text.split("\\")[:-1]:
        if "*" in part or "?" in part:
            break
        folder.append(part)
    return "\\".join(folder)


@dataclass(frozen=True)
class BundleFile:
    """One file copied into the bundle."""

    windows_path: str
    local_path: str
    size: int


@dataclass
class BundleIndex:
    """Every file and folder under files/ of one bundle, keyed by lower-cased Windows path."""

    bundle_dir: str
    files: dict[str, BundleFile] = field(default_factory=dict)
    folders: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    _globs: dict[str, list[BundleFile]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, bundle_dir: str) -> BundleIndex:
        index = cls(bundle_dir)
        top = os.path.join(bundle_dir, FILES_DIR)
        if not os.path.isdir(top) or os.path.islink(top):
            return index
        real_bundle = os.path.realpath(bundle_dir)
        for root, folders, names in os.walk(top, followlinks=False, onerror=index._walk_error):
            relative_root = os.path.relpath(root, bundle_dir).replace(os.sep, "/")
            kept_folders = []
            for name in sorted(folders):
                full = os.path.join(root, name)
                if os.path.islink(full):
                    index.warnings.append(f"{relative_root}/{name}: symbolic link to a folder, not followed")
                    continue
                kept_folders.append(name)
                windows = bundle_to_windows(f"{relative_root}/{name}")
                if windows:
                    index.folders.add(windows.lower())
            folders[:] = kept_folders
            for name in sorted(names):
                full = os.path.join(root, name)
                windows = bundle_to_windows(f"{relative_root}/{name}")
                if windows is None:
                    index.warnings.append(f"{relative_root}/{name}: not under files/<Drive>/, ignored")
                    continue
                try:
                    if os.path.islink(full):
                        target = os.path.realpath(full)
                        if os.path.commonpath([real_bundle, target]) != real_bundle or not os.path.isfile(target):
                            index.warnings.append(f"{windows}: symbolic link out of the bundle, not followed")
                            continue
                    elif not os.path.isfile(full):
                        continue
                    size = os.path.getsize(full)
                except (OSError, ValueError) as exc:
                    index.warnings.append(f"{windows}: cannot be read ({getattr(exc, 'strerror', None) or exc})")
                    continue
                index.files[windows.lower()] = BundleFile(windows, full, size)
        return index

    def _walk_error(self, exc: OSError) -> None:
        self.warnings.append(f"{exc.filename}: cannot be listed ({exc.strerror or exc})")

    def glob(self, pattern: str) -> list[BundleFile]:
        """Files matching a Windows glob (tokens expanded), sorted by path."""
        cached = self._globs.get(pattern)
        if cached is not None:
            return cached
        regex = glob_regex(pattern)
        folder = glob_folder(pattern).lower()
        prefix = folder + "\\" if folder else ""
        found = [item for key, item in self.files.items() if key.startswith(prefix) and regex.fullmatch(key)]
        found.sort(key=lambda item: item.windows_path.lower())
        self._globs[pattern] = found
        return found

    def find(self, windows_path: str) -> BundleFile | None:
        return self.files.get(normalise_windows_path(windows_path).lower())

    def has_folder(self, windows_path: str) -> bool:
        return _folder(windows_path).lower() in self.folders


def match_paths(paths: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The Windows paths (e.g. from listing.jsonl) that match any of the globs, in input order."""
    regexes = [glob_regex(pattern) for pattern in patterns]
    return [path for path in paths if any(regex.fullmatch(normalise_windows_path(path)) for regex in regexes)]
