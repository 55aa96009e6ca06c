"""Turn the live collector's result into an evidence bundle on the controller (hunt-spec section 5).

The bundle has the layout of an offline one, so the hunt reads both with one code path:

  files/<Drive>/<path>          logs reduced to their kept lines; the first bytes of script files
  eventlogs/<Channel>.jsonl     one event per line ('/' in the channel name becomes '%4')
  listing.jsonl                 one line per file found in the web folders and system locations
  collection.json               what was read on the server: per-file line counts, caps hit, errors
  manifest.sha256               sha256sum format over every other file of the bundle (server.json too)

A server path is data from the server and is mapped to a bundle path only when the mapping is safe;
one that cannot be mapped becomes an error entry, never a file outside the bundle. The same input
gives the same bytes, and a second run replaces what the first one wrote.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MANIFEST = "manifest.sha256"
COLLECTION = "collection.json"
LISTING = "listing.jsonl"
FILES_DIR = "files"
EVENTS_DIR = "eventlogs"
# What this module owns in a bundle and replaces on every run; server.json belongs to exchange_facts.
OWNED = (FILES_DIR, EVENTS_DIR, LISTING, COLLECTION)

BUNDLE_ARGUMENTS: dict[str, Any] = {
    "bundle_dir": {"type": "path", "required": True},
    "collected": {"type": "dict", "required": True},
}

# The event record fields of the bundle format, in the order they are written.
EVENT_FIELDS = ("TimeCreated", "Id", "ProviderName", "LevelDisplayName", "Level", "Message", "Properties")
LISTING_FIELDS = ("path", "size", "sha256", "modified", "copied", "truncated", "head_hex", "stream")
CAP_FIELDS = ("cap", "stream", "source", "limit", "detail")

_DRIVE_PATH = re.compile(r"^([A-Za-z]):[\\/](.*)$", re.DOTALL)
# Windows device names are special in every folder and with any extension (CON, CON.txt, COM1 ...).
_DEVICE_NAME = re.compile(
    r"^(CON|PRN|AUX|NUL|COM[0-9\u00b9\u00b2\u00b3]|LPT[0-9\u00b9\u00b2\u00b3]|CONIN\$|CONOUT\$)(\..*)?$", re.IGNORECASE
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_NAME_BYTES = 255


class UnsafePathError(ValueError):
    """A server path that cannot be mapped into the bundle safely."""


class BundleError(ValueError):
    """The bundle cannot be written at all (bad input, a folder that is not a live bundle)."""


@dataclass
class BundleWrite:
    """What one call wrote."""

    bundle_dir: str
    files: int = 0
    listing: int = 0
    copied: int = 0
    events: dict[str, int] = field(default_factory=dict)
    caps_hit: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    manifest_entries: int = 0

    def to_result(self) -> dict[str, Any]:
        return {
            "changed": False,
            "bundle_dir": self.bundle_dir,
            "files": self.files,
            "listing": self.listing,
            "copied": self.copied,
            "events": dict(self.events),
            "caps_hit": list(self.caps_hit),
            "errors": list(self.errors),
            "manifest": os.path.join(self.bundle_dir, MANIFEST),
            "manifest_entries": self.manifest_entries,
        }


# --------------------------------------------------------------------------- names


def bundle_path(windows_path: str) -> str:
    """'C:\\inetpub\\wwwroot\\x.aspx' -> 'files/C/inetpub/wwwroot/x.aspx' (raises UnsafePathError).

    Only drive-letter paths are mapped (a '\\\\?\\' prefix is dropped). Rejected: '.' and '..',
    ':' after the drive (alternate data streams), device names, control characters and names
    longer than a controller file system takes. Empty components ('a\\\\b') collapse as on Windows.
    """
    if not isinstance(windows_path, str) or not windows_path:
        raise UnsafePathError("no path")
    text = windows_path[4:] if windows_path.startswith("\\\\?\\") else windows_path
    match = _DRIVE_PATH.match(text)
    if not match:
        raise UnsafePathError("not an absolute path on a drive letter")
    parts = [part for part in re.split(r"[\\/]", match.group(2)) if part]
    if not parts:
        raise UnsafePathError("names a drive, not a file")
    for part in parts:
        if part in (".", ".."):
            raise UnsafePathError(f"contains {part!r}")
        if ":" in part:
            raise UnsafePathError(f"{part!r} names an alternate data stream")
        if _CONTROL.search(part):
            raise UnsafePathError("contains a control character")
        if _DEVICE_NAME.match(part.rstrip(" .")):
            raise UnsafePathError(f"{part!r} is a Windows device name")
        if len(part.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES:
            raise UnsafePathError("a name is longer than 255 bytes")
    return "/".join([FILES_DIR, match.group(1).upper(), *parts])


def channel_file_name(channel: str) -> str:
    """'Microsoft-Windows-PowerShell/Operational' -> 'Microsoft-Windows-PowerShell%4Operational.jsonl'."""
    if not isinstance(channel, str) or not channel.strip():
        raise UnsafePathError("no channel name")
    name = channel.replace("/", "%4")
    if "\\" in name or _CONTROL.search(name) or name in (".", ".."):
        raise UnsafePathError(f"channel name {channel!r} cannot be a file name")
    if len(name.encode("utf-8", "surrogatepass")) + len(".jsonl") > _MAX_NAME_BYTES:
        raise UnsafePathError("channel name too long")
    return f"{name}.jsonl"


def _inside(base: str, relative: str) -> str:
    target = os.path.normpath(os.path.join(base, *relative.split("/")))
    if os.path.commonpath([os.path.abspath(base), os.path.abspath(target)]) != os.path.abspath(base):
        raise UnsafePathError("maps outside the bundle")
    return target


# --------------------------------------------------------------------------- writing


def _json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _cap(entry: Any) -> dict[str, Any]:
    if isinstance(entry, Mapping):
        cap = {name: entry.get(name) for name in CAP_FIELDS}
        cap["source"] = _text(cap["source"])
        cap["stream"] = _text(cap["stream"])
        return cap
    return {"cap": None, "stream": None, "source": None, "limit": None, "detail": str(entry)}


def _items(value: Any, what: str, errors: list[str]) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    errors.append(f"bundle: {what} is not a list")
    return []


class _Writer:
    """Writes one bundle's owned files into a staging folder, remembering every bundle path taken."""

    def __init__(self, staging: str, result: BundleWrite) -> None:
        self.staging = staging
        self.result = result
        self.taken: set[str] = set()

    def error(self, message: str) -> None:
        self.result.errors.append(f"bundle: {message}")

    def place(self, windows_path: str, data: bytes) -> str | None:
        """Write one server file's bytes under files/; None (and an error entry) when it cannot be."""
        try:
            relative = bundle_path(windows_path)
            if relative.lower() in self.taken:
                raise UnsafePathError("collected twice")
            _write(_inside(self.staging, relative), data)
        except UnsafePathError as exc:
            self.error(f"{windows_path!r} not written: {exc}")
            return None
        except OSError as exc:
            self.error(f"{windows_path!r} not written: {exc.strerror or exc}")
            return None
        self.taken.add(relative.lower())
        return relative

    def logs(self, entries: Iterable[Any]) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
                self.error("a file entry without a path was skipped")
                continue
            path = entry["path"]
            if path in summary:
                self.error(f"{path!r} listed twice among the log files")
                continue
            read = bool(entry.get("read", True))
            kept = _int(entry.get("kept"))
            record = {
                "stream": _text(entry.get("stream")),
                "lines": _int(entry.get("lines")),
                "bytes": _int(entry.get("bytes")),
                "kept": kept,
                "capped": bool(entry.get("capped")),
                "read": read,
                "line_numbers": [_int(number) for number in entry.get("line_numbers") or []],
                "bundle_path": None,
            }
            if read:
                content = entry.get("content") or ""
                # Kept lines joined with CRLF; the last line ends like every other one.
                data = (str(content) + "\r\n").encode("utf-8", "surrogatepass") if kept else b""
                record["bundle_path"] = self.place(path, data)
                if record["bundle_path"]:
                    self.result.files += 1
            summary[path] = record
        return summary

    def listing(self, entries: Iterable[Any]) -> list[dict[str, Any]]:
        lines = []
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
                self.error("a listing entry without a path was skipped")
                continue
            item = {
                "path": entry["path"],
                "size": _int(entry.get("size")),
                "sha256": _text(entry.get("sha256")),
                "modified": _text(entry.get("modified")),
                "copied": False,
                "truncated": bool(entry.get("truncated")),
                "head_hex": _text(entry.get("head_hex")),
                "stream": _text(entry.get("stream")),
            }
            head = entry.get("head_base64")
            if head:
                try:
                    data = base64.b64decode(str(head), validate=True)
                except (binascii.Error, ValueError):
                    self.error(f"{entry['path']!r}: the copied head is not base64")
                else:
                    item["copied"] = self.place(entry["path"], data) is not None
                    self.result.copied += int(item["copied"])
            if not item["copied"]:
                item["truncated"] = False
            lines.append(item)
        lines.sort(key=lambda item: (item["path"].lower(), item["path"]))
        self.result.listing = len(lines)
        return lines

    def events(self, channels: Any) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        if channels is None:
            return summary
        if not isinstance(channels, Mapping):
            self.error("events is not a mapping of channel to records")
            return summary
        for channel in sorted(channels, key=str):
            data = channels[channel]
            if not isinstance(data, Mapping):
                self.error(f"events of {channel!r} are not a mapping")
                continue
            records = [record for record in _items(data.get("records"), f"events of {channel!r}", self.result.errors)
                       if isinstance(record, Mapping)]
            entry = {
                "stream": _text(data.get("stream")),
                "count": _int(data.get("count")),
                "kept": len(records),
                "capped": bool(data.get("capped")),
                "first": _text(data.get("first")),
                "last": _text(data.get("last")),
                "error": _text(data.get("error")),
                "bundle_path": None,
            }
            summary[str(channel)] = entry
            if entry["error"] and not records:
                continue  # the channel was not read: no file, so the hunt sees it as absent
            try:
                name = channel_file_name(str(channel))
                relative = f"{EVENTS_DIR}/{name}"
                if relative.lower() in self.taken:
                    raise UnsafePathError("collected twice")
                text = "".join(_json_line(_event(record)) + "\n" for record in records)
                _write(_inside(self.staging, relative), text.encode("utf-8", "surrogatepass"))
            except UnsafePathError as exc:
                self.error(f"events of {channel!r} not written: {exc}")
                continue
            except OSError as exc:
                self.error(f"events of {channel!r} not written: {exc.strerror or exc}")
                continue
            self.taken.add(relative.lower())
            entry["bundle_path"] = relative
            self.result.events[str(channel)] = len(records)
        return summary


