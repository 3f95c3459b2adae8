"""The augmented game's rewards, the robust actor's outer loop, and Figure 5's parameters."""

import os
import signal
from pathlib import Path

import papermill
import pytest
import torch
from quick_settings import QUICK

import ermas.bimatrix.outer_loop as outer_module
from ermas.bimatrix.agent_adv_search import SearchConfig
from ermas.bimatrix.augmented import AugmentedGame
from ermas.bimatrix.game import BimatrixGame
from ermas.bimatrix.outer_loop import OuterConfig, PlannerRun, outer_loop, randomise_agent_rewards
from ermas.bimatrix.payoffs import load_payoffs
from ermas.bimatrix.tabular import RolloutNoise, policy_gradients, rollout
from ermas.experiments.fig5 import Fig5Params
from ermas.method import RunSpec, marl_run

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "fig5.ipynb"


@pytest.fixture
def base():
    return BimatrixGame(torch.tensor(load_payoffs("default")), horizon=12)


def test_reward_tables_follow_the_paper_formula(base):
    game = AugmentedGame(base, "paper", a_max=4, scale=4.0)
    probs = torch.eye(5)  # one deterministic planner per choice a = 0..4
    q = torch.full((5,), 0.3)
    tables = game.reward_tables(probs, q)
    payoffs = base.state_payoffs
    for a in range(5):
        planner = a * 4.0 * payoffs[:, 0] - a**2
        torch.testing.assert_close(tables[a, :, 0], planner)
        torch.testing.assert_close(tables[a, :, 1:], payoffs[:, 1:] - 0.3 * planner[:, None])
    mixed = game.reward_tables(torch.full((1, 5), 0.2), q[:1])
    torch.testing.assert_close(mixed[0], tables.mean(0))


def test_released_variant_uses_officer_counts(base):
    game = AugmentedGame(base, "released")
    alpha, gamma = game.coefficients
    assert game.n_choices == 13
    o = torch.arange(13.0)
    torch.testing.assert_close(alpha, 3 * o / 12 + 1)
    torch.testing.assert_close(gamma, -((o / 12) ** 2))


def test_a_constant_shift_of_all_rewards_changes_no_policy_gradient(base):
    """Why domain randomisation must perturb entries: a state-independent constant changes no incentive."""
    logits = torch.randn(2, 2, 16, 3)
    noise = RolloutNoise(torch.randint(16, (2, 8)), torch.rand(2, 8, 12, 2))
    tables = base.state_payoffs.expand(2, -1, -1).clone()
    plain = policy_gradients(rollout(base, logits, noise, tables), logits)
    shifted = tables.clone()
    shifted[..., 1:] += 0.7
    moved = policy_gradients(rollout(base, logits, noise, shifted), logits)
    torch.testing.assert_close(plain, moved)


def test_planner_learns_its_best_choice_against_equilibrium_agents(base):
    game = AugmentedGame(base)
    config = OuterConfig(SearchConfig(n_iters=500, warmup_iters=0, deviation_search=False, **QUICK))
    result = outer_loop(game, [PlannerRun(marl_run(s)) for s in range(2)], config)
    # agents reach (0, 0), where R = 4 * 1.0 and a * R - a^2 is largest at a = 2
    choice = torch.softmax(result.planner_logits, -1).argmax(-1)
    assert choice.tolist() == [2, 2]
    assert (result.final_planner_reward(50) > 3.0).all()


def test_a_frozen_planner_does_not_move_and_adversarial_agents_hurt_it(base):
    game = AugmentedGame(base)
    frozen = torch.zeros(2, game.n_choices)
    frozen[:, 2] = 10.0
    config = OuterConfig(SearchConfig(n_iters=400, warmup_iters=0, deviation_search=False, **QUICK))
    runs = [PlannerRun(marl_run(0), q=0.0, planner_learns=False), PlannerRun(marl_run(0), q=1.0, planner_learns=False)]
    result = outer_loop(game, runs, config, planner_logits=frozen)
    assert torch.equal(result.planner_logits, frozen)
    reward = result.final_planner_reward(50)
    assert reward[0] > 3.0 and reward[1] < 0.0


