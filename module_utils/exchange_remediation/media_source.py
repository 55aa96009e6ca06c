"""Where each installer comes from, where it is staged on a server, and which SHA-256 it must have.

The exchange_media role copies the media items of a server's plan (SERVER_PLAN ``media``) from
one configured source to the server and verifies them before anything runs. Everything it
decides about paths and hashes is here, so it is tested on Linux:

* the source is a UNC share (``\\\\fs01\\exchange-media``), an HTTP(S) mirror
  (``https://mirror.corp.example/exchange``) or a folder on the server itself (``local``);
* an item's ``relative_path`` (``Exchange2019/CU15/ExchangeServer2019-x64-CU15.ISO``) is joined
  to the source with backslashes (UNC, local) or as percent-encoded URL segments (HTTP), and to
  the staging folder with backslashes;
* the expected SHA-256 is the user's (``exchange_media_sha256``) before the plan's, and an item
  with none is refused when a hash is required: an unverified installer never runs.

Anything that could make a joined path leave its folder (``..``, an absolute or drive-letter
relative path, an empty segment) is rejected with a ValueError naming the variable, because the
joined path is later copied to and executed as an administrator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

SOURCE_VARIABLE = "exchange_media_source"
ITEMS_VARIABLE = "exchange_media_items"
DEST_VARIABLE = "exchange_media_dest_dir"
HASHES_VARIABLE = "exchange_media_sha256"

SOURCE_TYPES = ("unc", "http", "local")
KINDS = ("cu_iso", "su_msp", "prerequisite")

# Where an expected hash came from: the user's exchange_media_sha256, or the plan's own
# sha256_source ("data" = the media data files); "none" = no hash known.
HASH_FROM_USER = "user"
HASH_FROM_PLAN_DEFAULT = "data"
HASH_NONE = "none"

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_DRIVE_PATH = re.compile(r"^([A-Za-z]):(?:\\(.*))?$")
# Characters Windows does not allow in a file or folder name (plus control characters).
_INVALID_NAME_CHARS = re.compile(r'[<>:"|?*\x00-\x1f]')
# Names Windows maps to devices whatever the extension ("NUL.iso" opens the NUL device).
_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{n}" for n in range(1, 10)] + [f"LPT{n}" for n in range(1, 10)]
)
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# RFC 3986 characters that may stay literal in a path (plus '%' of existing escapes).
_URL_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def _segment_problem(segment: str) -> str | None:
    """Why one folder or file name cannot be part of a staged path, or None."""
    if segment == "":
        return "has an empty path segment"
    if segment in (".", ".."):
        return f"contains '{segment}'"
    if _INVALID_NAME_CHARS.search(segment):
        return f"segment {segment!r} has a character Windows does not allow in a name"
    if segment[-1] in " .":
        # Windows silently drops a trailing dot or space, so "a.iso." would stage as "a.iso".
        return f"segment {segment!r} ends with a dot or a space"
    if segment.split(".", 1)[0].upper() in _DEVICE_NAMES:
        return f"segment {segment!r} is a Windows device name"
    return None


def relative_parts(relative_path: str, variable: str) -> tuple[str, ...]:
    """Split a relative media path ('a/b/c.iso' or 'a\\b\\c.iso') into checked segments."""
    if not isinstance(relative_path, str) or not relative_path.strip():
        raise ValueError(f"{variable} is empty")
    if relative_path.startswith(("/", "\\")):
        raise ValueError(f"{variable} {relative_path!r} must be relative to the media source, not absolute")
    parts = tuple(relative_path.replace("\\", "/").split("/"))
    for segment in parts:
        problem = _segment_problem(segment)
        if problem:
            raise ValueError(f"{variable} {relative_path!r} {problem}")
    return parts


def _windows_folder(value: Any, variable: str) -> tuple[str, tuple[str, ...]]:
    """A drive-letter folder ('C:\\ExchangeMedia') as (drive, segments), checked."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{variable} is empty")
    text = value.strip().replace("/", "\\")
    match = _DRIVE_PATH.match(text)
    if not match:
        raise ValueError(f"{variable} {value!r} is not an absolute folder path on the server (like C:\\ExchangeMedia)")
    rest = (match.group(2) or "").rstrip("\\")
    parts = tuple(rest.split("\\")) if rest else ()
    for segment in parts:
        problem = _segment_problem(segment)
        if problem:
            raise ValueError(f"{variable} {value!r} {problem}")
    return match.group(1).upper() + ":", parts


