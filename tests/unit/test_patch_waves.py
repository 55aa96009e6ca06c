"""Patch waves: DAG members never down together, limits respected, always the fewest waves possible."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_remediation.patch_waves import WavePlan, WaveServer, plan_waves


def _dag(name: str, size: int, site: str | None = None, minutes: int = 0) -> list[WaveServer]:
    return [WaveServer(f"{name.lower()}-{member}", name, site, minutes) for member in range(1, size + 1)]


def _standalones(prefix: str, count: int, site: str | None = None, minutes: int = 0) -> list[WaveServer]:
    return [WaveServer(f"{prefix}-{number:02d}", None, site, minutes) for number in range(1, count + 1)]


def _key(value: str | None) -> str | None:
    return value.casefold() if value is not None else None


def _assert_valid(servers: list[WaveServer], plan: WavePlan, max_per_wave: int | None = None,
                  max_per_site: int | None = None) -> None:
    by_name = {server.name: server for server in servers}
    placed = [name for wave in plan.waves for name in wave]
    assert sorted(placed) == sorted(by_name), "every server in exactly one wave"
    for wave in plan.waves:
        assert wave, "no empty wave"
        assert list(wave) == sorted(wave), "names inside a wave are sorted"
        dags = Counter(_key(by_name[name].dag) for name in wave if by_name[name].dag is not None)
        assert all(count == 1 for count in dags.values()), f"two members of one DAG in {wave}"
        if max_per_wave is not None:
            assert len(wave) <= max_per_wave
        if max_per_site is not None:
            sites = Counter(_key(by_name[name].site) for name in wave)
            assert max(sites.values()) <= max_per_site, f"site limit broken in {wave}"
    sizes = [len(wave) for wave in plan.waves]
    assert not sizes or max(sizes) - min(sizes) <= 1, f"waves not balanced: {sizes}"
    assert len(plan.waves) == plan.lower_bound


def _independent_bound(servers: list[WaveServer], max_per_wave: int | None, max_per_site: int | None) -> int:
    if not servers:
        return 0
    dags = Counter(_key(server.dag) for server in servers if server.dag is not None)
    sites = Counter(_key(server.site) for server in servers)
    parts = [1, max(dags.values(), default=1)]
    if max_per_wave is not None:
        parts.append(math.ceil(len(servers) / max_per_wave))
    if max_per_site is not None:
        parts.append(max(math.ceil(count / max_per_site) for count in sites.values()))
    return max(parts)


# --- hand-written estates ---------------------------------------------------------------------------


def test_four_dags_of_four_and_eight_standalones_take_four_even_waves():
    servers = [server for number in range(1, 5) for server in _dag(f"DAG0{number}", 4)] + _standalones("ex", 8)
    plan = plan_waves(servers)
    _assert_valid(servers, plan)
    assert plan.lower_bound == 4
    assert [len(wave) for wave in plan.waves] == [6, 6, 6, 6]
    assert plan.limited_by == "largest DAG DAG01 (4 members)"
    for number in range(1, 5):
        assert sorted(plan.wave_of(f"dag0{number}-{member}") for member in range(1, 5)) == [1, 2, 3, 4]


def test_two_member_dag_members_go_in_different_waves_and_minutes_are_modelled():
    servers = [WaveServer("ex19-dag1", "DAG01", "HQ", 250), WaveServer("ex19-dag2", "DAG01", "HQ", 200),
               WaveServer("ex16-legacy", None, "HQ", 120)]
    plan = plan_waves(servers)
    _assert_valid(servers, plan)
    assert plan.waves == (("ex16-legacy", "ex19-dag1"), ("ex19-dag2",))
    assert plan.limited_by == "largest DAG DAG01 (2 members)"
    assert (plan.wave_of("ex19-dag1"), plan.wave_of("ex19-dag2"), plan.wave_of("ex16-legacy")) == (1, 2, 1)
    assert plan.modelled_minutes() == 250 + 200
    assert plan.serial_minutes() == 570
    with pytest.raises(KeyError, match="ex99"):
        plan.wave_of("ex99")


def test_all_standalones_with_max_per_wave_three():
    servers = _standalones("ex", 10)
    plan = plan_waves(servers, max_per_wave=3)
    _assert_valid(servers, plan, max_per_wave=3)
    assert plan.lower_bound == 4
    assert sorted(len(wave) for wave in plan.waves) == [2, 2, 3, 3]
    assert plan.limited_by == "max_per_wave 3 (10 servers)"


def test_standalones_without_limits_fit_in_one_wave():
    servers = _standalones("ex", 5, "HQ")
    plan = plan_waves(servers, max_per_wave=5, max_per_site=5)
    assert plan.waves == (tuple(server.name for server in servers),)
    assert plan.limited_by == "all 5 servers fit in one wave"


def test_site_limit_forces_more_waves_than_the_largest_dag():
    servers = _dag("DAG01", 2, "HQ") + _standalones("hq", 5, "HQ") + _standalones("br", 3, "Branch")
    plan = plan_waves(servers, max_per_site=2)
    _assert_valid(servers, plan, max_per_site=2)
    assert plan.lower_bound == 4
    assert plan.limited_by == "site HQ (7 servers, max_per_site 2)"


def test_servers_without_a_site_count_as_one_site():
    servers = _standalones("ex", 3) + _standalones("hq", 1, "HQ")
    plan = plan_waves(servers, max_per_site=1)
    _assert_valid(servers, plan, max_per_site=1)
    assert plan.lower_bound == 3
    assert plan.limited_by == "site (no site) (3 servers, max_per_site 1)"


def test_stretched_dag_across_two_sites_with_site_limit():
    dag = [WaveServer(f"ex-{site.lower()}-{number}", "DAG01", site, 90)
           for site in ("HQ", "DR") for number in (1, 2, 3)]
    servers = dag + _standalones("hq", 6, "HQ", 60) + _standalones("dr", 2, "DR", 60)
    plan = plan_waves(servers, max_per_site=2)
    _assert_valid(servers, plan, max_per_site=2)
    # HQ holds 9 servers (ceil(9/2) = 5 waves), but the 6-member DAG needs 6.
    assert plan.lower_bound == 6
    assert plan.limited_by == "largest DAG DAG01 (6 members)"
    assert plan.modelled_minutes() == 6 * 90


def test_bound_reached_where_first_fit_needs_an_extra_wave():
    # First fit in name order puts ex0 and ex1 in wave 1 and ex2 in wave 2; ex3 (DAG1, like ex2)
    # then fits nowhere. The edge colouring still finds two waves.
    servers = [WaveServer("ex0", "DAG2", "DR"), WaveServer("ex1", None, "DR"),
               WaveServer("ex2", "DAG1", "DR"), WaveServer("ex3", "DAG1", "HQ")]
    plan = plan_waves(servers, max_per_wave=2)
    _assert_valid(servers, plan, max_per_wave=2)
    assert plan.waves == (("ex0", "ex3"), ("ex1", "ex2"))


def test_dag_and_site_names_compare_case_insensitively():
    servers = [WaveServer("a", "DAG01", "HQ"), WaveServer("b", "dag01", "hq"), WaveServer("c", None, "Hq")]
    plan = plan_waves(servers, max_per_site=2)
    _assert_valid(servers, plan, max_per_site=2)
    assert plan.wave_of("a") != plan.wave_of("b")
    assert plan.lower_bound == 2


def test_no_servers_means_no_waves():
    plan = plan_waves([], max_per_wave=3, max_per_site=1)
    assert plan == WavePlan((), 0, "no servers")
    assert (plan.modelled_minutes(), plan.serial_minutes()) == (0, 0)


def test_duplicate_server_names_are_refused():
    with pytest.raises(ValueError, match="'ex2'"):
        plan_waves([WaveServer("ex1", None, None), WaveServer("ex2", "DAG01", None), WaveServer("ex2", None, "HQ")])


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
@pytest.mark.parametrize("limit", ["max_per_wave", "max_per_site"])
def test_bad_limits_name_the_variable(limit, bad):
    with pytest.raises(ValueError, match=limit):
        plan_waves(_standalones("ex", 2), **{limit: bad})


# --- properties over random estates ---------------------------------------------------------------


@st.composite
def estates(draw):
    dag_sizes = draw(st.lists(st.integers(min_value=1, max_value=16), max_size=6))
    standalones = draw(st.integers(min_value=0, max_value=12))
    site_names = draw(st.lists(st.sampled_from(["HQ", "DR", "Branch", "Lab"]), min_size=1, max_size=4, unique=True))
    count = sum(dag_sizes) + standalones
    # Name numbers are shuffled so name order and DAG order do not line up.
    numbers = draw(st.permutations(range(count)))
    dags = [f"DAG{index}" for index, size in enumerate(dag_sizes) for _ in range(size)] + [None] * standalones
    sites = draw(st.lists(st.sampled_from([*site_names, None]), min_size=count, max_size=count))
    # Same DAG or site spelt in another case now and then (one bit per server): must still count as one.
    respelt = draw(st.integers(min_value=0, max_value=2**count - 1))
    servers = [WaveServer(f"ex{number:03d}", dag.lower() if dag and respelt >> number & 1 else dag,
                          site.upper() if site and respelt >> number & 1 else site, number * 37 % 301)
               for number, dag, site in zip(numbers, dags, sites, strict=True)]
    max_per_wave = draw(st.none() | st.integers(min_value=1, max_value=20))
    max_per_site = draw(st.none() | st.integers(min_value=1, max_value=10))
    return servers, max_per_wave, max_per_site


@settings(max_examples=300, deadline=None)
@given(estate=estates())
def test_plan_is_valid_and_minimal(estate):
    servers, max_per_wave, max_per_site = estate
    plan = plan_waves(servers, max_per_wave, max_per_site)
    _assert_valid(servers, plan, max_per_wave, max_per_site)
    assert plan.lower_bound == _independent_bound(servers, max_per_wave, max_per_site)
    assert plan.serial_minutes() == sum(server.minutes for server in servers)
    assert plan.modelled_minutes() <= plan.serial_minutes()
    for number, wave in enumerate(plan.waves, start=1):
        assert all(plan.wave_of(name) == number for name in wave)


@settings(max_examples=150, deadline=None)
@given(estate=estates(), data=st.data())
def test_plan_does_not_depend_on_input_order(estate, data):
    servers, max_per_wave, max_per_site = estate
    shuffled = data.draw(st.permutations(servers))
    assert plan_waves(shuffled, max_per_wave, max_per_site) == plan_waves(servers, max_per_wave, max_per_site)