def test_the_outer_loop_resumes_after_ctrl_c_with_the_same_bits(base, tmp_path, monkeypatch):
    game = AugmentedGame(base)
    config = OuterConfig(SearchConfig(n_iters=30, warmup_iters=5, **(QUICK | {"dev_episodes": 16})))
    runs = [PlannerRun(RunSpec(epsilon=0.02, seed=1)), PlannerRun(marl_run(2), dr_scale=0.3, risk_aversion=1.0)]
    full = outer_loop(game, runs, config)
    path = tmp_path / "outer.pt"
    original = outer_module.outer_step

    def interrupted_step(game, config, agents, planners, state):
        if state.iteration == 11:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of an iteration
        original(game, config, agents, planners, state)

    monkeypatch.setattr(outer_module, "outer_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt, match="interrupted at iteration 12"):
        outer_loop(game, runs, config, checkpoint=path)
    monkeypatch.undo()
    resumed = outer_loop(game, runs, config, checkpoint=path)
    assert torch.equal(resumed.planner_logits, full.planner_logits)
    assert torch.equal(resumed.adam_v, full.adam_v)  # the planner's Adam moments were saved
    assert torch.equal(resumed.search.logits, full.search.logits)
    assert torch.equal(torch.stack(resumed.planner_reward), torch.stack(full.planner_reward))
    with pytest.raises(ValueError, match="other settings"):
        outer_loop(game, runs, OuterConfig(config.search, planner_lr=0.1), checkpoint=path)


def test_domain_randomisation_draws_a_table_per_episode(base):
    tables = AugmentedGame(base).reward_tables(torch.full((2, 5), 0.2), torch.zeros(2))
    generators = [torch.Generator().manual_seed(s) for s in range(2)]
    shifted = randomise_agent_rewards(tables, torch.tensor([0.0, 0.5]), generators, n_episodes=6)
    assert shifted.shape == (2, 6, 16, 3)
    torch.testing.assert_close(shifted[..., 0], tables[:, None, :, 0].expand(-1, 6, -1))  # planner untouched
    torch.testing.assert_close(shifted[0], tables[0].expand(6, -1, -1))  # run without randomisation
    shift = shifted[1, :, :, 1:] - tables[1, None, :, 1:]
    assert shift.abs().max() <= 0.5 and shift.abs().min() > 0
    assert not torch.allclose(shift[0], shift[1])  # a new draw every episode
    unchanged = randomise_agent_rewards(tables, torch.zeros(2), generators, n_episodes=6)
    assert unchanged is tables  # no run randomises: the per-run tables are used as they are


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda b: AugmentedGame(b, "cops"), "variant must be one of"),
        (lambda b: AugmentedGame(b, a_max=0), "a_max must be an integer in 1..100"),
        (lambda b: PlannerRun(marl_run(0), q=-0.5), "q must be a finite number >= 0"),
        (lambda b: Fig5Params(test_qs=[0.0, 2.0]), r"test_qs must all be numbers in 0\.\.1"),
        (lambda b: Fig5Params(seeds=0), r"seeds must be an integer in 1\.\.100"),
        (lambda b: Fig5Params(variant="cops"), "variant must be one of"),
    ],
)
def test_bad_input_raises(base, make, message):
    with pytest.raises(ValueError, match=message):
        make(base)


def test_planner_logits_of_the_wrong_shape_raise(base):
    config = OuterConfig(SearchConfig(n_iters=1, warmup_iters=0, deviation_search=False, **QUICK))
    with pytest.raises(ValueError, match="planner_logits must have shape"):
        outer_loop(AugmentedGame(base), [PlannerRun(marl_run(0))], config, planner_logits=torch.zeros(1, 3))


def test_papermill_runs_figure_5_with_fewer_seeds(tmp_path):
    out = tmp_path / "fig5.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"seeds": 1, "train_iters": 250, "test_iters": 110, "test_qs": [0.0, 1.0]},
        progress_bar=False,
        cwd=str(NOTEBOOK.parent),
    )
    # 5 planners (one seed per method) x 2 test Q
    assert "10 evaluations" in out.read_text()