def _join_windows(base: str, parts: Iterable[str]) -> str:
    return "\\".join((base, *parts))


def parse_dest_dir(value: Any) -> str:
    """The staging folder on the server, normalised ('c:/x/' -> 'C:\\x')."""
    drive, parts = _windows_folder(value, DEST_VARIABLE)
    return _join_windows(drive, parts)


def _parse_unc(location: str) -> str:
    variable = f"{SOURCE_VARIABLE}.location"
    text = location.replace("/", "\\")
    if not text.startswith("\\\\"):
        raise ValueError(f"{variable} {location!r} is not a UNC path (\\\\server\\share[\\folder]) for type unc")
    parts = text[2:].rstrip("\\").split("\\")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"{variable} {location!r} names no share: use \\\\server\\share[\\folder]")
    if parts[0] in ("?", "."):
        # \\?\ and \\.\ are device namespaces, not a file server.
        raise ValueError(f"{variable} {location!r} is a device path, not \\\\server\\share[\\folder]")
    for segment in parts:
        problem = _segment_problem(segment)
        if problem:
            raise ValueError(f"{variable} {location!r} {problem}")
    return "\\\\" + "\\".join(parts)


def _parse_http(location: str) -> str:
    variable = f"{SOURCE_VARIABLE}.location"
    if "\\" in location or any(char.isspace() for char in location.strip()):
        raise ValueError(f"{variable} {location!r} is not a URL: it has a backslash or a space (percent-encode it)")
    split = urlsplit(location.strip())
    if split.scheme.lower() not in ("http", "https") or not split.hostname:
        raise ValueError(f"{variable} {location!r} is not an http:// or https:// URL for type http")
    if split.username is not None or split.password is not None:
        # A URL is printed in task output and failure messages; credentials belong in no_log variables.
        raise ValueError(
            f"{variable} must not carry credentials: use exchange_media_url_username and exchange_media_url_password"
        )
    if split.query or split.fragment or location.rstrip().endswith(("?", "#")):
        raise ValueError(f"{variable} {location!r} has a query or fragment: give the mirror's base folder URL")
    if _PERCENT.search(split.path):
        raise ValueError(f"{variable} {location!r} has a '%' that does not start a percent-escape")
    segments = [unquote(segment) for segment in split.path.split("/")]
    if any(segment in (".", "..") for segment in segments):
        raise ValueError(f"{variable} {location!r} contains '..' or '.'")
    path = quote(split.path.rstrip("/"), safe=_URL_PATH_SAFE)
    return f"{split.scheme.lower()}://{split.netloc}{path}"


@dataclass(frozen=True)
class MediaSource:
    """One place every media item of a run comes from."""

    type: str
    # UNC: '\\\\server\\share\\folder'; HTTP: 'https://host/path' (no trailing '/');
    # local: 'C:\\folder' on the server.
    location: str

    def locate(self, parts: Sequence[str]) -> str:
        """Where the item with these relative path segments is at the source."""
        if self.type == "http":
            return self.location + "/" + "/".join(quote(part, safe="") for part in parts)
        return _join_windows(self.location, parts)


