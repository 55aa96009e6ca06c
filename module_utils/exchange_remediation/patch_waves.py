"""Patch waves: which servers may be down at the same time, in the fewest waves possible.

Rules: never two members of one DAG in one wave (a peer must carry the databases), at most
``max_per_wave`` servers per wave and at most ``max_per_site`` servers of one AD site per wave.

The wave count is always the lower bound ``max(largest DAG, ceil(N / max_per_wave),
max over sites of ceil(site count / max_per_site))``, because the problem is an edge colouring:
every server is an edge between its DAG node (one member per wave) and its site node (at most
``max_per_site`` per wave). Splitting each site node of degree d into ceil(d / k) copies of
degree <= k gives a bipartite multigraph of maximum degree k, which König's theorem colours
with exactly k colours (colour = wave); each site then has at most ceil(d / k) <= max_per_site
servers per wave. Swapping the two colours along alternating paths then evens the waves out
to ceil(N / k) <= max_per_wave without breaking any of the other rules. A greedy heuristic can
miss the bound; this construction cannot.

DAG and site names are compared case-insensitively, as Exchange and AD do: "DAG01" and
"dag01" are one DAG, so its members never share a wave.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise

NO_SITE = "(no site)"


@dataclass(frozen=True)
class WaveServer:
    name: str
    dag: str | None
    site: str | None
    minutes: int = 0


@dataclass(frozen=True)
class WavePlan:
    waves: tuple[tuple[str, ...], ...]
    lower_bound: int
    limited_by: str
    # (name, minutes) sorted by name; kept so the plan can model its own window.
    server_minutes: tuple[tuple[str, int], ...] = ()

    @cached_property
    def _wave_numbers(self) -> dict[str, int]:
        return {name: number for number, wave in enumerate(self.waves, start=1) for name in wave}

    def wave_of(self, name: str) -> int:
        """1-based wave number of ``name``; KeyError for a server not in the plan."""
        try:
            return self._wave_numbers[name]
        except KeyError:
            raise KeyError(f"server {name!r} is in no wave") from None

    def modelled_minutes(self) -> int:
        """Window length if every wave lasts as long as its slowest member."""
        minutes = dict(self.server_minutes)
        return sum(max((minutes.get(name, 0) for name in wave), default=0) for wave in self.waves)

    def serial_minutes(self) -> int:
        """Window length when the servers are patched one after the other."""
        return sum(minutes for _, minutes in self.server_minutes)


def _check_limit(label: str, value: int | None) -> None:
    # bool is an int subclass; True as "1 per wave" is almost certainly a mistake.
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{label} must be a whole number >= 1 or null, got {value!r}")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _groups(servers: Sequence[WaveServer], attribute: str) -> dict[object, list[int]]:
    """Server indexes per DAG or site, keyed case-insensitively, in name order."""
    groups: dict[object, list[int]] = {}
    for index, server in enumerate(servers):
        value = getattr(server, attribute)
        key = value.casefold() if isinstance(value, str) else None
        groups.setdefault(key, []).append(index)
    return groups


def _lower_bound(servers: Sequence[WaveServer], dags: dict[object, list[int]], sites: dict[object, list[int]],
                 max_per_wave: int | None, max_per_site: int | None) -> tuple[int, str]:
    count = len(servers)
    if count == 0:
        return 0, "no servers"
    # Candidates in order of preference when several force the same count: the DAG rule is the
    # one no setting can relax, so it is named first.
    candidates: list[tuple[int, str]] = []
    named = [members for key, members in dags.items() if key is not None]
    if named:
        # Ties go to the alphabetically first DAG (and below, site) so the sentence is stable.
        members = min(named, key=lambda group: (-len(group), servers[group[0]].dag))
        candidates.append((len(members), f"largest DAG {servers[members[0]].dag} "
                                         f"({_plural(len(members), 'member')})"))
    if max_per_wave is not None:
        candidates.append((_ceil_div(count, max_per_wave),
                           f"max_per_wave {max_per_wave} ({_plural(count, 'server')})"))
    if max_per_site is not None:
        members = min(sites.values(), key=lambda group: (-len(group), servers[group[0]].site or ""))
        site = servers[members[0]].site
        candidates.append((_ceil_div(len(members), max_per_site),
                           f"site {NO_SITE if site is None else site} "
                           f"({_plural(len(members), 'server')}, max_per_site {max_per_site})"))
    bound = max((waves for waves, _ in candidates), default=1)
    if bound <= 1:
        return 1, f"all {_plural(count, 'server')} fit in one wave"
    return bound, next(reason for waves, reason in candidates if waves == bound)


class _EdgeColouring:
    """Proper edge colouring of a bipartite multigraph with colours 0..k-1 (k >= max degree)."""

    def __init__(self, vertices: int, ends: list[tuple[int, int]]) -> None:
        self.ends = ends
        self.at: list[dict[int, int]] = [{} for _ in range(vertices)]  # vertex -> colour -> edge
        self.colour = [-1] * len(ends)

    def _other(self, edge: int, vertex: int) -> int:
        left, right = self.ends[edge]
        return right if vertex == left else left

    @staticmethod
    def _free(used: dict[int, int]) -> int:
        colour = 0
        while colour in used:
            colour += 1
        return colour

    def _path(self, start: int, first: int, second: int) -> list[int]:
        """Edges of the first/second alternating path leaving ``start`` by colour ``first``."""
        path: list[int] = []
        vertex, wanted = start, first
        while (edge := self.at[vertex].get(wanted)) is not None:
            path.append(edge)
            vertex = self._other(edge, vertex)
            wanted = second if wanted == first else first
        return path

    def _swap(self, edges: list[int], first: int, second: int) -> None:
        for edge in edges:
            for vertex in self.ends[edge]:
                del self.at[vertex][self.colour[edge]]
        for edge in edges:
            new = second if self.colour[edge] == first else first
            self.colour[edge] = new
            for vertex in self.ends[edge]:
                self.at[vertex][new] = edge

    def add(self, edge: int) -> None:
        """König's alternating-path step: colour ``edge`` without recolouring more than one path."""
        left, right = self.ends[edge]
        first = self._free(self.at[left])
        second = self._free(self.at[right])
        if first in self.at[right]:
            # The first/second path from ``right`` cannot reach ``left`` in a bipartite graph
            # (it would enter ``left`` by colour ``first``, which ``left`` lacks), so swapping
            # it frees ``first`` at ``right`` and keeps everything else proper.
            self._swap(self._path(right, first, second), first, second)
        self.colour[edge] = first
        self.at[left][first] = edge
        self.at[right][first] = edge

    def balance(self, k: int) -> None:
        """Even the colour classes out to sizes differing by at most one.

        The edges of two colours a and b form paths and even cycles. A path with one more a-edge
        than b-edges starts and ends with a, so both of its ends lack b: swapping a and b on it
        keeps the colouring proper and moves one edge from class a to class b.
        """
        members: list[set[int]] = [set() for _ in range(k)]
        for edge, colour in enumerate(self.colour):
            members[colour].add(edge)
        largest = [(-len(group), colour) for colour, group in enumerate(members)]
        smallest = [(len(group), colour) for colour, group in enumerate(members)]
        heapq.heapify(largest)
        heapq.heapify(smallest)
        while True:
            # Both heaps hold stale entries; skip those whose size no longer matches.
            while -largest[0][0] != len(members[largest[0][1]]):
                heapq.heappop(largest)
            while smallest[0][0] != len(members[smallest[0][1]]):
                heapq.heappop(smallest)
            big, small = largest[0][1], smallest[0][1]
            surplus = len(members[big]) - len(members[small])
            if surplus <= 1:
                return
            wanted = surplus // 2
            moved_before = len(members[small])
            seen: set[int] = set()
            # Sorted so the result depends on the input only, never on set layout.
            for edge in sorted(members[big]):
                if wanted == 0:
                    break
                if edge in seen:
                    continue
                for end in self.ends[edge]:
                    if small in self.at[end]:
                        continue
                    path = self._path(end, big, small)
                    seen.update(path)
                    if len(path) % 2 == 1:
                        self._swap(path, big, small)
                        for moved in path:
                            members[self.colour[moved]].add(moved)
                            members[small if self.colour[moved] == big else big].discard(moved)
                        wanted -= 1
                    break
            if len(members[small]) == moved_before:
                # Cannot happen (class big has surplus more a-ended paths than b-ended ones); fail
                # loudly rather than loop forever if that reasoning is ever broken by a change.
                raise RuntimeError(f"wave balancing made no progress between colours {big} and {small}")
            for colour in (big, small):
                heapq.heappush(largest, (-len(members[colour]), colour))
                heapq.heappush(smallest, (len(members[colour]), colour))


