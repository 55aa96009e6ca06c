"""One parsed piece of evidence (a log row, an event, a file) as the hunt rules see it.

Field names are case-insensitive because Windows tools are (log headers differ in case between
builds and third-party tools: BackEndCookie / BackendCookie). Virtual fields (an IIS row's `uri`,
`page_on_disk`, a cmdlet's `param.<Name>`) are computed only when a rule asks for them, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# Token defaults (hunt-spec section 1); the engine passes the per-server values, these fill gaps.
DEFAULT_TOKENS: Mapping[str, str] = {
    "<EX>": "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\",
    "<SYS>": "C:",
    "<WWW>": "C:\\inetpub\\wwwroot",
    "<IISLOG>": "C:\\inetpub\\logs\\LogFiles",
    "<WINDIR>": "C:\\Windows",
    "<PROGRAMDATA>": "C:\\ProgramData",
}


def _normalise(value: Any) -> str | list[str]:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return ["" if item is None else str(item) for item in value]
    if isinstance(value, bool):
        # JSON/YAML booleans read as the strings rules compare with ('true'/'false').
        return "true" if value else "false"
    return str(value)


class Record:
    """Case-insensitive field access with lazily computed virtual fields.

    `cache` is scratch space for the condition evaluator (decoded values per field), so a value
    that several leaves of one rule - or several rules - look at is decoded once per record.
    """

    __slots__ = ("_fields", "_lower", "_values", "_virtual", "cache", "tokens")

    def __init__(
        self,
        fields: Mapping[str, Any],
        tokens: Mapping[str, str],
        virtual: Mapping[str, Callable[[], Any]] | None = None,
    ) -> None:
        self._fields = fields
        self._lower: dict[str, Any] | None = None
        self._values: dict[str, str | list[str]] = {}
        self._virtual = {name.lower(): compute for name, compute in virtual.items()} if virtual else {}
        self.tokens = tokens
        self.cache: dict[Any, Any] = {}

    def get(self, name: str) -> str | list[str]:
        """The value of a field ('' when absent); a list for list-valued fields such as `yara`."""
        key = name.lower()
        known = self._values.get(key)
        if known is not None:
            return known
        # Rules spell fields as the headers do, so the exact name nearly always hits; virtual
        # fields come next, and only then is a lower-cased copy of the fields built (once).
        if name in self._fields:
            raw = self._fields[name]
        elif key in self._virtual:
            raw = self._virtual[key]()
        else:
            if self._lower is None:
                self._lower = {str(field).lower(): value for field, value in self._fields.items()}
            raw = self._lower.get(key)
        value = _normalise(raw)
        self._values[key] = value
        return value

    def has(self, name: str) -> bool:
        """Whether the field exists (concrete or virtual), whatever its value."""
        key = name.lower()
        if name in self._fields or key in self._virtual:
            return True
        if self._lower is None:
            self._lower = {str(field).lower(): value for field, value in self._fields.items()}
        return key in self._lower

    def fields(self) -> dict[str, Any]:
        """The concrete fields, as given (for reports); virtual fields are not included."""
        return dict(self._fields)

    def __repr__(self) -> str:
        return f"Record({dict(self._fields)!r})"
