"""Literal prefilter over one log file: the few lines worth parsing, plus what coverage needs.

Logs run to gigabytes; parsing every CSV/W3C row in Python would cost minutes per server. Every
rule names literal strings that any line it can hit must contain (hunt-spec section 1), so the
file is read in binary chunks, each run of whole lines is lower-cased once and searched for the
literals at C speed (bytes.find, or one compiled regex for many literals: see plan_search), and
only the lines around a hit are cut out. Lines are never split one by one, and line numbers are
counted between hits with bytes.count. Memory stays bounded whatever the file: one chunk and its
lower-cased copy, a bounded prefix of an over-long line, and capped result lists.

Matching is ASCII case-insensitive (bytes.lower on both sides): Windows tools compare these
values case-insensitively, and the literals rules use are ASCII.

When the yara-x package is there (it is a requirement, for the webshell signatures), the literals
are searched with it instead: one Aho-Corasick pass in Rust over megabyte regions finds every
literal at once, about three times the speed of the passes above. Its ``nocase`` is the same ASCII
case folding, so both searches find exactly the same lines (the tests run both against a naive
reference); the Python search remains for machines without yara-x and for literal sets it refuses.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

BOM = b"\xef\xbb\xbf"
NL = 0x0A
CR = 0x0D
HASH = 0x23
# Over-long lines are named one by one up to this many; the rest are summed up in one warning.
MAX_LONG_LINE_WARNINGS = 10
# Budget for the bytes kept in `candidates` and (separately) in `directives`: a file of 100,000
# one-megabyte matching lines must not need 100 GB.
MAX_KEPT_BYTES = 64 << 20
# Literal search works on blocks of about this many bytes, which stay in the CPU cache across the
# passes over them (measured: reading and searching 64 KiB at a time beats 8 MiB by 25-30%).
SEARCH_BLOCK = 64 << 10
# Bytes of the first region that the search plan is made from (see plan_search).
SAMPLE_BYTES = 64 << 10
# Costs on one core (CPython 3.11, measured on HttpProxy and IIS logs) that split the literals
# between bytes.find passes and anchored-regex passes (see plan_search): ms per MiB of one pass;
# ns per occurrence of a regex's anchor byte; ns per occurrence where the byte after the anchor
# also fits, so that the regex engine must look further.
COST_FIND = 0.35
COST_REGEX_PASS = 0.55
COST_ANCHOR_NS = 10.0
COST_DEEPER_NS = 40.0
# Plans are cached per literal set: every file of a stream gets the same literals, and the
# statistics of one file of a stream fit the others well enough (a plan only affects speed).
_PLANS: dict[tuple, SearchPlan] = {}
MAX_PLANS = 64
MIN_PLAN_SAMPLE = 4096
# From a sample of MIN_PLAN_SAMPLE bytes on, the best-ranked regex candidates (this many per step)
# are timed on the sample.
MEASURE_PLANS = True
MEASURED_CANDIDATES = 8


@dataclass
class ScannedFile:
    """What the hunt needs from one log file without parsing it all (hunt-spec section 3).

    Line numbers are 1-based. Lines carry neither EOL nor trailing CR, and line 1 no UTF-8 BOM.
    `first_data`/`last_data` are the first/last non-blank lines not starting with '#'; a Layout B
    bare header on line 1 (equal to a later '#Fields:' value) is not data, so the timestamps the
    engine reads from them are real row times.
    """

    lines: int = 0
    bytes: int = 0
    first_line: tuple[int, bytes] | None = None
    directives: list[tuple[int, bytes]] = field(default_factory=list)
    candidates: list[tuple[int, bytes]] = field(default_factory=list)
    first_data: tuple[int, bytes] | None = None
    last_data: tuple[int, bytes] | None = None
    warnings: list[str] = field(default_factory=list)
    capped: bool = False
    # With the yara-x search: per candidate, bit i set when literals[i] of the call is on the line
    # (0 = not known, e.g. a streamed over-long line). Lets the engine skip testing every literal
    # again; not part of what the two searches must agree on.
    candidate_masks: list[int] | None = field(default=None, compare=False)


def prepare_literals(literals: Sequence[str | bytes]) -> tuple[bytes, ...]:
    """Lower-cased UTF-8 literals, deduplicated, without those that contain a shorter one.

    A line holding 'serverinfo~x' also holds 'serverinfo~', so the longer literal adds nothing.
    A literal with a line break could never match a line: that is a rule error, not content.
    """
    encoded = set()
    for literal in literals:
        raw = literal if isinstance(literal, bytes) else literal.encode("utf-8")
        if b"\n" in raw or b"\r" in raw:
            raise ValueError(f"prefilter literal {literal!r} contains a line break")
        encoded.add(raw.lower())
    ordered = sorted(encoded, key=lambda lit: (len(lit), lit))
    kept: list[bytes] = []
    for lit in ordered:
        if not any(shorter in lit for shorter in kept):
            kept.append(lit)
    return tuple(kept)


@dataclass(frozen=True)
class SearchPlan:
    """How one file's literals are searched in each lower-cased block.

    `finds`: one bytes.find pass each (C speed, but one pass per literal). `groups`: one compiled
    regex per anchor byte, matching every literal of the group: CPython's regex engine scans for a
    pattern's literal first byte in a tight C loop and at each occurrence rejects the alternatives
    on their next byte, so one pass finds a dozen literals for little more than one find costs
    (measured: about 0.55 ms/MiB per pass plus about 10 ns per anchor occurrence, whatever the
    number of alternatives). Both match exactly; a line is a candidate when either reports it.
    """

    finds: tuple[bytes, ...] = ()
    groups: tuple[re.Pattern[bytes], ...] = ()


def _trie(entries: list[tuple[bytes, bytes | None]]) -> bytes:
    """Regex source matching any entry's rest followed by its look-behind (None: nothing to check).

    Built as a trie so that at each step the regex engine rejects all but one branch on one byte.
    """
    if any(not rest and behind is None for rest, behind in entries):
        return b""
    if len(entries) == 1:
        # A single path: no branching left (and no recursion as deep as a long literal).
        rest, behind = entries[0]
        return re.escape(rest) + (b"(?<=" + re.escape(behind) + b")" if behind is not None else b"")
    children: dict[int, list[tuple[bytes, bytes | None]]] = {}
    behinds = []
    for rest, behind in entries:
        if rest:
            children.setdefault(rest[0], []).append((rest[1:], behind))
        elif behind not in behinds:
            behinds.append(behind)
    alternatives = [re.escape(bytes((byte,))) + _trie(children[byte]) for byte in sorted(children)]
    alternatives += [b"(?<=" + re.escape(behind) + b")" for behind in behinds if behind is not None]
    if len(alternatives) == 1:
        return alternatives[0]
    return b"(?:" + b"|".join(alternatives) + b")"


def _group_entries(anchor: int, literals: Sequence[bytes]) -> list[tuple[bytes, bytes | None]]:
    # Each literal is matched from its first anchor byte on; what comes before is a look-behind.
    entries = []
    for lit in literals:
        at = lit.index(anchor)
        entries.append((lit[at + 1:], lit if at else None))
    return entries


def _seconds(run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return best


def _find_all(text: bytes, lit: bytes) -> None:
    # What the scan does per literal: find, skip to the end of the line, find again.
    find = text.find
    pos = find(lit)
    while pos != -1:
        pos = find(lit, find(b"\n", pos) + 1)


def _search_all(text: bytes, pattern: re.Pattern[bytes]) -> None:
    search = pattern.search
    match = search(text)
    while match is not None:
        match = search(text, text.find(b"\n", match.start()) + 1)


def plan_search(literals: Sequence[bytes], sample: bytes) -> SearchPlan:
    """Split (prepared) literals between find passes and regex groups, given a lower-cased sample.

    Greedy: while some byte, used as the anchor of one regex over every remaining literal that
    contains it, costs less than the find passes of those literals, take the best such byte. The
    candidates are ranked by a model (how often the anchor occurs in the sample, and how often the
    byte after it is one a literal continues with); with a sample of MIN_PLAN_SAMPLE bytes or more,
    the best-ranked ones and the finds are then timed on the sample itself, because how deep the
    regex engine must look at each anchor depends on the text more than a model can tell. Only
    speed depends on the plan: every plan finds exactly the same lines.
    """
    remaining = [lit for lit in literals if len(lit) > 1]
    if len(remaining) < 2:
        return SearchPlan(finds=tuple(literals))
    measure = MEASURE_PLANS and len(sample) >= MIN_PLAN_SAMPLE
    key = (tuple(literals), measure, COST_FIND, COST_REGEX_PASS, COST_ANCHOR_NS, COST_DEEPER_NS)
    cached = _PLANS.get(key)
    if cached is not None:
        return cached
    scale = (1 << 20) / max(1, len(sample))
    counts: dict[bytes, float] = {}

    def per_mib(text: bytes) -> float:
        if text not in counts:
            counts[text] = sample.count(text) * scale
        return counts[text]

    find_cost = {lit: _seconds(lambda lit=lit: _find_all(sample, lit)) for lit in remaining} if measure else {}
    groups = []
    while len(remaining) > 1:
        ranked = []
        for byte in sorted({byte for lit in remaining for byte in lit}):
            members = [lit for lit in remaining if byte in lit]
            if len(members) < 2:
                continue
            anchor = bytes((byte,))
            occurrences = per_mib(anchor)
            entries = _group_entries(byte, members)
            deeper = sum(per_mib(anchor + bytes((follow,))) for follow in {rest[0] for rest, _ in entries if rest})
            deeper += occurrences * sum(1 for rest, _ in entries if not rest)
            cost = COST_REGEX_PASS + (occurrences * COST_ANCHOR_NS + deeper * COST_DEEPER_NS) / 1e6
            ranked.append((COST_FIND * len(members) - cost, byte, members))
        ranked.sort(key=lambda item: (-item[0], item[1]))
        best: tuple[float, re.Pattern[bytes], list[bytes]] | None = None
        for model_saving, byte, members in ranked[:MEASURED_CANDIDATES] if measure else ranked[:1]:
            pattern = re.compile(re.escape(bytes((byte,))) + _trie(_group_entries(byte, members)))
            if measure:
                saving = sum(find_cost[lit] for lit in members) - _seconds(lambda p=pattern: _search_all(sample, p))
            else:
                saving = model_saving
            if saving > 0 and (best is None or saving > best[0]):
                best = (saving, pattern, members)
        if best is None:
            break
        groups.append(best[1])
        remaining = [lit for lit in remaining if lit not in best[2]]
    plan = SearchPlan(finds=tuple(lit for lit in literals if len(lit) == 1) + tuple(remaining), groups=tuple(groups))
    if len(sample) >= MIN_PLAN_SAMPLE:
        if len(_PLANS) >= MAX_PLANS:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


class _LongLine:
    """A line too long to hold in the read buffer: its first bytes, its length, whether it hit."""

    __slots__ = ("found", "kept", "last", "number", "raw_len", "tail")

    def __init__(self, number: int) -> None:
        self.number = number
        self.kept = bytearray()
        self.raw_len = 0
        self.last = -1
        self.found = False
        self.tail = b""


# Search with yara-x when it can be imported; tests switch it off to cover the Python search.
USE_YARA = True
# Region size for the yara-x search: each scan call has a fixed cost, so regions are large.
YARA_CHUNK = 4 << 20
_YARA_PLAIN = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _yara_text(literal: bytes) -> str:
    """A YARA text string holding exactly these bytes: anything but letters and digits as \\xNN."""
    return "".join(chr(byte) if byte in _YARA_PLAIN else f"\\x{byte:02x}" for byte in literal)


@functools.lru_cache(maxsize=64)
def _yara_rules(literals: tuple[bytes, ...]) -> object | None:
    try:
        import yara_x
    except ImportError:
        return None
    strings = "\n".join(f'    $l{index} = "{_yara_text(lit)}" nocase' for index, lit in enumerate(literals))
    try:
        return yara_x.compile(f"rule prefilter {{\n  strings:\n{strings}\n  condition:\n    any of them\n}}")
    except Exception:
        return None  # yara-x refuses some byte strings; the Python search takes any


class _Scanner:
    def __init__(self, literals: tuple[bytes, ...], max_line_bytes: int, max_candidates: int,
                 max_kept_bytes: int, keys: tuple[bytes, ...] = ()) -> None:
        self.lits = literals
        self.match_all = b"" in literals
        self.yara: object | None = None
        # yara-x searches every literal of the call (longer ones too), so each hit names its literal.
        self.yara_keys = tuple(dict.fromkeys(key for key in keys if key))
        self.yara_bits = tuple(1 << keys.index(key) for key in self.yara_keys)
        self.region_masks: dict[int, int] = {}
        if USE_YARA and literals and not self.match_all and self.yara_keys:
            rules = _yara_rules(self.yara_keys)
            if rules is not None:
                import yara_x
                self.yara = yara_x.Scanner(rules)
        self.max_lit = max((len(lit) for lit in literals), default=0)
        self.max_line = max(0, max_line_bytes)
        self.max_candidates = max(0, max_candidates)
        self.max_kept = max_kept_bytes
        self.result = ScannedFile()
        self.search_done = not literals
        self.cand_bytes = 0
        self.dir_bytes = 0
        self.dir_capped = False
        self.cap_warnings: list[str] = []
        self.long_lines: list[int] = []
        self.nul = 0
        self.second_data: tuple[int, bytes] | None = None
        self.long: _LongLine | None = None
        self.plan: SearchPlan | None = None

    # -- line routing (every kept line passes here, in file order per kind) -------------------

    def _candidate(self, number: int, content: bytes, mask: int = 0) -> None:
        if self.search_done:
            return
        res = self.result
        if len(res.candidates) >= self.max_candidates or self.cand_bytes + len(content) > self.max_kept:
            # One more candidate than can be kept: stop searching, the rest of the file is only counted.
            res.capped = True
            self.search_done = True
            self.cap_warnings.append(
                f"candidate cap reached at line {number}: kept {len(res.candidates)} candidate lines, "
                "later ones dropped")
            return
        self.cand_bytes += len(content)
        res.candidates.append((number, content))
        if res.candidate_masks is not None:
            res.candidate_masks.append(mask)

    def _directive(self, number: int, content: bytes) -> None:
        if self.dir_capped:
            return
        res = self.result
        if len(res.directives) >= self.max_candidates or self.dir_bytes + len(content) > self.max_kept:
            res.capped = True
            self.dir_capped = True
            self.cap_warnings.append(
                f"directive cap reached at line {number}: kept {len(res.directives)} directive lines, "
                "later ones dropped")
            return
        self.dir_bytes += len(content)
        res.directives.append((number, content))

    def _data(self, number: int, content: bytes) -> None:
        """A non-blank line not starting with '#' (first/last data bookkeeping only)."""
        res = self.result
        if res.first_data is None:
            res.first_data = (number, content)
        elif self.second_data is None:
            self.second_data = (number, content)
        res.last_data = (number, content)

    # -- regions of complete lines -------------------------------------------------------------

    def region(self, buf: bytes, end: int) -> None:
        """buf[0:end] is a run of complete lines (buf[end - 1] is LF) starting at a line start."""
        res = self.result
        base = res.lines
        max_line = self.max_line
        find = buf.find
        # '#' is rare inside log rows: memchr for it beats searching for the pair LF '#'.
        directives = []
        pos = find(b"#", 0, end)
        while pos != -1:
            if pos == 0 or buf[pos - 1] == NL:
                directives.append(pos)
            pos = find(b"#", pos + 1, end)
        long_starts = set()
        if end > max_line + 1:
            # Any line whose content exceeds max_line bytes covers a multiple of (max_line + 1).
            rfind = buf.rfind
            for probe in range(0, end, max_line + 1):
                if buf[probe] == NL:
                    continue
                start = rfind(b"\n", 0, probe) + 1
                line_end = find(b"\n", probe)
                stop = line_end - 1 if line_end > start and buf[line_end - 1] == CR else line_end
                if stop - start > max_line:
                    long_starts.add(start)
        hits = [] if self.search_done else self._search(buf, end)
        if res.first_data is None or self.second_data is None:
            self._first_data(buf, end, base)
        count = buf.count
        number = base + 1
        prev = 0
        if directives or long_starts:
            # Rare (a file's first region, a logging restart, a huge line): the general merge.
            ends = dict(hits)
            for start in sorted(ends.keys() | set(directives) | long_starts):
                number += count(b"\n", prev, start)
                prev = start
                line_end = ends.get(start)
                if line_end is None:
                    line_end = find(b"\n", start)
                stop = line_end - 1 if line_end > start and buf[line_end - 1] == CR else line_end
                content = buf[start:min(stop, start + max_line)]
                if start in long_starts:
                    self.long_lines.append(number)
                if buf[start] == HASH:
                    self._directive(number, content)
                elif start in ends:
                    self._candidate(number, content, self.region_masks.get(start, 0))
        else:
            # Hot path: candidate lines only, in order; line numbers counted between them.
            kept = res.candidates
            append = kept.append
            masks = res.candidate_masks
            region_masks = self.region_masks
            room = self.max_candidates - len(kept)
            budget = self.max_kept - self.cand_bytes
            for start, line_end in hits:
                number += count(b"\n", prev, start)
                prev = start
                stop = line_end - 1 if line_end > start and buf[line_end - 1] == CR else line_end
                content = buf[start:stop]
                if room <= 0 or len(content) > budget:
                    self.cand_bytes = self.max_kept - budget
                    self._candidate(number, content)  # records the cap
                    break
                append((number, content))
                if masks is not None:
                    masks.append(region_masks.get(start, 0))
                room -= 1
                budget -= len(content)
            self.cand_bytes = self.max_kept - budget
        lines = number - base - 1 + count(b"\n", prev, end)
        self._last_data(buf, end, base + lines)
        if res.first_line is None and base == 0:
            line_end = find(b"\n")
            stop = line_end - 1 if line_end > 0 and buf[line_end - 1] == CR else line_end
            res.first_line = (1, buf[:min(stop, max_line)])
        res.lines = base + lines

    def _search(self, buf: bytes, end: int) -> list[tuple[int, int]]:
        """(line start, line end) of every line of buf[0:end] holding a literal, in order.

        The region is lower-cased and searched in blocks of whole lines of about SEARCH_BLOCK
        bytes, each of which stays in the CPU cache across the passes over it.
        """
        if self.yara is not None:
            return self._search_yara(buf, end)
        if self.match_all:
            lines = []
            find = buf.find
            pos = 0
            while pos < end:
                line_end = find(b"\n", pos)
                lines.append((pos, line_end))
                pos = line_end + 1
            return lines
        plan = self.plan
        if plan is None:
            plan = self.plan = plan_search(self.lits, buf[:min(end, SAMPLE_BYTES)].lower())
        finds = plan.finds
        searches = [group.search for group in plan.groups]
        rfind = buf.rfind
        hits: list[tuple[int, int]] = []
        append = hits.append
        block = 0
        while block < end:
            stop = block + SEARCH_BLOCK
            if stop >= end:
                stop = end
            else:
                cut = rfind(b"\n", block, stop) + 1
                stop = cut if cut > block else buf.find(b"\n", stop) + 1
            text = buf[block:stop].lower()
            lfind = text.find
            lrfind = text.rfind
            for lit in finds:
                pos = lfind(lit)
                while pos != -1:
                    line_end = lfind(b"\n", pos)
                    append((block + lrfind(b"\n", 0, pos) + 1, block + line_end))
                    pos = lfind(lit, line_end + 1)
            for search in searches:
                match = search(text)
                while match is not None:
                    pos = match.start()
                    line_end = lfind(b"\n", pos)
                    append((block + lrfind(b"\n", 0, pos) + 1, block + line_end))
                    match = search(text, line_end + 1)
            block = stop
        if len(finds) + len(searches) > 1:
            # Several passes: a line may be reported twice and out of order.
            hits = sorted(dict(hits).items())
        return hits

    def _search_yara(self, buf: bytes, end: int) -> list[tuple[int, int]]:
        data = buf if end == len(buf) else buf[:end]
        scanner = self.yara
        # Every occurrence is needed to find every line: never let yara-x stop counting.
        scanner.max_matches_per_pattern(len(data) + 1)  # type: ignore[attr-defined]
        result = scanner.scan(data)  # type: ignore[attr-defined]
        bits = self.yara_bits
        offsets = sorted((match.offset, bits[int(pattern.identifier[2:])]) for rule in result.matching_rules
                         for pattern in rule.patterns for match in pattern.matches)
        find = buf.find
        rfind = buf.rfind
        hits: list[tuple[int, int]] = []
        masks: dict[int, int] = {}
        start = line_end = -1
        for pos, bit in offsets:
            if pos <= line_end:
                masks[start] |= bit  # another literal on a line already kept
                continue
            line_end = find(b"\n", pos)
            start = rfind(b"\n", 0, pos) + 1
            hits.append((start, line_end))
            masks[start] = bit
        self.region_masks = masks
        return hits

    def _first_data(self, buf: bytes, end: int, base: int) -> None:
        if self.second_data is not None:
            return
        res = self.result
        find = buf.find
        pos = 0
        number = base
        while pos < end and self.second_data is None:
            number += 1
            line_end = find(b"\n", pos)
            stop = line_end - 1 if line_end > pos and buf[line_end - 1] == CR else line_end
            if stop > pos and buf[pos] != HASH:
                content = buf[pos:min(stop, pos + self.max_line)]
                if res.first_data is None:
                    res.first_data = (number, content)
                else:
                    self.second_data = (number, content)
            pos = line_end + 1

    def _last_data(self, buf: bytes, end: int, last_number: int) -> None:
        rfind = buf.rfind
        line_end = end - 1
        while line_end >= 0:
            start = rfind(b"\n", 0, line_end) + 1
            stop = line_end - 1 if line_end > start and buf[line_end - 1] == CR else line_end
            if stop > start and buf[start] != HASH:
                # Counted back from the region's last line: cheap, the match is near the end.
                number = last_number - buf.count(b"\n", start, end) + 1
                self.result.last_data = (number, buf[start:min(stop, start + self.max_line)])
                return
            line_end = start - 1

    # -- lines longer than the read buffer ------------------------------------------------------

    def long_start(self, carry: bytes) -> None:
        self.long = _LongLine(self.result.lines + 1)
        self.long_feed(carry)

    def long_feed(self, piece: bytes) -> None:
        long = self.long
        assert long is not None
        if not piece:
            return
        if not long.found and not self.search_done:
            if self.match_all:
                long.found = True
            else:
                # The tail keeps literals that straddle two pieces findable.
                text = long.tail + piece.lower()
                long.found = any(lit in text for lit in self.lits)
                long.tail = text[-(self.max_lit - 1):] if self.max_lit > 1 else b""
        room = self.max_line + 1 - len(long.kept)
        if room > 0:
            long.kept += piece[:room]
        long.raw_len += len(piece)
        long.last = piece[-1]

    def long_end(self) -> None:
        long = self.long
        assert long is not None
        self.long = None
        res = self.result
        res.lines += 1
        size = long.raw_len - (1 if long.last == CR else 0)
        content = bytes(long.kept[:min(size, self.max_line)])
        number = long.number
        if number == 1:
            res.first_line = (1, content)
        if size > self.max_line:
            self.long_lines.append(number)
        if long.raw_len and long.kept[0] == HASH:
            self._directive(number, content)
            return
        if size > 0:
            self._data(number, content)
        if long.found:
            self._candidate(number, content)

    # -- end of file ------------------------------------------------------------------------------

    def finish(self) -> ScannedFile:
        res = self.result
        if res.first_data is not None and res.first_data[0] == 1:
            header = res.first_data[1].strip().lower()
            if any(text[:8].lower() == b"#fields:" and text[8:].strip().lower() == header
                   for _, text in res.directives):
                # Layout B: the bare CSV header on line 1 repeats #Fields; it is not a data row.
                res.first_data = self.second_data
                if res.last_data is not None and res.last_data[0] == 1:
                    res.last_data = None
        warnings = [f"line {number}: longer than {self.max_line} bytes, cut"
                    for number in self.long_lines[:MAX_LONG_LINE_WARNINGS]]
        if len(self.long_lines) > MAX_LONG_LINE_WARNINGS:
            warnings.append(f"{len(self.long_lines) - MAX_LONG_LINE_WARNINGS} more lines longer than "
                            f"{self.max_line} bytes were cut")
        warnings.extend(self.cap_warnings)
        if self.nul:
            warnings.append(f"binary data: {self.nul} NUL bytes")
        res.warnings = warnings
        return res


def scan_file(path: str, literals: Sequence[str], *, max_line_bytes: int = 1 << 20,
              max_candidates: int = 100_000, chunk_bytes: int | None = None,
              max_kept_bytes: int = MAX_KEPT_BYTES) -> ScannedFile:
    """Scan one file for lines containing any literal (ASCII case-insensitive).

    Never raises on content (binary data, no line ends, huge lines); OSError propagates.
    """
    keys = tuple((lit if isinstance(lit, bytes) else lit.encode("utf-8")).lower() for lit in literals)
    scanner = _Scanner(prepare_literals(literals), max_line_bytes, max_candidates, max_kept_bytes, keys)
    if scanner.yara is not None:
        scanner.result.candidate_masks = []
    if chunk_bytes is None:
        chunk_bytes = YARA_CHUNK if scanner.yara is not None else 64 << 10
    chunk_bytes = max(1, chunk_bytes)
    # A line whose unfinished part grows past this is streamed (prefix kept) instead of buffered.
    hold = min(max_line_bytes + 1, chunk_bytes)
    total = 0
    carry = b""
    with open(path, "rb") as handle:
        first = True
        while True:
            chunk = handle.read(chunk_bytes)
            if first:
                # Read at least the 3 bytes a BOM needs before deciding whether one is there.
                while 0 < len(chunk) < 3:
                    more = handle.read(chunk_bytes)
                    if not more:
                        break
                    chunk += more
            if not chunk:
                break
            total += len(chunk)
            if b"\x00" in chunk:
                scanner.nul += chunk.count(b"\x00")
            if first:
                first = False
                if chunk.startswith(BOM):
                    chunk = chunk[3:]
            if scanner.long is not None:
                cut = chunk.find(b"\n")
                if cut == -1:
                    scanner.long_feed(chunk)
                    continue
                scanner.long_feed(chunk[:cut])
                scanner.long_end()
                chunk = chunk[cut + 1:]
            buf = carry + chunk if carry else chunk
            end = buf.rfind(b"\n") + 1
            if end:
                scanner.region(buf, end)
                carry = buf[end:]
            else:
                carry = buf
            if len(carry) > hold:
                scanner.long_start(carry)
                carry = b""
    if scanner.long is not None:
        scanner.long_end()
    elif carry:
        scanner.region(carry + b"\n", len(carry) + 1)
    result = scanner.finish()
    result.bytes = total
    return result
