"""Exchange CSV logs (HttpProxy, ECP, Rps_Http, Rps_Cmdlet, …): header, rows and timestamps.

Layouts (log-formats.md §1): the header is the first '#Fields: ' line (Layout A); a file without
one takes its first non-'#' line as a bare header (Layout B, as Import-Csv would). A data row equal
to the header is the bare header itself and is dropped. Rows are read with the csv module (fields
with commas or quotes are wrapped in '"' with inner quotes doubled), columns are mapped by name, a
missing trailing column is '' and columns beyond the header are kept in the field 'extra'.

Only candidate lines (those holding a rule's prefilter literal) are ever parsed, and each of them
once; the virtual fields (uri, page_on_disk, line) are built only when a rule asks for them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .hunt_record import Record

TIME_COLUMNS = ("datetime", "timestamp")
EXTRA_FIELD = "extra"

_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:[.,](\d+))?\s*(Z|[+-]\d\d:?\d\d|UTC|GMT)?$", re.IGNORECASE)
_HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-() ]*$")
_FIELDS_PREFIX = b"#fields:"


def utc_timestamp(value: Any) -> str | None:
    """An ISO 8601 time as 'YYYY-MM-DDTHH:MM:SS(.fff)Z' (UTC), or None when it is not one.

    Times without a zone are UTC (Exchange and IIS logs write UTC); a fraction is cut or padded to
    milliseconds so that times of different sources sort as text.
    """
    if not isinstance(value, str):
        return None
    if len(value) == 24 and value[10] == "T" and value[19] == "." and value[23] == "Z" and value[:4].isdigit():
        return value  # already 'YYYY-MM-DDTHH:MM:SS.fffZ', as Exchange writes it: the common case
    match = _ISO.match(value.strip())
    if not match:
        return None
    day, clock, fraction, zone = match.groups()
    if zone and zone.upper() not in ("Z", "UTC", "GMT") and zone not in ("+00:00", "+0000", "-00:00", "-0000"):
        try:
            parsed = datetime.fromisoformat(f"{day}T{clock}{zone if ':' in zone else zone[:3] + ':' + zone[3:]}")
        except ValueError:
            return None
        parsed = parsed.astimezone(UTC)
        day, clock = parsed.strftime("%Y-%m-%d"), parsed.strftime("%H:%M:%S")
    if fraction:
        return f"{day}T{clock}.{(fraction + '00')[:3]}Z"
    return f"{day}T{clock}Z"


def decode_line(raw: bytes) -> tuple[str, bool]:
    """UTF-8 text of one line and whether bytes had to be replaced (never raises)."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), True


def split_csv(text: str) -> list[str]:
    """One CSV line as fields (RFC 4180 quoting); a line the csv module rejects is split on commas."""
    if '"' not in text:
        # Without a quote the csv module would split exactly here; this is the common case.
        return text.split(",")
    try:
        return next(csv.reader([text]))
    except (csv.Error, StopIteration):
        return text.split(",")


def looks_like_header(names: Sequence[str]) -> bool:
    """A bare header is a list of column names, never a data row (which starts with a time or value)."""
    return len(names) >= 2 and all(_HEADER_NAME.match(name.strip() or "-") for name in names)


@dataclass(frozen=True)
class CsvHeader:
    """The columns of one file; origin 'fields' (#Fields), 'bare' (Layout B) or 'default' (the stream's)."""

    names: tuple[str, ...]
    origin: str
    line: int | None = None
    text_lower: str = field(init=False)
    time_column: int | None = field(init=False)
    columns: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        columns: dict[str, int] = {}
        for position, name in enumerate(self.names):
            columns.setdefault(name.lower(), position)
        time_column = next((columns[name] for name in TIME_COLUMNS if name in columns), None)
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "time_column", time_column)
        object.__setattr__(self, "text_lower", ",".join(self.names).lower())

    @classmethod
    def parse(cls, text: str, origin: str, line: int | None = None) -> CsvHeader:
        """From a bare header line or the text after '#Fields:'."""
        names = tuple(name.strip() for name in split_csv(text.strip().lstrip("\ufeff")))
        return cls(names, origin, line)

    def is_header_row(self, text: str) -> bool:
        stripped = text.strip().lstrip("\ufeff").lower()
        if stripped == self.text_lower:
            return True
        # A header written with quotes or spaces around names is still the header.
        return '"' in stripped and ",".join(name.strip() for name in split_csv(stripped)) == self.text_lower

    def time_of(self, text: str) -> str | None:
        """The row's time from its DateTime/TimeStamp column; cheap when that column comes first."""
        if self.time_column is None:
            return None
        if self.time_column == 0:
            return utc_timestamp(text.split(",", 1)[0].strip('"'))
        values = split_csv(text)
        return utc_timestamp(values[self.time_column]) if self.time_column < len(values) else None