def parse_source(value: Any) -> MediaSource:
    """Check exchange_media_source ({type, location}) and normalise its location."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{SOURCE_VARIABLE} must be a dict with 'type' ({', '.join(SOURCE_TYPES)}) and 'location'")
    kind = str(value.get("type") or "").strip().lower()
    if kind not in SOURCE_TYPES:
        raise ValueError(f"{SOURCE_VARIABLE}.type {value.get('type')!r} is not one of {', '.join(SOURCE_TYPES)}")
    location = value.get("location")
    if not isinstance(location, str) or not location.strip():
        raise ValueError(f"{SOURCE_VARIABLE}.location is empty")
    if kind == "unc":
        return MediaSource(kind, _parse_unc(location.strip()))
    if kind == "http":
        return MediaSource(kind, _parse_http(location))
    if location.strip().replace("/", "\\").startswith("\\\\"):
        raise ValueError(f"{SOURCE_VARIABLE}.location {location!r} is a UNC path: use type unc for a share")
    drive, parts = _windows_folder(location, f"{SOURCE_VARIABLE}.location")
    return MediaSource(kind, _join_windows(drive, parts))


def normalise_sha256(value: Any, variable: str) -> str | None:
    """A SHA-256 as 64 lower-case hex digits; None when not given; ValueError when malformed."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if not _SHA256.match(text):
        raise ValueError(f"{variable} {text!r} is not a SHA-256 (64 hexadecimal digits)")
    return text.lower()


def _hash_key(key: str) -> str:
    """exchange_media_sha256 keys match relative paths and file names case-insensitively."""
    return key.strip().replace("\\", "/").strip("/").casefold()