def plan_waves(servers: Sequence[WaveServer], max_per_wave: int | None = None,
               max_per_site: int | None = None) -> WavePlan:
    """Fewest waves that keep every DAG up and respect the optional per-wave and per-site limits."""
    _check_limit("max_per_wave", max_per_wave)
    _check_limit("max_per_site", max_per_site)
    ordered = sorted(servers, key=lambda server: server.name)
    for previous, server in pairwise(ordered):
        if previous.name == server.name:
            raise ValueError(f"duplicate server name {server.name!r} in the wave plan input")
    minutes = tuple((server.name, server.minutes) for server in ordered)
    dags = _groups(ordered, "dag")
    sites = _groups(ordered, "site")
    bound, reason = _lower_bound(ordered, dags, sites, max_per_wave, max_per_site)
    if bound == 0:
        return WavePlan((), 0, reason, minutes)

    # Left vertices: one per DAG, one per standalone server. Right vertices: copies of each
    # site holding at most ``bound`` of its servers (consecutive in name order), or one per
    # server when no site limit applies.
    left: list[int] = [0] * len(ordered)
    vertices = 0
    for key, members in dags.items():
        for position, index in enumerate(members):
            left[index] = vertices if key is not None else vertices + position
        vertices += 1 if key is not None else len(members)
    right: list[int] = [0] * len(ordered)
    if max_per_site is None:
        for index in range(len(ordered)):
            right[index] = vertices + index
        vertices += len(ordered)
    else:
        for members in sites.values():
            for position, index in enumerate(members):
                right[index] = vertices + position // bound
            vertices += _ceil_div(len(members), bound)

    colouring = _EdgeColouring(vertices, list(zip(left, right, strict=True)))
    for edge in range(len(ordered)):
        colouring.add(edge)
    colouring.balance(bound)

    waves: list[list[str]] = [[] for _ in range(bound)]
    for index, colour in enumerate(colouring.colour):
        waves[colour].append(ordered[index].name)  # already in name order
    # Wave 1 is the one holding the alphabetically first server: stable and easy to explain.
    return WavePlan(tuple(sorted(tuple(wave) for wave in waves)), bound, reason, minutes)
