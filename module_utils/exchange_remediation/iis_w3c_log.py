"""IIS W3C extended logs: '#Fields' blocks, space-separated rows, '-' for empty.

IIS writes a new directive block whenever logging restarts (an iisreset, a changed field set), also
in the middle of a file, so each row is read under the latest '#Fields' line above it
(log-formats.md §7). Values never contain spaces (IIS writes '+'), so a row splits on whitespace.
'date' and 'time' are UTC. Virtual fields: 'uri' (stem, plus '?' and the query when there is one),
'page_on_disk' (the requested page exists in the evidence) and 'line' (the raw row).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .exchange_csv_log import decode_line, url_with_query, utc_timestamp
from .hunt_record import Record

_FIELDS = b"#fields:"
_DATE = b"#date:"


@dataclass(frozen=True)
class W3cFields:
    """One '#Fields' line: the names and where the columns the parser itself needs are."""

    line: int
    names: tuple[str, ...]
    columns: dict[str, int] = field(init=False)
    unique: bool = field(init=False)

    def __post_init__(self) -> None:
        columns: dict[str, int] = {}
        for position, name in enumerate(self.names):
            columns.setdefault(name.lower(), position)
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "unique", len(columns) == len(self.names))

    @classmethod
    def parse(cls, text: str, line: int = 0) -> W3cFields:
        """From the text after '#Fields:' (or a whole '#Fields: …' line)."""
        if text[:8].lower() == "#fields:":
            text = text[8:]
        return cls(line, tuple(text.split()))


@dataclass
class W3cLayout:
    """The '#Fields' (and '#Date') directives of one file, looked up by line number."""

    blocks: list[W3cFields] = field(default_factory=list)
    dates: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def from_directives(cls, directives: Sequence[tuple[int, bytes]]) -> W3cLayout:
        layout = cls()
        for number, raw in sorted(directives):
            start = raw[:8].lower()
            if start == _FIELDS:
                text, _bad = decode_line(raw[8:])
                if text.split():
                    layout.blocks.append(W3cFields(number, tuple(text.split())))
            elif start[:6] == _DATE:
                text, _bad = decode_line(raw[6:])
                stamp = utc_timestamp(text.strip())
                if stamp:
                    layout.dates.append((number, stamp[:10]))
        return layout

    def at(self, line: int) -> W3cFields | None:
        """The latest '#Fields' above this line (None before the first one)."""
        position = bisect.bisect_left([block.line for block in self.blocks], line)
        return self.blocks[position - 1] if position else None

    def date_at(self, line: int) -> str | None:
        position = bisect.bisect_left([number for number, _day in self.dates], line)
        return self.dates[position - 1][1] if position else None


def split_w3c(text: str) -> list[str]:
    return text.split()


class IisRowParser:
    """Turns candidate rows of one file into Records under the '#Fields' block each row belongs to."""

    def __init__(self, layout: W3cLayout, tokens: Mapping[str, str], default: W3cFields | None = None,
                 page_on_disk: Callable[[str], bool] | None = None) -> None:
        self.layout = layout
        self.tokens = tokens
        self.default = default
        self.page_on_disk = page_on_disk
        self._lines = [block.line for block in layout.blocks]

    def fields_at(self, line: int) -> W3cFields | None:
        position = bisect.bisect_left(self._lines, line)
        return self.layout.blocks[position - 1] if position else self.default

    def time_of(self, line: int, text: str) -> str | None:
        names = self.fields_at(line)
        if names is None:
            return None
        return self._time(names, line, split_w3c(text))

    def _time(self, names: W3cFields, line: int, values: list[str]) -> str | None:
        time_column = names.columns.get("time")
        if time_column is None or time_column >= len(values):
            return None
        date_column = names.columns.get("date")
        if date_column is not None and date_column < len(values):
            day = values[date_column]
        else:
            # Without a 'date' column the row's day is that of the block's '#Date' directive.
            day = self.layout.date_at(line) or ""
        clock = values[time_column]
        if len(day) == 10 and len(clock) == 8 and day[4] == "-" and clock[2] == ":" and day[:4].isdigit():
            return f"{day}T{clock}Z"  # the common case, without a regex
        return utc_timestamp(f"{day}T{clock}")

    def record(self, line: int, text: str) -> tuple[Record, str | None] | None:
        """The row's Record and time; None when no '#Fields' applies to the line."""
        names = self.fields_at(line)
        if names is None:
            return None
        values = split_w3c(text)
        count = len(names.names)
        cleaned = ["" if value == "-" else value for value in values[:count]]
        if len(cleaned) < count:
            cleaned.extend([""] * (count - len(cleaned)))
        if names.unique:
            fields: dict[str, Any] = dict(zip(names.names, cleaned, strict=True))
        else:
            fields = {}
            for name, value in zip(names.names, cleaned, strict=True):
                fields.setdefault(name, value)
        if len(values) > count:
            fields["extra"] = values[count:]
        stem_column = names.columns.get("cs-uri-stem")
        query_column = names.columns.get("cs-uri-query")
        stem = cleaned[stem_column] if stem_column is not None else ""
        query = cleaned[query_column] if query_column is not None else ""
        page_on_disk = self.page_on_disk
        virtual: dict[str, Callable[[], Any]] = {
            "line": lambda: text,
            "uri": lambda: url_with_query(stem, query),
            "page_on_disk": lambda: "true" if page_on_disk is not None and page_on_disk(stem) else "false",
        }
        return Record(fields, self.tokens, virtual), self._time(names, line, values)