def parse_user_hashes(value: Any) -> dict[str, str]:
    """exchange_media_sha256 (relative_path or file -> hex) with checked values and folded keys."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{HASHES_VARIABLE} must be a dict of relative path or file name -> SHA-256")
    hashes: dict[str, str] = {}
    for key, digest in value.items():
        variable = f"{HASHES_VARIABLE}[{str(key)!r}]"
        if not isinstance(key, str) or not _hash_key(key):
            raise ValueError(f"{variable}: the key must be a relative path or a file name")
        checked = normalise_sha256(digest, variable)
        if checked is None:
            raise ValueError(f"{variable} is empty")
        folded = _hash_key(key)
        if folded in hashes and hashes[folded] != checked:
            raise ValueError(f"{variable}: the same path is given twice with different hashes")
        hashes[folded] = checked
    return hashes


@dataclass(frozen=True)
class MediaItem:
    """One entry of SERVER_PLAN ``media``, checked."""

    id: str
    kind: str
    file: str
    relative_path: str  # '/'-separated, as in the plan
    parts: tuple[str, ...]
    plan_sha256: str | None
    plan_sha256_source: str
    # False only when the plan says the file is not Microsoft-signed; see resolve_media.
    signed_by_microsoft: bool


def parse_item(value: Any, index: int) -> MediaItem:
    """Check one media item; ValueError names exchange_media_items[index].<field>."""
    where = f"{ITEMS_VARIABLE}[{index}]"
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} is not a dict")
    item_id = value.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise ValueError(f"{where}.id is empty")
    kind = value.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{where}.kind {kind!r} is not one of {', '.join(KINDS)}")
    file_name = value.get("file")
    if not isinstance(file_name, str) or not file_name.strip():
        raise ValueError(f"{where}.file is empty")
    problem = _segment_problem(file_name)
    if problem or "/" in file_name or "\\" in file_name:
        raise ValueError(f"{where}.file {file_name!r} is not a file name ({problem or 'it has a path separator'})")
    relative = value.get("relative_path") or file_name
    parts = relative_parts(relative, f"{where}.relative_path")
    if parts[-1].casefold() != file_name.casefold():
        # Failure messages name the file; a path to another file would make them lie.
        raise ValueError(f"{where}.relative_path {relative!r} does not end with its file {file_name!r}")
    plan_hash = normalise_sha256(value.get("sha256"), f"{where}.sha256")
    source = str(value.get("sha256_source") or "").strip() or (HASH_FROM_PLAN_DEFAULT if plan_hash else HASH_NONE)
    return MediaItem(
        id=item_id.strip(),
        kind=kind,
        file=file_name,
        relative_path="/".join(parts),
        parts=parts,
        plan_sha256=plan_hash,
        plan_sha256_source=source if plan_hash else HASH_NONE,
        signed_by_microsoft=value.get("signed_by_microsoft", True) is not False,
    )


def parse_items(value: Any) -> tuple[MediaItem, ...]:
    """Check exchange_media_items; the same id twice must describe the same file."""
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise ValueError(f"{ITEMS_VARIABLE} must be a list of media items (SERVER_PLAN media)")
    items: list[MediaItem] = []
    by_id: dict[str, MediaItem] = {}
    for index, raw in enumerate(value):
        item = parse_item(raw, index)
        known = by_id.get(item.id)
        if known is not None:
            if known != item:
                raise ValueError(f"{ITEMS_VARIABLE}[{index}].id {item.id!r} is given twice with different contents")
            continue
        by_id[item.id] = item
        items.append(item)
    return tuple(items)


@dataclass(frozen=True)
class ExpectedHash:
    value: str | None
    source: str  # "user", the plan's sha256_source, or "none"
    # The exchange_media_sha256 key that gave the value (folded), when it was a bare file name.
    file_key: str | None = None


def expected_sha256(item: MediaItem, user_hashes: Mapping[str, str]) -> ExpectedHash:
    """The hash the staged file must have: the user's (by relative path, then file name), else the plan's."""
    digest = user_hashes.get(_hash_key(item.relative_path))
    if digest:
        return ExpectedHash(digest, HASH_FROM_USER)
    digest = user_hashes.get(_hash_key(item.file))
    if digest:
        return ExpectedHash(digest, HASH_FROM_USER, _hash_key(item.file))
    if item.plan_sha256:
        return ExpectedHash(item.plan_sha256, item.plan_sha256_source)
    return ExpectedHash(None, HASH_NONE)


def _check_file_name_keys(items: Sequence[MediaItem], user_hashes: Mapping[str, str]) -> None:
    """A file-name key must not stand for two different files of one server.

    The VC++ 2012 and 2013 installers are both vcredist_x64.exe, and SU packages of different
    CUs share names: one hash cannot be right for both, so such a key must be a relative path.
    """
    paths_by_key: dict[str, set[str]] = {}
    for item in items:
        key = expected_sha256(item, user_hashes).file_key
        if key is not None:
            paths_by_key.setdefault(key, set()).add(item.relative_path.casefold())
    for key, paths in paths_by_key.items():
        if len(paths) > 1:
            raise ValueError(
                f"{HASHES_VARIABLE}[{key!r}] names {len(paths)} different files ({', '.join(sorted(paths))}): "
                "key each by its relative_path"
            )


# --------------------------------------------------------------------------- messages
# One line each, naming the file first: the caller shows them as they are.


def no_hash_message(item: MediaItem) -> str:
    return f"{item.file}: no SHA-256 known: set {HASHES_VARIABLE}['{item.relative_path}']"


def missing_message(file_name: str, path: str) -> str:
    return f"{file_name}: missing at {path}"


def mismatch_message(file_name: str, expected: str, actual: str) -> str:
    return f"{file_name}: SHA-256 mismatch (expected {expected}, got {actual})"


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class ResolvedMedia:
    """One media item with its source, its staged path and its expected hash."""

    id: str
    kind: str
    file: str
    relative_path: str
    source_type: str
    source: str  # UNC path, URL, or the local path
    path: str  # where the file is (staged, or in place for a local source) on the server
    folder: str  # the folder of path, created before staging
    sha256: str | None
    sha256_source: str
    signature_required: bool
    # An ISO has no Authenticode signature of its own: Setup.exe inside it is checked.
    image: bool
    refused: str | None  # one-line reason when the item must not be staged or run

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "file": self.file,
            "relative_path": self.relative_path,
            "source_type": self.source_type,
            "source": self.source,
            "path": self.path,
            "folder": self.folder,
            "sha256": self.sha256,
            "sha256_source": self.sha256_source,
            "signature_required": self.signature_required,
            "image": self.image,
            "refused": self.refused,
        }


def resolve_item(item: MediaItem, source: MediaSource, dest_dir: str, user_hashes: Mapping[str, str],
                 require_sha256: bool) -> ResolvedMedia:
    expected = expected_sha256(item, user_hashes)
    located = source.locate(item.parts)
    # A local source is verified in place: there is nothing to copy.
    path = located if source.type == "local" else _join_windows(dest_dir, item.parts)
    refused = None
    if expected.value is None and (require_sha256 or not item.signed_by_microsoft):
        # Without a signature to vouch for it, only a hash can: a file the plan marks as not
        # Microsoft-signed needs a hash even when exchange_media_require_sha256 is false.
        refused = no_hash_message(item)
    return ResolvedMedia(
        id=item.id,
        kind=item.kind,
        file=item.file,
        relative_path=item.relative_path,
        source_type=source.type,
        source=located,
        path=path,
        folder=path.rsplit("\\", 1)[0],
        sha256=expected.value,
        sha256_source=expected.source,
        signature_required=item.signed_by_microsoft,
        image=item.kind == "cu_iso" or item.file.casefold().endswith(".iso"),
        refused=refused,
    )


def resolve_media(items: Any, source: Any, dest_dir: Any, user_hashes: Any,
                  require_sha256: bool = True) -> list[ResolvedMedia]:
    """Every media item of a server, resolved; ValueError (naming the variable) on bad input."""
    checked_source = parse_source(source)
    checked_items = parse_items(items)
    checked_dest = parse_dest_dir(dest_dir)
    hashes = parse_user_hashes(user_hashes)
    _check_file_name_keys(checked_items, hashes)
    resolved = [resolve_item(item, checked_source, checked_dest, hashes, require_sha256) for item in checked_items]
    by_path: dict[str, ResolvedMedia] = {}
    for entry in resolved:
        other = by_path.setdefault(entry.path.casefold(), entry)
        if other is not entry and other.sha256 != entry.sha256:
            raise ValueError(
                f"{ITEMS_VARIABLE}: {other.id!r} and {entry.id!r} are both staged at {entry.path} "
                "but expect different SHA-256 values"
            )
    return resolved


def input_problems(items: Any, source: Any, dest_dir: Any, user_hashes: Any) -> list[str]:
    """Every problem of the role's inputs at once (for a preflight assert), each naming its variable."""
    problems: list[str] = []
    checks = (
        lambda: parse_source(source),
        lambda: parse_dest_dir(dest_dir),
        lambda: parse_user_hashes(user_hashes),
        lambda: parse_items(items),
    )
    for check in checks:
        try:
            check()
        except ValueError as exc:
            problems.append(str(exc))
    if not problems:
        try:
            resolve_media(items, source, dest_dir, user_hashes)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


