"""Compile the condition language of the hunt rules (docs/hunt-rules.md) into Python callables.

A condition is data, never code: `all`/`any`/`not` over leaves `{field, <op>: value, decode}`.
Compilation validates every operator and value once, so a bad rule fails when the rule set is
loaded, not halfway through a hunt. Evaluation runs on every candidate line of every log, so the
work is done up front: constants are lower-cased (and user-agent normalised) once, `like`
patterns become plain `==`/startswith/endswith/`in` tests unless they need a regex, values are
decoded once per record and field (Record.cache), and constants holding path tokens (<EX> ...)
are resolved once per server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from .hunt_record import DEFAULT_TOKENS, Record

Condition = Callable[[Record], bool]
_Test = Callable[[str], bool]

OPERATORS = (
    "equals", "in", "like", "like_any", "regex", "contains", "contains_any", "contains_all",
    "starts_with", "ends_with", "empty", "in_list",
)
DECODES = ("none", "url", "ua")
TOKENS = tuple(DEFAULT_TOKENS)
_TOKEN_RE = re.compile("|".join(re.escape(token) for token in TOKENS))
# Something that looks like a token but is not one is a typo in a rule (<EXCH>, <WIN>), while
# lower-case markup such as <script> or the log placeholder <empty> is ordinary text.
_TOKEN_LIKE = re.compile(r"<[A-Z][A-Z0-9_]+>")
_URL_ROUNDS = 3
_MANY = 6  # from this many literals a single compiled regex beats a Python loop


class ConditionError(ValueError):
    """A condition is malformed; the message says where (e.g. 'condition.all[1].like')."""


# ---------------------------------------------------------------- value transformations


def url_decode(value: str) -> str:
    """Percent-decode until stable, at most three rounds; '+' stays '+' (it is not a space in paths)."""
    for _ in range(_URL_ROUNDS):
        if "%" not in value:
            break
        decoded = unquote(value, errors="replace")
        if decoded == value:
            break
        value = decoded
    return value


def ua_normalise(value: str) -> str:
    """Lower-case, '+' and ',' to spaces, whitespace collapsed: IIS writes spaces as '+', HttpProxy
    and Rps logs replace commas with spaces, so one user agent reads the same in every log."""
    return " ".join(value.lower().replace("+", " ").replace(",", " ").split())


def _transform(decode: str, lowered: bool) -> Callable[[str], str]:
    if decode == "ua":
        return ua_normalise  # lower-cases too; the regex operator is case-insensitive anyway
    if decode == "url":
        return (lambda value: url_decode(value).lower()) if lowered else url_decode
    return str.lower if lowered else (lambda value: value)


def _constant(decode: str) -> Callable[[str], str]:
    """How a constant of a comparison is prepared: the same normalisation as the value."""
    return ua_normalise if decode == "ua" else str.lower


def substitute_tokens(text: str, tokens: Mapping[str, str], *, escape: bool = False) -> str:
    """Replace <EX>, <SYS>, ... by the server's values (defaults for any the server lacks)."""
    def value(match: re.Match[str]) -> str:
        resolved = tokens.get(match.group(0)) or DEFAULT_TOKENS[match.group(0)]
        return re.escape(resolved) if escape else resolved
    return _TOKEN_RE.sub(value, text)


# ---------------------------------------------------------------- like (PowerShell -like)


