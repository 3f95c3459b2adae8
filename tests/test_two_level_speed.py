"""The end-to-end speed measurement's bookkeeping (no speed is asserted: timings live in benchmarks/)."""

from dataclasses import replace

import pytest
import torch

from ermas.economy import PAPER_LAYOUT
from ermas.testing.two_level_speed import free_market, ours, package

pytest.importorskip("ai_economist")


@pytest.mark.parametrize("size", [{}, {"channels": (4, 8), "width": 16}], ids=["recipe", "resized"])
def test_both_sides_split_their_whole_time(size):
    torch.set_num_threads(1)
    config = replace(free_market(PAPER_LAYOUT), episode_length=4)
    theirs = package(config, envs=1, iterations=1, **size)
    parts = [theirs.stepping_share, theirs.converting_share, theirs.acting_share, theirs.update_share]
    assert all(share > 0 for share in parts) and sum(parts) == pytest.approx(1)
    assert theirs.seconds_per_step(1.0) == pytest.approx(1 / theirs.steps_per_second)
    mine = ours(config, envs=2, iterations=1, **size)
    assert mine.steps_per_second > 0 and 0 < mine.update_share < 1 and 0 < mine.forward_share < 1
    # the ceiling counts only the networks' time, so it is never below the ratio itself
    assert mine.ceiling(theirs.steps_per_second) >= mine.steps_per_second / theirs.steps_per_second
