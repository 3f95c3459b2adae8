"""ERMAS on the economy at a tiny size: the mixed reward's closed form, deviating agents acting in their own
group of environments, the projected dual step on sampled regrets, the multipliers' limits, resuming
after Ctrl-C with the same bits, what the gradient meta variants read, and the MARL control's budget."""

import os
import signal
from dataclasses import replace

import pytest
import torch

import ermas.two_level.robust as robust_module
from ermas.economy import SMALL_LAYOUT, Economy, EconomyConfig, observe
from ermas.method import normalised_lagrangian_reward
from ermas.rl.ppo import PPOConfig
from ermas.two_level.networks import AgentNetwork
from ermas.two_level.robust import RobustTraining, continue_marl, meta_ascent, train_robust
from ermas.two_level.training import TwoLevelTraining, play_episode, train

PLANNER = EconomyConfig(layout=SMALL_LAYOUT, episode_length=8, tax_model="planner", tax_period=4)
TINY = TwoLevelTraining(
    iterations=1,
    n_envs=4,
    agent_width=16,
    planner_width=16,
    agent_ppo=PPOConfig(minibatch_size=64),
    planner_ppo=PPOConfig(minibatch_size=16, lr=1e-4),
)


@pytest.fixture(scope="module")
def phase2(tmp_path_factory):
    path = tmp_path_factory.mktemp("robust") / "phase2.pt"
    train(PLANNER, TINY, checkpoint=path, progress=False)
    return path


def test_the_mixed_reward_moves_from_the_planners_loss_to_the_agents_own_reward():
    own, planner = torch.tensor([[1.0, 3.0]]), torch.tensor([2.0])
    torch.testing.assert_close(normalised_lagrangian_reward(own, planner, torch.zeros(2)), torch.tensor([[-2.0, -2.0]]))
    torch.testing.assert_close(normalised_lagrangian_reward(own, planner, torch.ones(2)), torch.tensor([[-0.5, 0.5]]))
    far = normalised_lagrangian_reward(own, planner, torch.full((2,), 1e9))
    torch.testing.assert_close(far, own, rtol=1e-6, atol=1e-6)


def test_each_deviation_acts_for_its_agent_in_its_own_group_of_environments():
    free = replace(PLANNER, tax_model="none")
    env = Economy(8, free, seed=0)
    shared = AgentNetwork(width=16)
    deviations = []
    for _ in range(4):  # each deviation always moves left (action 1), which the shared policy rarely does always
        deviation = AgentNetwork(width=16)
        with torch.no_grad():
            deviation.logits.weight.zero_(), deviation.logits.bias.fill_(-30.0)
            deviation.logits.bias[1] = 30.0
        deviations.append(deviation)
    episode = play_episode(env, shared, None, torch.Generator().manual_seed(0), TINY, deviations=deviations)
    assert len(episode.deviations) == 4
    for batch in episode.deviations:
        assert len(batch) == 2 * PLANNER.episode_length  # 8 environments / 4 groups, one agent each
        allowed = batch.mask[:, 0, 1]
        assert (batch.actions[allowed, 0] == 1).all()  # where moving left is allowed it is always taken
    assert episode.own_returns.shape == (8, 4)
    with pytest.raises(ValueError, match="do not split into 4 equal groups"):
        play_episode(Economy(6, free, seed=0), shared, None, torch.Generator(), TINY, deviations=deviations)


def test_an_agents_rows_of_a_shared_batch_are_its_own_steps_in_order():
    free = replace(PLANNER, tax_model="none")
    generator = torch.Generator().manual_seed(0)
    episode = play_episode(Economy(3, free, seed=0), AgentNetwork(width=16), None, generator, TINY)
    steps = free.episode_length
    actions = episode.agents.actions.view(steps, 3, 4)
    rows = [robust_module._agent_rows(episode.agents, i) for i in range(4)]
    # replay the episode's actions in a twin economy: agent i's rows are what agent i saw, step by step
    twin = Economy(3, free, seed=0)
    twin.reset()
    for t in range(steps):
        seen = observe(twin)
        for i in range(4):
            torch.testing.assert_close(rows[i].observations["flat"][3 * t : 3 * t + 3], seen.agent_flat[:, i])
            assert torch.equal(rows[i].actions[3 * t : 3 * t + 3, 0], actions[t, :, i])
        twin.step(actions[t])
    assert all(len(r) == 3 * steps for r in rows)