def fields_directive(raw: bytes) -> str | None:
    """The text after '#Fields:' of a directive line, else None."""
    if raw[: len(_FIELDS_PREFIX)].lower() != _FIELDS_PREFIX:
        return None
    text, _bad = decode_line(raw[len(_FIELDS_PREFIX):])
    return text.strip()


def detect_header(directives: Sequence[tuple[int, bytes]],
                  first_data: tuple[int, bytes] | None) -> CsvHeader | None:
    """The first '#Fields:' line; else the first non-'#' line when it is a list of names; else None."""
    for number, raw in directives:
        text = fields_directive(raw)
        if text:
            return CsvHeader.parse(text, "fields", number)
    if first_data is not None:
        text, _bad = decode_line(first_data[1])
        header = CsvHeader.parse(text, "bare", first_data[0])
        if looks_like_header(header.names):
            return header
    return None


def url_with_query(stem: str, query: str) -> str:
    """The request URL as rules see it: stem, plus '?' and the query when there is one."""
    query = "" if query in ("", "-") else query
    if not query:
        return stem
    return stem + query if query.startswith("?") else f"{stem}?{query}"


class CsvRowParser:
    """Turns candidate lines of one file into Records under that file's header."""

    def __init__(self, header: CsvHeader, tokens: Mapping[str, str],
                 page_on_disk: Callable[[str], bool] | None = None,
                 extra_fields: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.header = header
        self.tokens = tokens
        self.page_on_disk = page_on_disk
        self.extra_fields = extra_fields
        self._names = header.names
        self._count = len(header.names)
        self._unique = len(set(header.columns)) == self._count
        self._stem = header.columns.get("urlstem")
        self._query = header.columns.get("urlquery")
        self.short_rows = 0

    def values(self, text: str) -> list[str]:
        values = split_csv(text)
        if len(values) < self._count:
            # Older builds may lack trailing columns; a line cut short loses them too.
            self.short_rows += 1
            values.extend([""] * (self._count - len(values)))
        return values

    def fields(self, values: list[str]) -> dict[str, Any]:
        if self._unique:
            fields: dict[str, Any] = dict(zip(self._names, values, strict=False))
        else:
            # A repeated column name keeps its first value (columns are found by name).
            fields = {}
            for name, value in zip(self._names, values, strict=False):
                fields.setdefault(name, value)
        if len(values) > self._count:
            fields[EXTRA_FIELD] = values[self._count:]
        return fields

    def record(self, text: str) -> tuple[Record, str | None] | None:
        """The row's Record and time, or None for the header row itself."""
        if self.header.is_header_row(text):
            return None
        values = self.values(text)
        fields = self.fields(values)
        column = self.header.time_column
        time = utc_timestamp(values[column]) if column is not None else None
        if self.extra_fields is not None:
            self.extra_fields(fields)
        virtual: dict[str, Callable[[], Any]] = {"line": lambda: text}
        if self._stem is not None:
            stem = values[self._stem]
            query = values[self._query] if self._query is not None else ""
            virtual["uri"] = lambda: url_with_query(stem, query)
            page_on_disk = self.page_on_disk
            virtual["page_on_disk"] = lambda: "true" if page_on_disk is not None and page_on_disk(stem) else "false"
        return Record(fields, self.tokens, virtual), time
