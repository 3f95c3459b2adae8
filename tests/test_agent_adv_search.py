"""Agent-Adv-Search: dual updates, convergence of MARL, the effect of epsilon, resuming, bad input."""

import os
import signal

import pytest
import torch
from quick_settings import QUICK

from ermas.bimatrix.agent_adv_search import SearchConfig, agent_adv_search
from ermas.bimatrix.exact import regret, state_distributions
from ermas.bimatrix.game import BimatrixGame
from ermas.bimatrix.payoffs import load_payoffs
from ermas.method import RunSpec, marl_run, own_reward_weight


@pytest.fixture
def game():
    return BimatrixGame(torch.tensor(load_payoffs("default")), horizon=12)


def test_lambda_rises_when_regret_exceeds_epsilon_and_never_goes_negative(game):
    config = SearchConfig(n_iters=40, warmup_iters=10, **QUICK)  # lambda stays below lambda_max
    runs = [RunSpec(epsilon=-1.0, lambda0=1.0, seed=0), RunSpec(epsilon=1.0, lambda0=0.05, seed=0)]
    history = agent_adv_search(game, runs, config, progress=False).history.stacked()
    lambdas = history["lambdas"]  # (T, B, 2)
    estimate = history["regret_estimate"]
    after = slice(config.warmup_iters, None)
    # epsilon = -1 lies below any regret: lambda moves by dual_lr * (R_hat + 1) > 0 every iteration
    rises = lambdas[after][1:, 0] - lambdas[after][:-1, 0]
    torch.testing.assert_close(rises, config.dual_lr * (estimate[after][1:, 0] + 1.0))
    assert (rises > 0).all()
    # epsilon = 1 lies above any per-step regret: lambda falls to 0 and is clipped there
    assert (lambdas >= 0).all()
    assert (lambdas[-1, 1] == 0).all()
    # during the warm-up lambda stays at lambda0
    assert (lambdas[: config.warmup_iters, 0] == 1.0).all()


def test_marl_converges_to_the_nash_equilibrium(game):
    config = SearchConfig(n_iters=400, warmup_iters=0, **QUICK)
    state = agent_adv_search(game, [marl_run(s) for s in range(3)], config, progress=False)
    final = state_distributions(game, torch.softmax(state.logits, -1))[:, -1]
    assert (final[:, 0] > 0.9).all()  # the equilibrium is the cell (0, 0)
    assert (regret(game, state.logits) < 0.02).all()


def test_planner_reward_falls_as_epsilon_grows(game):
    config = SearchConfig(n_iters=500, warmup_iters=100, **QUICK)
    runs = [RunSpec(epsilon=eps, seed=s) for eps in (-0.05, 0.2) for s in range(2)]
    history = agent_adv_search(game, runs, config, progress=False).history.stacked()
    planner = history["exact"][-50:, :, 0].mean(0)
    tight, loose = planner[:2], planner[2:]
    assert tight.min() > loose.max() + 0.2


@pytest.mark.parametrize("meta", ["paper", "literal", "released", "danskin", "none"])
def test_every_meta_variant_runs_and_is_reproducible(game, meta):
    config = SearchConfig(n_iters=15, warmup_iters=5, **QUICK)
    runs = [RunSpec(epsilon=0.02, meta=meta, seed=4)]
    a = agent_adv_search(game, runs, config, progress=False)
    b = agent_adv_search(game, runs, config, progress=False)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.lambdas, b.lambdas)


def test_a_run_does_not_depend_on_its_batch_mates(game):
    config = SearchConfig(n_iters=20, warmup_iters=5, **QUICK)
    alone = agent_adv_search(game, [RunSpec(epsilon=0.02, seed=7)], config, progress=False)
    batched = agent_adv_search(game, [marl_run(1), RunSpec(epsilon=0.02, seed=7)], config, progress=False)
    torch.testing.assert_close(alone.logits[0], batched.logits[1])