# --------------------------------------------------------------------------- staging


def present_and_matching(entry: Mapping[str, Any], stat: Mapping[str, Any] | None) -> bool:
    """True when the staged file is there (and has the expected hash, when one is known)."""
    if not stat or not stat.get("exists") or stat.get("isdir"):
        return False
    expected = entry.get("sha256")
    if not expected:
        return True
    actual = str(stat.get("checksum") or "").strip().lower()
    return actual == expected


def pending_media(resolved: Sequence[Mapping[str, Any]],
                  stats: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Items to copy or download: not refused, not local, and not already present with the right hash.

    ``stats`` maps the staged path, case-folded (Windows paths are case-insensitive), to what
    ansible.windows.win_stat returned for it; items staged at the same path are copied once.

    Each carries ``replace``: a wrong file is already at the staged path (the copy must
    overwrite it; a missing file is copied without comparing checksums first).
    """
    pending = []
    seen: set[str] = set()
    for entry in resolved:
        if entry.get("refused") or entry.get("source_type") == "local":
            continue
        key = str(entry["path"]).casefold()
        if key in seen:
            continue
        stat = stats.get(key)
        if present_and_matching(entry, stat):
            continue
        seen.add(key)
        pending.append({**entry, "replace": bool(stat and stat.get("exists"))})
    return pending


def staging_folders(pending: Iterable[Mapping[str, Any]]) -> list[str]:
    """The folders to create before staging, each once, in first-seen order."""
    folders: dict[str, str] = {}
    for entry in pending:
        folders.setdefault(str(entry["folder"]).casefold(), str(entry["folder"]))
    return list(folders.values())