def test_the_dual_step_follows_the_sampled_regret_within_its_limits(phase2):
    robust = RobustTraining(
        outer_steps=2, epsilon=0.5, lambda0=20.0, dual_lr=3.0, main_iterations=1, deviation_iterations=1
    )
    state = train_robust(PLANNER, TINY, robust, phase2, progress=False)
    h = state.history
    assert state.iteration == 2 and set(h) >= {f"lambda_{i}" for i in range(4)} | {f"regret_{i}" for i in range(4)}
    for i in range(4):
        previous = 20.0
        for lam, regret in zip(h[f"lambda_{i}"], h[f"regret_{i}"], strict=True):
            assert lam == pytest.approx(min(max(previous + 3.0 * (regret - 0.5), 0.0), 100.0))
            previous = lam
    # an unreachable budget drives every multiplier to its cap; a generous one to zero (fully adversarial)
    strict = train_robust(PLANNER, TINY, replace(robust, epsilon=-1e6, outer_steps=1), phase2, progress=False)
    loose = train_robust(PLANNER, TINY, replace(robust, epsilon=1e6, outer_steps=1), phase2, progress=False)
    assert (strict.lambdas == 100.0).all() and (loose.lambdas == 0.0).all()


@pytest.mark.parametrize("meta", ["released", "danskin"])
def test_ermas_resumes_after_ctrl_c_with_the_same_bits(phase2, tmp_path, monkeypatch, meta):
    robust = RobustTraining(outer_steps=3, epsilon=0.0, main_iterations=1, deviation_iterations=1, meta=meta)
    full = train_robust(PLANNER, TINY, robust, phase2, progress=False)
    original, calls = robust_module.play_episode, {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # in the second outer step (four episodes per step)
            os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kwargs)

    monkeypatch.setattr(robust_module, "play_episode", interrupted)
    path = tmp_path / "ermas.pt"
    with pytest.raises(KeyboardInterrupt, match="interrupted at iteration 2"):
        train_robust(PLANNER, TINY, robust, phase2, checkpoint=path, progress=False)
    monkeypatch.undo()
    resumed = train_robust(PLANNER, TINY, robust, phase2, checkpoint=path, progress=False)
    assert resumed.history == full.history and torch.equal(resumed.lambdas, full.lambdas)
    for a, b in zip(resumed.planner.parameters(), full.planner.parameters(), strict=True):
        assert torch.equal(a, b)


def test_each_meta_variant_corrects_the_release_direction_by_its_own_reward_term():
    # four agents, three parameters, asymmetric values; g_0 per agent and a path of M = 2 steps plus its end
    generator = torch.Generator().manual_seed(3)
    lambdas = torch.tensor([1.0, 3.0, 0.5, 7.0], dtype=torch.float64)
    g0 = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    path = torch.randn(3, 4, 3, generator=generator, dtype=torch.float64)  # (M + 1, N, P)
    beta, w = 0.5, lambdas[:, None] / (1 + lambdas[:, None])  # the normalised Lagrangian's weight per agent

    def ascent(meta):
        return meta_ascent(RobustTraining(1, meta=meta, beta=beta).settings(), lambdas, g0, path)

    for meta in ("none", "released"):  # their own-reward term is g_0 itself, carried by the mixed reward
        torch.testing.assert_close(ascent(meta), torch.zeros(3, dtype=torch.float64))
    path_mean = path[:2].mean(0)  # (1 / M) (g_1 + g_2)
    torch.testing.assert_close(ascent("paper"), (w * (beta * path_mean - g0)).mean(0))
    torch.testing.assert_close(ascent("literal"), (w * (-4 * beta * path_mean)).mean(0))
    torch.testing.assert_close(ascent("danskin"), (w * (path[0] - path[2] - g0)).mean(0))


@pytest.mark.parametrize("meta", ["paper", "literal", "danskin"])
def test_a_gradient_meta_variant_moves_the_agents_and_logs_its_size(phase2, meta):
    robust = RobustTraining(outer_steps=1, main_iterations=1, deviation_iterations=2)
    plain = train_robust(PLANNER, TINY, robust, phase2, progress=False)
    varied = train_robust(PLANNER, TINY, replace(robust, meta=meta), phase2, progress=False)
    # the same episodes until the main update, which the variant's ascent changes
    assert varied.history["regret_0"] == plain.history["regret_0"]
    assert varied.history["meta_ascent_norm"][0] > 0 and "meta_ascent_norm" not in plain.history
    moved = [not torch.equal(a, b) for a, b in zip(varied.agents.parameters(), plain.agents.parameters(), strict=True)]
    assert any(moved)


