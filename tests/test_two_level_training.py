"""Two-level training on the economy: episode bookkeeping, the planner's schedule, phase 2 from phase 1,
resuming after Ctrl-C with the same bits, bad input."""

import os
import signal

import pytest
import torch

import ermas.two_level.training as training_module
from ermas.economy import SMALL_LAYOUT, Economy, EconomyConfig
from ermas.rl.ppo import PPOConfig, gae
from ermas.two_level.networks import AgentNetwork, PlannerNetwork
from ermas.two_level.training import Trajectory, TwoLevelTraining, play_episode, train

SAEZ = EconomyConfig(layout=SMALL_LAYOUT, episode_length=12, tax_model="saez", tax_period=4, usd_scaling=5000.0)
FREE = EconomyConfig(layout=SMALL_LAYOUT, episode_length=12, tax_model="none")
PLANNER = EconomyConfig(
    layout=SMALL_LAYOUT, episode_length=12, tax_model="planner", tax_period=4, tax_annealing=(1.0, 0.5)
)
QUICK = dict(
    n_envs=2,
    agent_ppo=PPOConfig(minibatch_size=64, epochs=2),
    planner_ppo=PPOConfig(minibatch_size=16, lr=1e-4),
    agent_width=16,
    planner_width=16,
)


def test_an_episode_returns_the_changes_in_utility_and_welfare():
    env = Economy(3, PLANNER, eta=0.23, seed=0)
    agents = AgentNetwork(view_side=2 * PLANNER.observation_range + 1, width=16)
    planner = PlannerNetwork(width=16)
    welfare_at_start = env.summary().social_welfare.clone()
    episode = play_episode(env, agents, planner, torch.Generator().manual_seed(0), TwoLevelTraining(iterations=1))
    agent_batch, planner_batch, stats = episode.agents, episode.planner, episode.stats
    assert len(agent_batch) == 3 * 4 * PLANNER.episode_length and len(planner_batch) == 3 * PLANNER.episode_length
    assert agent_batch.mask.gather(-1, agent_batch.actions[..., None]).all()  # every action drawn was allowed
    assert planner_batch.mask.gather(-1, planner_batch.actions[..., None]).all()
    start = (0.0 ** (1 - 0.23) - 1) / (1 - 0.23)  # utility of no coin and no labor
    assert stats["agent_return"] == pytest.approx((env.summary().utility - start).mean().item(), rel=1e-5, abs=1e-6)
    # the planner's rewards add up to the change in social welfare over the episode
    gained = (env.summary().social_welfare - welfare_at_start).mean().item()
    assert stats["planner_return"] == pytest.approx(gained, rel=1e-5, abs=1e-6)


def test_an_episode_record_holds_every_step_as_seen_whether_copied_or_written_in_place():
    draws = torch.Generator().manual_seed(0)
    network = AgentNetwork(view_side=3, width=8)
    steps, ppo = Trajectory(3), PPOConfig()
    seen, masks, rewards = [], [], []
    assert steps.next_row("spatial") is None  # before the first step there is no record to write into
    for t in range(3):
        spatial = torch.randint(0, 2, (5, 3, 3, 17), dtype=torch.uint8, generator=draws)
        if t == 1:  # written in place by its producer, as play_episode does after the first step
            spatial = steps.next_row("spatial").copy_(spatial)
        inputs = {"spatial": spatial, "flat": torch.rand(5, 135, generator=draws)}
        mask = torch.rand(5, 1, 50, generator=draws) < 0.5
        mask[:, :, 0] = True
        steps.act(network, inputs, mask, draws)
        reward = torch.rand(5, generator=draws)
        steps.reward(reward)
        seen.append({name: value.clone() for name, value in inputs.items()})
        masks.append(mask), rewards.append(reward)
    with pytest.raises(ValueError, match="a step more was played"):
        steps.act(network, inputs, mask, draws)
    assert steps.next_row("spatial") is None  # nothing left to write into
    batch = steps.batch(ppo)
    for name in ("spatial", "flat"):
        assert torch.equal(batch.observations[name], torch.cat([inputs[name] for inputs in seen]))
    assert torch.equal(batch.mask, torch.cat(masks)) and batch.mask.gather(-1, batch.actions[..., None]).all()
    logits, values = network.evaluate(batch.observations, batch.mask)  # the policy has not changed
    assert torch.allclose(batch.values, values.detach(), atol=1e-6)
    advantages = gae(
        torch.stack(rewards).float(),
        batch.values.view(3, 5),
        torch.tensor([False, False, True]).view(3, 1).expand(3, 5),
        torch.zeros(5, dtype=torch.float32),
        ppo.gamma,
        ppo.gae_lambda,
    )
    assert torch.equal(batch.advantages, advantages.flatten()) and steps.mean_return() == pytest.approx(
        torch.stack(rewards).sum(0).mean().item()
    )
    unfinished = Trajectory(3)
    unfinished.act(network, inputs, mask, draws)
    with pytest.raises(ValueError, match="the episode has 3 steps; 0 were played and rewarded"):
        unfinished.batch(ppo)
    unfinished.reward(reward)
    with pytest.raises(ValueError, match="once"):  # a second reward for the same step
        unfinished.reward(reward)
    unfinished.act(network, inputs, mask, draws)
    unfinished.act(network, inputs, mask, draws)  # the second step's reward skipped
    with pytest.raises(ValueError, match="once"):
        unfinished.reward(reward)
    with pytest.raises(ValueError, match="the episode has 3 steps; 1 were played and rewarded"):
        unfinished.batch(ppo)
    wrong = Trajectory(3)
    for t in range(2):
        wrong.act(network, inputs, mask, draws)
        if t == 0:
            wrong.reward(reward)
    with pytest.raises(ValueError, match=r"reward of step 1 has shape \(4,\); the episode's is \(5,\)"):
        wrong.reward(reward[:4])  # a broadcast would have filled the row silently