def test_ctrl_c_saves_a_consistent_state_and_resuming_gives_the_same_run(game, tmp_path, monkeypatch):
    runs = [RunSpec(epsilon=0.01, seed=2), marl_run(3)]
    config = SearchConfig(n_iters=12, warmup_iters=4, **QUICK)
    full = agent_adv_search(game, runs, config, progress=False)
    path = tmp_path / "state.pt"
    # a real Ctrl-C (SIGINT) arrives in the middle of iteration 7 (0-based 6): it finishes, then stops
    import ermas.bimatrix.agent_adv_search as module

    original = module.search_step

    def interrupted_step(game, config, settings, state, payoffs=None):
        if state.iteration == 6:
            os.kill(os.getpid(), signal.SIGINT)
        return original(game, config, settings, state, payoffs)

    monkeypatch.setattr(module, "search_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt, match="interrupted at iteration 7"):
        agent_adv_search(game, runs, config, checkpoint=path, progress=False)
    monkeypatch.undo()
    saved = torch.load(path, weights_only=True)["state"]
    assert saved["iteration"] == 7 and len(saved["history"]["lambdas"]) == 7
    resumed = agent_adv_search(game, runs, config, checkpoint=path, progress=False)
    assert torch.equal(resumed.logits, full.logits)
    assert torch.equal(resumed.adam_v, full.adam_v)
    assert torch.equal(resumed.history.stacked()["lambdas"], full.history.stacked()["lambdas"])
    with pytest.raises(ValueError, match="other settings"):
        agent_adv_search(game, runs[:1], config, checkpoint=path, progress=False)


def test_divergence_stops_with_a_message_naming_the_iteration(game):
    config = SearchConfig(n_iters=5, warmup_iters=0, **QUICK)
    bad = BimatrixGame(torch.tensor(load_payoffs("default")) * 1e308, horizon=12)
    with pytest.raises(FloatingPointError, match="diverged at iteration 0"):
        agent_adv_search(bad, [RunSpec(seed=0)], config, progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_iters=0), "n_iters must be a positive integer"),
        (dict(n_episodes=1), "n_episodes must be"),
        (dict(warmup_iters=20, n_iters=10), "warmup_iters must be an integer in 0..n_iters=10"),
        (dict(rho=0.0), "rho must be > 0"),
        (dict(lr=float("nan")), "lr must be a finite number"),
    ],
)
def test_bad_search_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SearchConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(meta="maml"), "meta must be one of"),
        (dict(lambda0=-1.0), "lambda0 must be"),
        (dict(epsilon=float("inf")), "epsilon must be finite"),
    ],
)
def test_bad_run_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RunSpec(**kwargs)


def test_own_reward_weights_of_the_variants():
    assert own_reward_weight("paper", 0.2, 2) == 0.2
    assert own_reward_weight("literal", 0.2, 2) == pytest.approx(0.6)  # lambda (1 - N beta)
    assert own_reward_weight("literal", 0.5, 2) == 0.0  # the paper's threshold beta = 1/N
    assert own_reward_weight("literal", 1.0, 2) == -1.0
    assert own_reward_weight("none", 0.2, 2) == own_reward_weight("released", 0.2, 2) == 1.0
    assert own_reward_weight("danskin", 0.2, 2) == 0.0  # g_1 - g_{M+1} vanishes on an unmoved path


@pytest.mark.parametrize("regret_search", ["sampled", "exact"])
def test_the_dual_updates_start_where_the_own_reward_weight_does_not_jump(game, regret_search):
    config = SearchConfig(n_iters=12, warmup_iters=10, **(QUICK | {"dual_lr": 0.0, "regret_search": regret_search}))
    runs = [
        RunSpec(epsilon=0.0, lambda0=8.0, meta="paper", beta=0.2),  # weight 0.2: lambda 8 -> 40
        RunSpec(epsilon=0.0, lambda0=8.0, meta="literal", beta=0.2),  # weight 0.6: 8 -> 13.33
        RunSpec(epsilon=0.0, lambda0=8.0, meta="literal", beta=1.0),  # weight -1: no multiplier matches
        RunSpec(epsilon=0.0, lambda0=8.0, meta="paper", beta=0.2, continuity=False),
        RunSpec(epsilon=0.0, lambda0=90.0, meta="paper", beta=0.2),  # 450, capped at lambda_max
    ]
    lambdas = agent_adv_search(game, runs, config, progress=False).history.stacked()["lambdas"]
    assert (lambdas[:10] == torch.tensor([8.0, 8.0, 8.0, 8.0, 90.0])[:, None]).all()
    expected = torch.tensor([40.0, 8.0 / 0.6, 8.0, 8.0, config.lambda_max])
    torch.testing.assert_close(lambdas[10:, :, 0], expected.expand(2, -1).to(lambdas.dtype))