def test_the_gradient_variants_read_each_path_and_the_shared_policy_and_scale_to_each_main_step(phase2, monkeypatch):
    calls = []  # (policy, its parameters when called, the batch's size)
    original = robust_module.policy_gradient

    def recording(policy, batch, chunk_size=None):
        assert chunk_size == TINY.agent_ppo.minibatch_size
        calls.append((policy, robust_module._flat(policy).clone(), len(batch)))
        return original(policy, batch, chunk_size)

    directions, steps = [], []  # meta_ascent's directions; the main updates' (batch, ascent)
    original_ascent, original_update = robust_module.meta_ascent, robust_module.ppo_update

    def recording_ascent(*args):
        directions.append(original_ascent(*args))
        return directions[-1]

    def recording_update(policy, optimizer, batch, config, entropy, generator, ascent=None):
        if ascent is not None:
            steps.append((batch, ascent))
        return original_update(policy, optimizer, batch, config, entropy, generator, ascent)

    monkeypatch.setattr(robust_module, "policy_gradient", recording)
    monkeypatch.setattr(robust_module, "meta_ascent", recording_ascent)
    monkeypatch.setattr(robust_module, "ppo_update", recording_update)
    start = AgentNetwork(width=16)
    start.load_state_dict(torch.load(phase2, weights_only=True)["state"]["agents"])
    m = 2
    robust = RobustTraining(outer_steps=1, main_iterations=2, deviation_iterations=m, meta="paper")
    state = train_robust(PLANNER, TINY, robust, phase2, progress=False)
    deviation_calls = [c for c in calls if c[0] is not state.agents]
    shared_calls = [c for c in calls if c[0] is state.agents]
    # g_1 .. g_{M+1} for each of the four copies, in order along each path; g_0 for each agent
    assert len(deviation_calls) == 4 * (m + 1) and len(shared_calls) == 4
    per_copy: dict[int, list] = {}
    for policy, parameters, size in deviation_calls:
        per_copy.setdefault(id(policy), []).append(parameters)
        assert size == TINY.n_envs // 4 * PLANNER.episode_length  # agent i's samples in its own group
    assert len(per_copy) == 4
    for path in per_copy.values():
        torch.testing.assert_close(path[0], robust_module._flat(start), rtol=0, atol=0)  # g_1 at the start
        assert all(not torch.equal(a, b) for a, b in zip(path, path[1:], strict=False))  # later g's after updates
    for _, parameters, size in shared_calls:
        torch.testing.assert_close(parameters, robust_module._flat(start), rtol=0, atol=0)  # g_0 at the start
        assert size == TINY.n_envs * PLANNER.episode_length  # one agent's rows of every environment
    # each main update gets the direction in its own units: divided by its episode's advantage spread
    assert len(directions) == 1 and len(steps) == robust.main_iterations
    for batch, ascent in steps:
        torch.testing.assert_close(ascent, directions[0].float() / (batch.advantages.std() + 1e-8))


def test_the_marl_control_gets_as_many_planner_updates(phase2):
    robust = RobustTraining(outer_steps=2, main_iterations=2, deviation_iterations=1)
    state = continue_marl(PLANNER, TINY, robust, phase2, progress=False)
    assert state.iteration == 4 and len(state.history["planner_entropy"]) == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(outer_steps=0), "outer_steps must be a positive integer"),
        (
            dict(outer_steps=1, meta="maml"),
            r"meta must be one of \('paper', 'literal', 'released', 'danskin', 'none'\)",
        ),
        (dict(outer_steps=1, lambda0=200.0), "must not exceed lambda_max"),
        (dict(outer_steps=1, epsilon=float("nan")), "epsilon must be finite"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RobustTraining(**kwargs)


def test_ermas_needs_a_planner_and_groups_of_four(phase2):
    with pytest.raises(ValueError, match="tax_model must be 'planner'"):
        train_robust(replace(PLANNER, tax_model="us_federal"), TINY, RobustTraining(outer_steps=1), phase2)
    with pytest.raises(ValueError, match="multiple of 4"):
        train_robust(PLANNER, replace(TINY, n_envs=6), RobustTraining(outer_steps=1), phase2)
