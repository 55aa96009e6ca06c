"""File records for 'file' rules: the bundle's copies and the live listing (hunt-spec sections 2 and 5).

A file is known from its copy under files/<Drive>/…, from an entry of listing.jsonl (written by
live collection: the whole file's size and SHA-256 on the server, and whether its head was copied),
or both; the listing's size and hash then win, since a copy may be only the file's first bytes.
Contents are read only when a rule asks for them (virtual fields), at most once per file.
YARA rules (data/indicators/webshells.yar) are compiled once per rule set with yara_x; without
yara_x the scan cannot run, which the engine reports so that the verdict cannot be "no".
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .bundle_paths import BundleFile, BundleIndex, glob_folder, glob_regex, normalise_windows_path
from .exchange_csv_log import utc_timestamp
from .hunt_record import Record

LISTING = "listing.jsonl"
TEXT_BYTES = 64 * 1024  # the 'text' field: what a content rule reads
YARA_BYTES = 1 << 20  # what YARA scans: webshells are small; a 1 MiB head holds any of them
MAX_LISTING_BYTES = 256 << 20


@dataclass(frozen=True)
class ListingEntry:
    """One line of listing.jsonl."""

    path: str
    size: int | None
    sha256: str | None
    modified: str | None
    copied: bool
    truncated: bool
    head_hex: str | None
    is_dir: bool
    stream: str | None


@dataclass
class Listing:
    """listing.jsonl of a live bundle: files (and folders) found on the server."""

    entries: dict[str, ListingEntry] = field(default_factory=dict)
    folders: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    present: bool = False

    @classmethod
    def read(cls, bundle_dir: str) -> Listing:
        listing = cls()
        path = os.path.join(bundle_dir, LISTING)
        if not os.path.lexists(path):
            return listing
        listing.present = True
        try:
            if os.path.getsize(path) > MAX_LISTING_BYTES:
                listing.warnings.append(f"{LISTING} is larger than {MAX_LISTING_BYTES} bytes and was not read")
                return listing
            with open(path, "rb") as handle:
                raw_lines = handle.read().splitlines()
        except OSError as exc:
            listing.warnings.append(f"{LISTING} cannot be read ({exc.strerror or exc})")
            return listing
        bad = 0
        for raw in raw_lines:
            if not raw.strip():
                continue
            try:
                item = json.loads(raw.decode("utf-8-sig", "replace"))
            except ValueError:
                bad += 1
                continue
            if not isinstance(item, Mapping) or not isinstance(item.get("path"), str) or not item["path"].strip():
                bad += 1
                continue
            listing.add(item)
        if bad:
            listing.warnings.append(f"{LISTING}: {bad} lines are not listing entries and were skipped")
        return listing

    def add(self, item: Mapping[str, Any]) -> None:
        path = normalise_windows_path(str(item["path"])).rstrip("\\")
        is_dir = str(item.get("type") or "").lower() in ("dir", "directory", "folder")
        key = path.lower()
        if is_dir:
            self.folders.add(key)
        else:
            self.entries[key] = ListingEntry(
                path=path,
                size=_int(item.get("size")),
                sha256=str(item["sha256"]).lower() if isinstance(item.get("sha256"), str) and item["sha256"] else None,
                modified=utc_timestamp(item.get("modified")),
                copied=bool(item.get("copied")),
                truncated=bool(item.get("truncated")),
                head_hex=str(item["head_hex"]).lower() if isinstance(item.get("head_hex"), str) else None,
                is_dir=False,
                stream=item.get("stream") if isinstance(item.get("stream"), str) else None,
            )
        # Every folder above a listed item existed on the server.
        parent = key.rpartition("\\")[0]
        while parent and "\\" in parent and parent not in self.folders:
            self.folders.add(parent)
            parent = parent.rpartition("\\")[0]

    def glob(self, pattern: str) -> list[ListingEntry]:
        regex = glob_regex(pattern)
        folder = glob_folder(pattern).lower()
        prefix = folder + "\\" if folder else ""
        return [entry for key, entry in self.entries.items() if key.startswith(prefix) and regex.fullmatch(key)]

    def has_folder(self, windows_path: str) -> bool:
        return normalise_windows_path(windows_path).rstrip("\\").lower() in self.folders

    def find(self, windows_path: str) -> ListingEntry | None:
        return self.entries.get(normalise_windows_path(windows_path).rstrip("\\").lower())


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class YaraScanner:
    """Compiled YARA rules; 'error' says why a scan cannot run (no yara_x, rules that do not compile)."""

    def __init__(self, source: str) -> None:
        self.error: str | None = None
        self._rules: Any = None
        if not source.strip():
            return
        try:
            import yara_x  # optional: without it the scan cannot run and the verdict stays open
        except ImportError:
            self.error = "YARA scan not run: the Python package yara-x is not installed"
            return
        try:
            self._rules = yara_x.compile(source)
        except Exception as exc:  # yara_x.CompileError and whatever the binding raises for bad input
            self.error = f"YARA scan not run: the rules do not compile ({exc})"

    @property
    def active(self) -> bool:
        return self._rules is not None

    def scan(self, data: bytes) -> list[str]:
        if self._rules is None or not data:
            return []
        import yara_x

        results = yara_x.Scanner(self._rules).scan(data)
        return sorted({rule.identifier for rule in results.matching_rules})


@functools.lru_cache(maxsize=8)
def yara_scanner(source: str) -> YaraScanner:
    """One compilation per rule text (a rule set's yara_source is compiled once per process)."""
    return YaraScanner(source)


def looks_like_utf16(data: bytes) -> bool:
    """A BOM, or text whose every other byte is mostly NUL (ASCII written as UTF-16LE)."""
    if data[:2] == b"\xff\xfe":
        return True
    sample = data[:4096]
    odd = sample[1::2]
    return len(odd) >= 8 and odd.count(0) > 0.6 * len(odd) and sample[0::2].count(0) < 0.1 * len(odd)


def decode_text(data: bytes) -> str:
    """The 'text' field: latin-1 of the head (every byte kept), plus its UTF-16LE reading when it is one."""
    head = data[:TEXT_BYTES]
    text = head.decode("latin-1")
    if looks_like_utf16(head):
        start = 2 if head[:2] == b"\xff\xfe" else 0
        text += "\n" + head[start:].decode("utf-16-le", "replace")
    return text


class FileItem:
    """One file known from the bundle and/or the listing; contents read lazily, once."""

    def __init__(self, windows_path: str, copy: BundleFile | None, listed: ListingEntry | None) -> None:
        self.windows_path = windows_path
        self.copy = copy
        self.listed = listed
        self.errors: list[str] = []
        self._head: bytes | None = None
        self._sha256: str | None = None
        self._yara: list[str] | None = None

    @property
    def size(self) -> int:
        if self.listed is not None and self.listed.size is not None:
            return self.listed.size
        return self.copy.size if self.copy is not None else 0

    @property
    def modified(self) -> str | None:
        return self.listed.modified if self.listed is not None else None

    def head(self) -> bytes:
        if self._head is None:
            self._head = b""
            if self.copy is not None:
                try:
                    with open(self.copy.local_path, "rb") as handle:
                        self._head = handle.read(YARA_BYTES)
                except OSError as exc:
                    self.errors.append(f"{self.windows_path}: cannot be read ({exc.strerror or exc})")
        return self._head

    def sha256(self) -> str:
        if self.listed is not None and self.listed.sha256:
            return self.listed.sha256
        if self._sha256 is None:
            self._sha256 = ""
            if self.copy is not None:
                digest = hashlib.sha256()
                try:
                    with open(self.copy.local_path, "rb") as handle:
                        for chunk in iter(lambda: handle.read(1 << 20), b""):
                            digest.update(chunk)
                    self._sha256 = digest.hexdigest()
                except OSError as exc:
                    self.errors.append(f"{self.windows_path}: cannot be read ({exc.strerror or exc})")
        return self._sha256

    def head_hex(self) -> str:
        if self.copy is not None:
            return self.head()[:16].hex()
        return (self.listed.head_hex or "") if self.listed is not None else ""

    def yara(self, scanner: YaraScanner | None) -> list[str]:
        if self._yara is None:
            self._yara = scanner.scan(self.head()) if scanner is not None and scanner.active else []
        return self._yara

    def text(self) -> str:
        return decode_text(self.head()) if self.copy is not None else ""

    def record(self, tokens: Mapping[str, str], scanner: YaraScanner | None) -> Record:
        folder, _sep, name = self.windows_path.rpartition("\\")
        extension = os.path.splitext(name)[1].lower()
        fields = {"path": self.windows_path, "name": name, "extension": extension, "folder": folder,
                  "size": str(self.size)}
        text_cache: list[str] = []

        def text() -> str:
            if not text_cache:
                text_cache.append(self.text())
            return text_cache[0]

        virtual: dict[str, Callable[[], Any]] = {
            "sha256": self.sha256,
            "head_hex": self.head_hex,
            "yara": lambda: self.yara(scanner),
            "text": text,
            "line": lambda: self.windows_path,
        }
        return Record(fields, tokens, virtual)

    def summary(self, scanner: YaraScanner | None, excerpt_chars: int = 1200) -> str:
        """Evidence text of a finding: where, how large, the hash, YARA matches and the start of the text."""
        parts = [self.windows_path, f"{self.size} bytes"]
        sha = self.sha256()
        if sha:
            parts.append(f"sha256 {sha}")
        if self.modified:
            parts.append(f"modified {self.modified}")
        matches = self.yara(scanner)
        if matches:
            parts.append("YARA " + " ".join(matches))
        if self.copy is None:
            parts.append("content not copied")
        summary = ", ".join(parts)
        text = self.text()
        if looks_like_utf16(self.head()):
            text = text.partition("\n")[2] or text
        excerpt = text[:excerpt_chars].strip()
        return f"{summary}\n{excerpt}" if excerpt else summary


def collect_files(index: BundleIndex, listing: Listing, patterns: Iterable[str]) -> list[FileItem]:
    """Every file of the bundle or the listing that matches one of the globs (tokens expanded), by path."""
    items: dict[str, FileItem] = {}
    for pattern in patterns:
        for copy in index.glob(pattern):
            key = copy.windows_path.lower()
            if key not in items:
                items[key] = FileItem(copy.windows_path, copy, listing.find(copy.windows_path))
        for entry in listing.glob(pattern):
            key = entry.path.lower()
            if key not in items:
                items[key] = FileItem(entry.path, index.find(entry.path), entry)
    return [items[key] for key in sorted(items)]
