"""The evaluation workflow: convergence of a curve, scoring (Saez only once its formula sets the rates), and
a frozen planner that acts but does not learn."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from ermas.economy import SMALL_LAYOUT, Economy, EconomyConfig, observe
from ermas.rl.ppo import PPOConfig
from ermas.two_level.evaluation import converged, evaluate, saez_warmup_episodes, score
from ermas.two_level.training import TwoLevelTraining, train

PLANNER = EconomyConfig(
    layout=SMALL_LAYOUT, episode_length=12, tax_model="planner", tax_period=4, tax_annealing=(1.0, 0.5)
)
QUICK = TwoLevelTraining(
    iterations=2,
    n_envs=2,
    agent_ppo=PPOConfig(minibatch_size=64),
    planner_ppo=PPOConfig(minibatch_size=16, lr=1e-4),
    agent_width=16,
    planner_width=16,
)


def test_a_flat_noisy_curve_has_converged_and_a_rising_one_has_not():
    rng = np.random.default_rng(0)
    flat = 10 + rng.normal(0, 0.1, 200)
    assert converged(flat)
    assert not converged(np.linspace(5, 10, 200) + rng.normal(0, 0.1, 200))


def test_saez_is_scored_only_where_its_formula_set_the_rates():
    history = {"social_welfare": [1.0, 2.0, 3.0, 4.0, 100.0], "saez_formula": [0, 0, 0, 1, 0]}
    result = score(history, saez=True, window=0.4)  # the last two iterations, of which one is scored
    assert result.welfare == 4.0 and result.scored == 1
    assert score(history, saez=False, window=0.4).welfare == 52.0
    unscored = score({"social_welfare": [1.0, 2.0], "saez_formula": [0, 0]}, saez=True)
    assert np.isnan(unscored.welfare) and unscored.scored == 0 and not unscored.converged


def test_a_frozen_planner_acts_but_does_not_learn(tmp_path):
    trained = tmp_path / "planner.pt"
    train(PLANNER, QUICK, checkpoint=trained, progress=False)
    saved = torch.load(trained, weights_only=True)["state"]["planner"]
    frozen = train(
        replace(PLANNER, tax_annealing=None),
        replace(QUICK, iterations=3, eta=0.35, planner_learns=False),
        planner_from=trained,
        progress=False,
    )
    for name, value in frozen.planner.state_dict().items():
        assert torch.equal(value, saved[name]), name
    assert len(frozen.history["planner_return"]) == 3
    assert not any(name.startswith("planner_policy") for name in frozen.history)  # no update was taken
    result = evaluate(PLANNER, replace(QUICK, iterations=3), 0.35, planner_from=trained, progress=False)
    assert result.scored == 2 and np.isfinite(result.welfare)


def test_bad_evaluations_are_errors():
    with pytest.raises(ValueError, match="needs planner_from"):
        evaluate(PLANNER, QUICK, 0.23, progress=False)
    with pytest.raises(ValueError, match=r"eta must lie in \(0, 1\]"):
        evaluate(PLANNER, QUICK, 1.5, progress=False)


@pytest.mark.parametrize(("episode_length", "tax_period"), [(12, 4), (10, 5), (12, 5)])
def test_the_saez_warm_up_lasts_as_long_as_the_buffers_take_to_fill(episode_length, tax_period):
    """Counted by playing random allowed actions until every buffer is full (a period cut short by the
    episode's end adds nothing)."""
    config = EconomyConfig(layout=SMALL_LAYOUT, episode_length=episode_length, tax_model="saez", tax_period=tax_period)
    env = Economy(2, config, seed=0)
    generator = torch.Generator().manual_seed(0)
    episodes = 0
    while not bool(env.saez.full.all()):
        env.reset()
        done = False
        while not done:
            mask = observe(env).agent_mask.flatten(0, 1).double()
            done = env.step(torch.multinomial(mask, 1, generator=generator).view(2, -1)).done
        episodes += 1
    assert saez_warmup_episodes(config) == episodes
