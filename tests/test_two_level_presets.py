"""The Figure 6 presets: one name picks every size; unknown names and schemes are errors."""

import pytest

from ermas.economy import Economy
from ermas.two_level.presets import PRESETS, preset


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_builds_its_economies(name):
    p = preset(name, seed=4)
    assert p.phase1.seed == p.phase2.seed == 4 and p.phase1.iterations < p.phase2.iterations
    assert p.economy.episode_length % p.economy.tax_period == 0  # whole tax periods per episode
    assert p.free_market().tax_model == "none" and p.free_market().tax_annealing is None
    assert p.fixed_scheme("saez").saez_fixed_elasticity == 3.0
    Economy(1, p.economy)  # the rules are valid


def test_only_the_paper_preset_warms_up_the_labour_cost_and_only_in_phase_1():
    paper, laptop = preset("paper"), preset("laptop")
    assert paper.free_market().labor_warmup == 10_000.0 and paper.free_market().labor_warmup_method == "auto"
    assert paper.economy.labor_warmup == paper.fixed_scheme("saez").labor_warmup == 0.0
    assert laptop.free_market().labor_warmup == 0.0


def test_the_laptop_brackets_are_within_reach_of_short_periods():
    env = Economy(1, preset("laptop").economy)
    assert float(env.brackets.cutoffs[-1]) == pytest.approx(51.03)  # a pilot's 99th percentile: 67 coin


def test_unknown_names_are_errors():
    with pytest.raises(ValueError, match=r"preset must be one of \('laptop', 'paper'\)"):
        preset("cluster")
    with pytest.raises(ValueError, match="tax_model must be"):
        preset("laptop").fixed_scheme("planner")
