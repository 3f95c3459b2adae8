"""Agent training on the economy: episode bookkeeping, resuming after Ctrl-C with the same bits, bad input."""

import os
import signal

import pytest
import torch

import ermas.two_level.agents as agents_module
from ermas.economy import SMALL_LAYOUT, Economy, EconomyConfig
from ermas.rl.ppo import PPOConfig
from ermas.two_level.agents import AgentTraining, play_episode, train_agents
from ermas.two_level.networks import AgentNetwork

TINY = EconomyConfig(layout=SMALL_LAYOUT, episode_length=12, tax_model="saez", tax_period=4, usd_scaling=5000.0)
QUICK_PPO = PPOConfig(minibatch_size=64, epochs=2)


def test_an_episode_returns_the_change_in_utility_and_a_batch_per_agent_step():
    env = Economy(3, TINY, eta=0.23, seed=0)
    network = AgentNetwork(view_side=2 * TINY.observation_range + 1, width=16)
    batch, stats = play_episode(env, network, torch.Generator().manual_seed(0), QUICK_PPO)
    assert len(batch) == 3 * 4 * TINY.episode_length
    assert batch.mask.gather(-1, batch.actions[..., None]).all()  # every action drawn was allowed
    start = (0.0 ** (1 - 0.23) - 1) / (1 - 0.23)  # utility of no coin and no labor
    gained = env.summary().utility - start
    assert stats["agent_return"] == pytest.approx(gained.mean().item(), rel=1e-5, abs=1e-6)


def test_training_resumes_after_ctrl_c_with_the_same_bits(tmp_path, monkeypatch):
    training = AgentTraining(iterations=4, n_envs=2, ppo=QUICK_PPO, width=16, seed=3)
    full = train_agents(TINY, training, progress=False)
    path = tmp_path / "agents.pt"
    original = agents_module.play_episode
    calls = {"n": 0}

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C during the second episode
        return original(*args)

    monkeypatch.setattr(agents_module, "play_episode", interrupted)
    with pytest.raises(KeyboardInterrupt, match="interrupted at iteration 2"):
        train_agents(TINY, training, checkpoint=path, progress=False)
    monkeypatch.undo()
    resumed = train_agents(TINY, training, checkpoint=path, progress=False)
    for a, b in zip(full.network.parameters(), resumed.network.parameters(), strict=True):
        assert torch.equal(a, b)
    assert full.history == resumed.history
    assert resumed.env.completions == full.env.completions == 4
    assert torch.equal(resumed.env.saez.buffer, full.env.saez.buffer)  # the Saez memory came back too


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(iterations=0), "iterations must be a positive integer"),
        (dict(iterations=1, eta=0.0), r"eta must lie in \(0, 1\]"),
        (dict(iterations=1, entropy_coef=-1.0), "entropy_coef must be"),
    ],
)
def test_bad_training_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AgentTraining(**kwargs)