def test_the_planner_entropy_weight_falls_linearly_then_stays():
    t = TwoLevelTraining(iterations=1, planner_entropy_start=2.0, planner_entropy_end=0.5, planner_entropy_iters=10)
    assert [t.planner_entropy(k) for k in (0, 5, 10, 50)] == [2.0, 1.25, 0.5, 0.5]


def interrupted_run(monkeypatch, at_episode: int, *args, **kwargs) -> None:
    """Run :func:`train` with a real Ctrl-C (SIGINT) arriving during episode ``at_episode`` (1-based)."""
    original = training_module.play_episode
    calls = {"n": 0}

    def interrupted(*a):
        calls["n"] += 1
        if calls["n"] == at_episode:
            os.kill(os.getpid(), signal.SIGINT)
        return original(*a)

    monkeypatch.setattr(training_module, "play_episode", interrupted)
    with pytest.raises(KeyboardInterrupt, match=f"interrupted at iteration {at_episode}"):
        train(*args, **kwargs)
    monkeypatch.undo()


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


# one period per step: 4 agents x 40 periods = 160 pairs per episode, so the 500-pair buffer is full after 4
SAEZ_FILLS = EconomyConfig(layout=SMALL_LAYOUT, episode_length=40, tax_model="saez", tax_period=1, usd_scaling=5000.0)


@pytest.mark.parametrize(
    ("economy", "iterations", "stop_at", "formula"),
    [(SAEZ, 4, 2, [0.0] * 4), (SAEZ_FILLS, 5, 4, [0.0, 0.0, 0.0, 0.0, 1.0])],
    ids=["buffer-filling", "formula-reached"],
)
def test_training_resumes_after_ctrl_c_with_the_same_bits(tmp_path, monkeypatch, economy, iterations, stop_at, formula):
    training = TwoLevelTraining(iterations=iterations, seed=3, **QUICK)
    full = train(economy, training, progress=False)
    path = tmp_path / "agents.pt"
    interrupted_run(monkeypatch, stop_at, economy, training, checkpoint=path, progress=False)
    resumed = train(economy, training, checkpoint=path, progress=False)
    assert same_weights(full.agents, resumed.agents)
    assert full.history == resumed.history
    assert resumed.env.completions == full.env.completions == iterations
    assert torch.equal(resumed.env.saez.buffer, full.env.saez.buffer)  # the Saez memory came back too
    assert resumed.history["saez_formula"] == formula  # the last episode of the second case took the formula


def test_phase_two_starts_from_phase_one_and_resumes_with_the_planner(tmp_path, monkeypatch):
    phase1 = tmp_path / "phase1.pt"
    train(FREE, TwoLevelTraining(iterations=2, seed=1, **QUICK), checkpoint=phase1, progress=False)
    training = TwoLevelTraining(iterations=3, seed=2, **QUICK)
    full = train(PLANNER, training, agents_from=phase1, progress=False)
    assert len(full.history["planner_return"]) == 3
    path = tmp_path / "phase2.pt"
    interrupted_run(monkeypatch, 2, PLANNER, training, checkpoint=path, agents_from=phase1, progress=False)
    resumed = train(PLANNER, training, checkpoint=path, agents_from=phase1, progress=False)
    assert same_weights(full.planner, resumed.planner) and same_weights(full.agents, resumed.agents)
    # the start matters: phase 1's agents, not new ones
    fresh = train(PLANNER, training, progress=False)
    assert not same_weights(full.agents, fresh.agents)
    # a checkpoint written from other starting agents is not resumed
    train(FREE, TwoLevelTraining(iterations=3, seed=1, **QUICK), checkpoint=phase1, progress=False)
    with pytest.raises(ValueError, match=r"other settings \(differing: agents_from\)"):
        train(PLANNER, training, checkpoint=path, agents_from=phase1, progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(iterations=0), "iterations must be a positive integer"),
        (dict(iterations=1, eta=0.0), r"eta must lie in \(0, 1\]"),
        (dict(iterations=1, agent_entropy=-1.0), "agent_entropy must be"),
    ],
)
def test_bad_training_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TwoLevelTraining(**kwargs)


def test_a_device_that_is_not_here_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match="'cuda:99' is not present"):
        train(FREE, TwoLevelTraining(iterations=1, **QUICK), checkpoint=tmp_path / "run.pt", device="cuda:99")
    assert not (tmp_path / "run.pt").exists()


def test_naming_the_cpu_changes_no_bit():
    training = TwoLevelTraining(iterations=2, seed=5, **QUICK)
    default, named = train(PLANNER, training, progress=False), train(PLANNER, training, progress=False, device="cpu")
    assert same_weights(default.agents, named.agents) and default.history == named.history