def like_regex(pattern: str) -> str:
    """Regex source for a -like pattern: '*' any run (slashes included), '?' one character; every
    other character is literal, '[' too (attack values such as 'ServerInfo~a]@' carry brackets)."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


class LikeSet:
    """A set of lower-cased -like patterns, matched whole-value against a lower-cased value.

    Patterns are sorted by shape so most need no regex: no wildcard -> set lookup, 'abc*' ->
    startswith, '*abc' -> endswith, '*abc*' -> substring; the rest share one compiled regex.
    """

    __slots__ = ("_contains", "_exact", "_prefixes", "_regex", "_suffixes", "match")

    def __init__(self, patterns: Iterable[str]) -> None:
        exact: set[str] = set()
        prefixes: list[str] = []
        suffixes: list[str] = []
        contains: list[str] = []
        regexes: list[str] = []
        for pattern in patterns:
            if "*" not in pattern and "?" not in pattern:
                exact.add(pattern)
                continue
            parts = pattern.split("*")
            if "?" in pattern or len(parts) > 3:
                regexes.append(like_regex(pattern))
            elif len(parts) == 2 and parts[1] == "":
                prefixes.append(parts[0])
            elif len(parts) == 2 and parts[0] == "":
                suffixes.append(parts[1])
            elif len(parts) == 3 and parts[0] == "" and parts[2] == "":
                contains.append(parts[1])
            else:
                regexes.append(like_regex(pattern))
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)
        self._suffixes = tuple(suffixes)
        self._contains = tuple(contains)
        self._regex = re.compile("|".join(f"(?:{r})" for r in regexes), re.S) if regexes else None
        self.match = self._pick()

    def _pick(self) -> _Test:
        # One specialised test when the set has a single shape (the common case for rule leaves).
        exact, prefixes, suffixes, contains, regex = (
            self._exact, self._prefixes, self._suffixes, self._contains, self._regex)
        shapes = sum(bool(x) for x in (exact, prefixes, suffixes, contains, regex))
        if shapes == 1:
            if exact:
                if len(exact) == 1:
                    (only,) = exact
                    return only.__eq__
                return exact.__contains__
            if prefixes:
                return lambda value: value.startswith(prefixes)
            if suffixes:
                return lambda value: value.endswith(suffixes)
            if contains:
                if len(contains) == 1:
                    needle = contains[0]
                    return lambda value: needle in value
                return lambda value: any(needle in value for needle in contains)
            assert regex is not None
            return lambda value: regex.fullmatch(value) is not None
        return self._general

    def _general(self, value: str) -> bool:
        if value in self._exact:
            return True
        if self._prefixes and value.startswith(self._prefixes):
            return True
        if self._suffixes and value.endswith(self._suffixes):
            return True
        if self._contains and any(needle in value for needle in self._contains):
            return True
        return self._regex is not None and self._regex.fullmatch(value) is not None


def like(value: str, pattern: str) -> bool:
    """PowerShell `value -like pattern` (case-insensitive, '[' literal). For tests and one-offs."""
    return LikeSet([pattern.lower()]).match(value.lower())


# ---------------------------------------------------------------- compilation


def _where(path: str, key: str) -> str:
    return f"{path}.{key}"


def _string(value: Any, where: str) -> str:
    # YAML reads 200 and true as int/bool; a status code or flag written bare means its text.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        text = str(value)
        if _TOKEN_LIKE.search(text) and not all(tok in TOKENS for tok in _TOKEN_LIKE.findall(text)):
            unknown = [tok for tok in _TOKEN_LIKE.findall(text) if tok not in TOKENS]
            raise ConditionError(f"{where}: unknown token {unknown[0]} (known: {', '.join(TOKENS)})")
        return text
    raise ConditionError(f"{where}: expected a string, got {type(value).__name__}")


def _strings(value: Any, where: str, *, allow_single: bool = False) -> list[str]:
    if allow_single and isinstance(value, (str, int)) and not isinstance(value, bool):
        return [_string(value, where)]
    if not isinstance(value, list) or not value:
        raise ConditionError(f"{where}: expected a non-empty list of strings")
    return [_string(item, f"{where}[{index}]") for index, item in enumerate(value)]


def _with_tokens(constants: Sequence[str]) -> bool:
    return any(_TOKEN_RE.search(constant) for constant in constants)


class _TokenBound:
    """A test whose constants hold path tokens, built once per distinct token mapping.

    The engine passes the same mapping object for every record of a server, so the mapping's
    identity is the key; the entry holds a reference to it, so that identity is not reused.
    """

    __slots__ = ("_build", "_cache")

    def __init__(self, build: Callable[[Mapping[str, str]], _Test]) -> None:
        self._build = build
        self._cache: dict[int, tuple[Mapping[str, str], _Test]] = {}

    def get(self, tokens: Mapping[str, str]) -> _Test:
        entry = self._cache.get(id(tokens))
        if entry is not None and entry[0] is tokens:
            return entry[1]
        if len(self._cache) > 64:
            self._cache.clear()
        test = self._build(tokens)
        self._cache[id(tokens)] = (tokens, test)
        return test


def _contains_test(needles: Sequence[str]) -> _Test:
    if len(needles) == 1:
        needle = needles[0]
        return lambda value: needle in value
    if len(needles) >= _MANY:
        pattern = re.compile("|".join(re.escape(needle) for needle in needles), re.S)
        return lambda value: pattern.search(value) is not None
    items = tuple(needles)
    return lambda value: any(needle in value for needle in items)


def _test_builder(op: str, raw: Any, decode: str, lists: Mapping[str, Sequence[str]], where: str
                  ) -> tuple[list[str], Callable[[list[str]], _Test]]:
    """The constants of a leaf (before token substitution) and how to build its test from them."""
    prep = _constant(decode)
    if op == "equals":
        def build_equals(values: list[str]) -> _Test:
            return prep(values[0]).__eq__
        return [_string(raw, where)], build_equals
    if op == "in":
        def build_in(values: list[str]) -> _Test:
            return frozenset(prep(value) for value in values).__contains__
        return _strings(raw, where), build_in
    if op in ("like", "like_any", "in_list"):
        if op == "like":
            patterns = [_string(raw, where)]
        elif op == "like_any":
            patterns = _strings(raw, where)
        else:
            name = _string(raw, where)
            if name not in lists:
                raise ConditionError(f"{where}: unknown list {name!r} (known: {', '.join(sorted(lists)) or 'none'})")
            patterns = [_string(entry, f"{where}[{name}]") for entry in lists[name]]

        def build_like(values: list[str]) -> _Test:
            return LikeSet(prep(value) for value in values).match
        return patterns, build_like
    if op == "regex":
        source = _string(raw, where)
        try:
            re.compile(_TOKEN_RE.sub("x", source), re.I)
        except re.error as exc:
            raise ConditionError(f"{where}: invalid regex {source!r}: {exc}") from exc

        def build_regex(values: list[str]) -> _Test:
            pattern = re.compile(values[0], re.I | re.S)
            return lambda value: pattern.search(value) is not None
        return [source], build_regex
    if op in ("contains", "contains_any", "contains_all"):
        needles = [_string(raw, where)] if op == "contains" else _strings(raw, where)

        def build_contains(values: list[str]) -> _Test:
            prepared = [prep(value) for value in values]
            if op != "contains_all":
                return _contains_test(prepared)
            return lambda value: all(needle in value for needle in prepared)
        return needles, build_contains
    if op in ("starts_with", "ends_with"):
        affixes = _strings(raw, where, allow_single=True)

        def build_affix(values: list[str]) -> _Test:
            prepared = tuple(prep(value) for value in values)
            if op == "starts_with":
                return lambda value: value.startswith(prepared)
            return lambda value: value.endswith(prepared)
        return affixes, build_affix
    raise ConditionError(f"{where}: unknown operator {op!r}")


def _compile_leaf(node: Mapping[str, Any], lists: Mapping[str, Sequence[str]], where: str) -> Condition:
    field = node.get("field")
    if not isinstance(field, str) or not field.strip():
        raise ConditionError(f"{where}.field: a leaf needs a field name")
    decode = node.get("decode", "none")
    if decode not in DECODES:
        raise ConditionError(f"{where}.decode: {decode!r} is not one of {', '.join(DECODES)}")
    ops = [key for key in node if key not in ("field", "decode")]
    unknown = [key for key in ops if key not in OPERATORS]
    if unknown:
        raise ConditionError(f"{where}: unknown operator {unknown[0]!r} (known: {', '.join(OPERATORS)})")
    if len(ops) != 1:
        raise ConditionError(f"{where}: a leaf needs exactly one operator, found {len(ops)} ({', '.join(ops)})")
    op = ops[0]
    op_where = _where(where, op)
    # Look the field up as the rule spells it (the header's spelling: an exact dict hit); the
    # per-record cache is keyed case-insensitively.
    name = field
    lowered_name = field.lower()

    if op == "empty":
        want = node[op]
        if not isinstance(want, bool):
            raise ConditionError(f"{op_where}: expected true or false")
        transform = _transform(decode, True)

        def is_empty(record: Record) -> bool:
            raw = record.get(name)
            values = (raw,) if isinstance(raw, str) else raw
            # A list (e.g. yara) is empty when it has no element that is not empty.
            empty = all(transform(value).strip() in ("", "-") for value in values)
            return empty is want
        return is_empty

    constants, build = _test_builder(op, node[op], decode, lists, op_where)
    lowered = op != "regex"
    transform = _transform(decode, lowered)
    key = (lowered_name, decode, lowered)

    def values_of(record: Record) -> tuple[str, ...]:
        cache = record.cache
        values = cache.get(key)
        if values is None:
            raw = record.get(name)
            values = (transform(raw),) if isinstance(raw, str) else tuple(transform(item) for item in raw)
            cache[key] = values
        return values

    if not _with_tokens(constants):
        test = build(constants)

        def leaf(record: Record) -> bool:
            # Explicit loops here and below: any()/all() over a generator cost more per record.
            for value in values_of(record):  # noqa: SIM110
                if test(value):
                    return True
            return False
        return leaf

    escape = op == "regex"
    bound = _TokenBound(lambda tokens: build([substitute_tokens(c, tokens, escape=escape) for c in constants]))

    def token_leaf(record: Record) -> bool:
        test = bound.get(record.tokens)
        for value in values_of(record):  # noqa: SIM110
            if test(value):
                return True
        return False
    return token_leaf


def _all(children: list[Condition]) -> Condition:
    if len(children) == 1:
        return children[0]
    if len(children) == 2:
        first, second = children
        return lambda record: first(record) and second(record)
    items = tuple(children)

    def every(record: Record) -> bool:
        for child in items:  # noqa: SIM110
            if not child(record):
                return False
        return True
    return every


def _any(children: list[Condition]) -> Condition:
    if len(children) == 1:
        return children[0]
    if len(children) == 2:
        first, second = children
        return lambda record: first(record) or second(record)
    items = tuple(children)

    def some(record: Record) -> bool:
        for child in items:  # noqa: SIM110
            if child(record):
                return True
        return False
    return some


def compile_condition(node: Any, lists: Mapping[str, Sequence[str]] | None = None,
                      where: str = "condition") -> Condition:
    """Compile a condition tree into `(Record) -> bool`; raises ConditionError naming the spot."""
    lists = lists or {}
    if not isinstance(node, Mapping) or not node:
        raise ConditionError(f"{where}: expected a mapping (all/any/not or a leaf with field)")
    combinators = [key for key in ("all", "any", "not") if key in node]
    if combinators:
        if len(node) != 1:
            raise ConditionError(f"{where}: {combinators[0]!r} cannot be combined with other keys ({', '.join(node)})")
        key = combinators[0]
        if key == "not":
            inner = compile_condition(node["not"], lists, _where(where, "not"))
            return lambda record: not inner(record)
        children = node[key]
        if not isinstance(children, list) or not children:
            raise ConditionError(f"{where}.{key}: expected a non-empty list of conditions")
        compiled = [compile_condition(child, lists, f"{where}.{key}[{i}]") for i, child in enumerate(children)]
        return _all(compiled) if key == "all" else _any(compiled)
    if "field" not in node:
        raise ConditionError(f"{where}: expected all/any/not or a leaf with field (got {', '.join(map(str, node))})")
    return _compile_leaf(node, lists, where)


def condition_fields(node: Any) -> set[str]:
    """Lower-cased names of the fields a (valid) condition reads."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if not isinstance(item, Mapping):
            continue
        if "field" in item and isinstance(item["field"], str):
            found.add(item["field"].lower())
        for key in ("all", "any"):
            if isinstance(item.get(key), list):
                stack.extend(item[key])
        if "not" in item:
            stack.append(item["not"])
    return found


def condition_lists(node: Any) -> set[str]:
    """Names of the lists a condition refers to with in_list."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if not isinstance(item, Mapping):
            continue
        if isinstance(item.get("in_list"), str):
            found.add(item["in_list"])
        for key in ("all", "any"):
            if isinstance(item.get(key), list):
                stack.extend(item[key])
        if "not" in item:
            stack.append(item["not"])
    return found
