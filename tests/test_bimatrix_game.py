"""The vectorised game against a plain one-step-at-a-time Python implementation of the same rules."""

import random

import numpy as np
import pytest
import torch

from ermas.bimatrix.game import BimatrixGame
from ermas.bimatrix.payoffs import load_payoffs
from ermas.bimatrix.tabular import RolloutNoise, rollout
from ermas.testing.bimatrix_twin import PythonBimatrixGame


@pytest.fixture
def payoffs():
    return load_payoffs("default")


def test_step_matches_python_rules_on_every_state_and_action(payoffs):
    game = BimatrixGame(torch.tensor(payoffs), horizon=5)
    reference = PythonBimatrixGame(payoffs.tolist(), horizon=5)
    states, actions = [], []
    for s in range(16):
        for a1 in range(3):
            for a2 in range(3):
                states.append(s)
                actions.append((a1, a2))
    next_states, rewards = game.step(torch.tensor(states), torch.tensor(actions))
    for k, (s, (a1, a2)) in enumerate(zip(states, actions, strict=True)):
        reference.row, reference.col = divmod(s, 4)
        (row, col), ref_rewards, _ = reference.step(a1, a2)
        assert next_states[k].item() == row * 4 + col
        np.testing.assert_allclose(rewards[k].numpy(), ref_rewards)


def test_rollout_matches_python_episode_by_episode(payoffs):
    """Random policies: replay the batched rollout's sampled actions in the Python game."""
    game = BimatrixGame(torch.tensor(payoffs), horizon=12)
    logits = torch.randn(3, 2, 16, 3)
    noise = RolloutNoise(torch.randint(16, (3, 7)), torch.rand(3, 7, 12, 2))
    batch = rollout(game, logits, noise)
    probs = torch.softmax(logits, -1)
    for b in range(3):
        for e in range(7):
            ref = PythonBimatrixGame(payoffs.tolist(), horizon=12)
            ref.row, ref.col = divmod(noise.starts[b, e].item(), 4)
            for t in range(12):
                state = ref.row * 4 + ref.col
                assert batch.states[b, e, t].item() == state
                for agent in range(2):  # the sampled action is the inverse CDF of the uniform
                    cdf = probs[b, agent, state].cumsum(0)
                    expected = min(int((noise.uniforms[b, e, t, agent] > cdf).sum()), 2)
                    assert batch.actions[b, e, t, agent].item() == expected
                _, rewards, done = ref.step(*batch.actions[b, e, t].tolist())
                np.testing.assert_allclose(batch.rewards[b, e, t].numpy(), rewards)
            assert done


def test_python_game_starts_uniformly(payoffs):
    ref = PythonBimatrixGame(payoffs.tolist(), horizon=1, seed=3)
    counts = np.zeros(16)
    for _ in range(16000):
        row, col = ref.reset()
        counts[row * 4 + col] += 1
    assert np.abs(counts / 16000 - 1 / 16).max() < 0.01


def test_moves_are_clipped_at_the_border(payoffs):
    game = BimatrixGame(torch.tensor(payoffs), horizon=1)
    corner = torch.tensor([0, 15])  # (0, 0) and (3, 3)
    down_both = torch.tensor([[2, 2], [1, 1]])  # -1 at the top-left, +1 at the bottom-right
    nxt, _ = game.step(corner, down_both)
    assert nxt.tolist() == [0, 15]


@pytest.mark.parametrize(
    "states, actions, message",
    [
        (torch.tensor([0]), torch.tensor([[3, 0]]), "actions must lie in 0..2"),
        (torch.tensor([16]), torch.tensor([[0, 0]]), "states must lie in 0..15"),
        (torch.tensor([0, 1]), torch.tensor([[0, 0]]), "actions must have shape"),
    ],
)
def test_bad_steps_raise(payoffs, states, actions, message):
    game = BimatrixGame(torch.tensor(payoffs), horizon=1)
    with pytest.raises(ValueError, match=message):
        game.step(states, actions)


def test_bad_game_definitions_raise(payoffs):
    with pytest.raises(ValueError, match="shape"):
        BimatrixGame(torch.zeros(2, 4, 4), horizon=3)
    with pytest.raises(ValueError, match="horizon"):
        BimatrixGame(torch.tensor(payoffs), horizon=0)
    bad = torch.tensor(payoffs).clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        BimatrixGame(bad, horizon=3)


def test_same_noise_same_episodes(payoffs):
    game = BimatrixGame(torch.tensor(payoffs), horizon=6)
    logits = torch.randn(2, 2, 16, 3)
    gen = random.Random(0)
    noise = RolloutNoise(torch.tensor([[gen.randrange(16) for _ in range(5)]] * 2), torch.rand(2, 5, 6, 2))
    a, b = rollout(game, logits, noise), rollout(game, logits, noise)
    assert torch.equal(a.actions, b.actions) and torch.equal(a.rewards, b.rewards)