def _event(record: Mapping[str, Any]) -> dict[str, Any]:
    event = {name: record.get(name) for name in EVENT_FIELDS}
    properties = event["Properties"]
    if properties is None:
        event["Properties"] = []
    elif not isinstance(properties, list | tuple):
        event["Properties"] = [properties]
    for name in sorted(set(record) - set(EVENT_FIELDS), key=str):
        event[str(name)] = record[name]
    return event


def write_live_bundle(bundle_dir: str, collected: Mapping[str, Any]) -> BundleWrite:
    """Write the collector's result into bundle_dir and rewrite its manifest. Raises BundleError.

    Replaces files/, eventlogs/, listing.jsonl and collection.json of an earlier run; refuses a
    folder that has evidence files but no collection.json (an offline bundle is never overwritten).
    """
    if not isinstance(collected, Mapping):
        raise BundleError("the collector result is not a mapping")
    if collected.get("failed"):
        raise BundleError("the collector failed; nothing to write")
    if "collected_at" not in collected:
        raise BundleError("the collector result has no collected_at: not a result of exchange_hunt_collect")
    if not bundle_dir:
        raise BundleError("no bundle folder given")
    if not os.path.exists(os.path.join(bundle_dir, COLLECTION)) and any(
        os.path.lexists(os.path.join(bundle_dir, name)) for name in OWNED
    ):
        raise BundleError(f"{bundle_dir} holds evidence that live collection did not write (no {COLLECTION}); "
                          "refusing to replace it")
    os.makedirs(bundle_dir, exist_ok=True)

    result = BundleWrite(bundle_dir)
    staging = tempfile.mkdtemp(prefix=".live-", dir=bundle_dir)
    try:
        writer = _Writer(staging, result)
        listing = writer.listing(_items(collected.get("listing"), "listing", result.errors))
        files = writer.logs(_items(collected.get("files"), "files", result.errors))
        events = writer.events(collected.get("events"))
        result.caps_hit = [_cap(entry) for entry in _items(collected.get("caps_hit"), "caps_hit", result.errors)]
        server_errors = [str(error) for error in _items(collected.get("errors"), "errors", result.errors)]
        # Bundle errors were appended to result.errors while writing; the server's come first.
        result.errors = server_errors + result.errors
        if listing:
            _write(os.path.join(staging, LISTING), "".join(_json_line(item) + "\n" for item in listing).encode("utf-8"))
        collection = {
            "schema": 1,
            "collector": "exchange_hunt_collect",
            "collected_at": collected.get("collected_at"),
            "since": collected.get("since"),
            "tokens": collected.get("tokens") or {},
            "limits": collected.get("limits") or {},
            "roots": _items(collected.get("roots"), "roots", result.errors),
            "files": files,
            "events": events,
            "listing": {"files": result.listing, "copied": result.copied},
            "caps_hit": result.caps_hit,
            "errors": result.errors,
        }
        text = json.dumps(collection, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        _write(os.path.join(staging, COLLECTION), text.encode("utf-8", "surrogatepass"))
        for name in OWNED:
            _replace(os.path.join(staging, name), os.path.join(bundle_dir, name))
    except OSError as exc:
        raise BundleError(f"cannot write the bundle in {bundle_dir}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    try:
        result.manifest_entries = write_manifest(bundle_dir)
    except OSError as exc:
        raise BundleError(f"cannot write {MANIFEST} in {bundle_dir}: {exc.strerror or exc}") from exc
    return result


def _replace(new: str, old: str) -> None:
    """Put the staged item in place of the earlier run's (removing that one when nothing replaces it)."""
    if os.path.isdir(old) and not os.path.islink(old):
        shutil.rmtree(old)
    elif os.path.lexists(old):
        os.remove(old)
    if os.path.lexists(new):
        os.replace(new, old)


# --------------------------------------------------------------------------- manifest


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_line(relative: str, digest: str) -> str:
    """One sha256sum line; names with a backslash or newline use sha256sum's escaped form."""
    if "\\" in relative or "\n" in relative:
        escaped = relative.replace("\\", "\\\\").replace("\n", "\\n")
        return f"\\{digest}  {escaped}\n"
    return f"{digest}  {relative}\n"


def write_manifest(bundle_dir: str) -> int:
    """Rewrite manifest.sha256 over every file of the bundle (sorted paths); returns the entry count."""
    entries: list[tuple[str, str]] = []
    for root, folders, names in os.walk(bundle_dir):
        folders.sort()
        for name in names:
            full = os.path.join(root, name)
            relative = os.path.relpath(full, bundle_dir).replace(os.sep, "/")
            if relative == MANIFEST or not os.path.isfile(full):
                continue
            entries.append((relative, file_sha256(full)))
    entries.sort()
    text = "".join(manifest_line(relative, digest) for relative, digest in entries)
    temporary = os.path.join(bundle_dir, f".{MANIFEST}.tmp")
    with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    os.replace(temporary, os.path.join(bundle_dir, MANIFEST))
    return len(entries)


def run_bundle(params: Mapping[str, Any]) -> dict[str, Any]:
    """What the exchange_hunt_bundle task does, given validated arguments (raises BundleError)."""
    return write_live_bundle(str(params["bundle_dir"]), params["collected"]).to_result()
