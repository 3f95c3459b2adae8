"""The end-to-end speed measurement's bookkeeping (no speed is asserted: timings live in benchmarks/)."""

import math
import time
from dataclasses import replace

import pytest
import torch

import ermas.testing.two_level_speed as speed
from ermas.economy import PAPER_LAYOUT

CONFIG = replace(speed.free_market(PAPER_LAYOUT), episode_length=4)


@pytest.fixture
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def slow_first_calls(function, calls: int, pause: float):
    """``function``, sleeping ``pause`` seconds in each of its first ``calls`` calls."""
    made = []

    def slowed(*args, **kwargs):
        made.append(1)
        if len(made) <= calls:
            time.sleep(pause)
        return function(*args, **kwargs)

    return slowed


PAUSE = 0.2  # seconds added to each call during the warm-up episode; a whole step takes ~5 ms here


# the package averages an empty history in an episode this short (numpy warns; nothing here reads it)
@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered in scalar divide:RuntimeWarning")
@pytest.mark.parametrize("size", [{}, {"channels": (4, 8), "width": 16}], ids=["recipe", "resized"])
def test_the_package_side_counts_its_own_steps_as_stepping_and_nowhere_else(size, monkeypatch, one_thread):
    pytest.importorskip("ai_economist")
    pause = 0.05  # seconds added to every step of the package's environment, far more than the rest costs here
    make = speed.make_reference_env

    def slowed(config):
        world = make(config)
        world.step = slow_first_calls(world.step, math.inf, pause)
        return world

    monkeypatch.setattr(speed, "make_reference_env", slowed)
    theirs = speed.package(CONFIG, envs=1, iterations=1, **size)
    seconds = theirs.seconds_per_step(1.0) * CONFIG.episode_length  # the measured total, from the rate
    parts = [theirs.stepping_share, theirs.converting_share, theirs.acting_share, theirs.update_share]
    assert all(share > 0 for share in parts)
    assert theirs.stepping_share * seconds >= CONFIG.episode_length * pause  # the pauses are stepping's
    assert (1 - theirs.stepping_share) * seconds < CONFIG.episode_length * pause  # and no other part's


@pytest.mark.parametrize("size", [{}, {"channels": (4, 8), "width": 16}], ids=["recipe", "resized"])
def test_our_side_splits_the_time_its_rate_is_measured_over(size, one_thread):
    start = time.perf_counter()
    mine = speed.ours(CONFIG, envs=2, iterations=1, **size)
    elapsed = time.perf_counter() - start
    # the rate's time is the episode and the update, within the call's whole time (which adds the measurements
    # of the forward pass and the economy apart)
    assert 2 * CONFIG.episode_length / mine.steps_per_second <= elapsed
    assert 0 < mine.update_share < 1 and 0 < mine.forward_share < 1 and 0 < mine.simulator_share < 1


def test_the_comparison_reads_the_goal_ceiling_and_simulators_from_both_sides():
    theirs = speed.PackageThroughput(100.0, 0.6, 0.1, 0.2, 0.1)  # 10 ms per step, 6 of them its own steps
    for rate, verdict in [(2000.0, "the 20x goal met"), (1999.0, "the 20x goal not met")]:
        mine = speed.Throughput(rate, update_share=0.5, simulator_share=0.2, forward_share=0.1)
        first, package_split, our_split, simulators = speed.comparison(theirs, mine)
        assert verdict in first and f"ratio {rate / 100:.1f}x" in first
    # network time 0.6 of 0.5 ms: the package's 10 ms over 0.3 ms
    assert "ceiling with these networks 33x" in first
    assert "with any cheaper network 50x" in first  # the package's 10 ms over our 0.2 ms outside the network
    assert "10,000 us: 60% its own steps" in package_split and "500 us: 20% the economy" in our_split
    assert "take 60x our economy's" in simulators  # 6 ms over 0.1 ms


@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered in scalar divide:RuntimeWarning")
def test_the_package_sides_warm_up_episode_is_not_timed(monkeypatch, one_thread):
    pytest.importorskip("ai_economist")
    make = speed.make_reference_env

    def slow_at_first(config):  # the warm-up episode's environment steps, then its update, are slow
        world = make(config)
        world.step = slow_first_calls(world.step, CONFIG.episode_length, PAUSE)
        return world

    monkeypatch.setattr(speed, "make_reference_env", slow_at_first)
    monkeypatch.setattr(speed, "ppo_update", slow_first_calls(speed.ppo_update, 1, PAUSE))
    theirs = speed.package(CONFIG, envs=1, iterations=1, warmup=1)
    # the warm-up's pauses, counted anywhere or spread over more steps, would reach PAUSE / 2 per step
    assert theirs.seconds_per_step(1.0) < PAUSE / 2
    assert theirs.seconds_per_step(theirs.update_share) * CONFIG.episode_length < PAUSE  # its update neither
    monkeypatch.setattr(speed, "ppo_update", slow_first_calls(speed.ppo_update, 1, PAUSE))
    cold = speed.package(CONFIG, envs=1, iterations=1, warmup=0)
    assert cold.seconds_per_step(1.0) >= PAUSE  # without a warm-up, the slow episode is the one timed


def test_our_sides_warm_up_episode_is_not_timed(monkeypatch, one_thread):
    monkeypatch.setattr(speed, "play_episode", slow_first_calls(speed.play_episode, 1, PAUSE))
    monkeypatch.setattr(speed, "ppo_update", slow_first_calls(speed.ppo_update, 1, PAUSE))
    mine = speed.ours(CONFIG, envs=2, iterations=1, warmup=1)
    timed = 2 * CONFIG.episode_length / mine.steps_per_second  # the seconds the rate was measured over
    assert timed < PAUSE / 2


@pytest.mark.parametrize("side", ["ours", "package"])
@pytest.mark.parametrize(("iterations", "warmup"), [(0, 1), (1, -1)])
def test_episode_counts_are_checked(side, iterations, warmup):
    with pytest.raises(ValueError, match="iterations" if iterations < 1 else "warmup"):
        getattr(speed, side)(CONFIG, envs=1, iterations=iterations, warmup=warmup)
