"""PPO: advantages against a plain loop, masked sampling, bad settings, and learning a known optimum."""

from collections.abc import Callable, Iterable

import pytest
import torch

from ermas.rl.ppo import Batch, PPOConfig, gae, masked_categorical, policy_gradient, ppo_update, sample_actions


def test_gae_matches_a_plain_loop_over_each_environment():
    g = torch.Generator().manual_seed(0)
    steps, envs, gamma, lam = 9, 5, 0.9, 0.8
    rewards = torch.randn(steps, envs, generator=g, dtype=torch.float64)
    values = torch.randn(steps, envs, generator=g, dtype=torch.float64)
    dones = torch.rand(steps, envs, generator=g) < 0.3
    last = torch.randn(envs, generator=g, dtype=torch.float64)
    got = gae(rewards, values, dones, last, gamma, lam)
    for b in range(envs):
        expected = [0.0] * steps
        advantage = 0.0
        for t in reversed(range(steps)):
            if dones[t, b]:
                advantage = 0.0  # nothing flows back across an episode's end
                next_value = 0.0
            else:
                next_value = float(last[b]) if t == steps - 1 else float(values[t + 1, b])
            delta = float(rewards[t, b]) + gamma * next_value - float(values[t, b])
            advantage = delta + gamma * lam * advantage
            expected[t] = advantage
        torch.testing.assert_close(got[:, b], torch.tensor(expected, dtype=torch.float64))


def test_masked_actions_are_never_drawn():
    logits = torch.tensor([[[5.0, 0.0, 0.0, 9.0], [0.0, 0.0, 0.0, 0.0]]])  # (1, K=2, A=4)
    mask = torch.tensor([[[False, True, True, False], [True, False, False, False]]])
    dist = masked_categorical(logits.expand(200_000, -1, -1), mask.expand(200_000, -1, -1))
    draws = sample_actions(dist, torch.Generator().manual_seed(0))
    assert not mask.expand(200_000, -1, -1).gather(-1, draws[..., None]).logical_not().any()
    assert (draws[:, 1] == 0).all()
    assert torch.isfinite(dist.entropy()).all()
    torch.testing.assert_close(dist.probs[0, 0], torch.tensor([0.0, 0.5, 0.5, 0.0]))


def test_a_head_without_an_allowed_action_is_an_error():
    with pytest.raises(ValueError, match="at least one allowed action"):
        masked_categorical(torch.zeros(2, 1, 3), torch.zeros(2, 1, 3, dtype=torch.bool))


@pytest.mark.parametrize("kwargs", [dict(gamma=1.5), dict(clip=0.0), dict(minibatch_size=0), dict(lr=float("nan"))])
def test_bad_settings_raise(kwargs):
    with pytest.raises(ValueError):
        PPOConfig(**kwargs)


class TablePolicy(torch.nn.Module):
    """Logits and a value per observed state (``obs["state"]`` indexes the table)."""

    def __init__(self, n_states: int, n_actions: int) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(n_states, 1, n_actions))
        self.value = torch.nn.Parameter(torch.zeros(n_states))

    def evaluate(self, obs, mask):
        return self.logits[obs["state"]], self.value[obs["state"]]


def test_ppo_learns_a_two_step_optimum_that_greed_misses():
    """Step 1: action 0 pays 1 and leads to a dead end; action 1 pays 0 and leads to a state where
    action 1 pays 3. The optimum (1, 1) earns 3; the greedy first step earns 1. Action 2 pays 10 at every
    step but is masked, so it must never be learned."""
    g = torch.Generator().manual_seed(0)
    policy = TablePolicy(n_states=3, n_actions=3)  # states: start, dead end, good state
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.05)
    config = PPOConfig(gamma=1.0, gae_lambda=0.95, minibatch_size=256, epochs=4, value_coef=0.5)
    mask = torch.tensor([True, True, False]).expand(512, 1, 3)
    masked_drawn = 0
    for _ in range(40):
        states, actions, log_probs, values, rewards = [], [], [], [], []
        state = torch.zeros(512, dtype=torch.long)
        for _step in range(2):
            with torch.no_grad():
                logits, value = policy.evaluate({"state": state}, mask)
                dist = masked_categorical(logits, mask)
                action = sample_actions(dist, g)
            a = action[:, 0]
            masked_drawn += int((a == 2).sum())
            reward = torch.where(state == 0, (a == 0).float(), torch.where((state == 2) & (a == 1), 3.0, 0.0))
            reward = reward + 10.0 * (a == 2).float()
            states.append(state), actions.append(action), log_probs.append(dist.log_prob(action).sum(-1))
            values.append(value), rewards.append(reward)
            state = torch.where(a == 1, 2, 1)
        dones = torch.tensor([False, True]).expand(512, 2).T
        advantages = gae(torch.stack(rewards), torch.stack(values), dones, torch.zeros(512), 1.0, 0.95)
        batch = Batch(
            {"state": torch.cat(states)},
            mask.repeat(2, 1, 1),
            torch.cat(actions),
            torch.cat(log_probs),
            torch.cat(values),
            advantages.flatten(),
            (advantages + torch.stack(values)).flatten(),
        )
        ppo_update(policy, optimizer, batch, config, entropy_coef=0.0, generator=g)
    probs = torch.softmax(policy.logits.detach().masked_fill(~mask[:3], -1e9), -1)[:, 0]
    assert probs[0, 1] > 0.95 and probs[2, 1] > 0.95  # the optimum, not the greedy first step
    assert masked_drawn == 0  # 40 x 2 x 512 draws, none of the masked action worth 10
    assert (policy.logits.detach()[:, 0, 2] == 0).all()  # its logit never received a gradient
    assert abs(policy.value[0].item() - 3.0) < 0.3  # the value of the start under the learned policy


def test_sampling_with_the_same_generator_gives_the_same_actions():
    dist = masked_categorical(torch.randn(1000, 3, 5, generator=torch.Generator().manual_seed(1)), None)
    first = sample_actions(dist, torch.Generator().manual_seed(7))
    again = sample_actions(dist, torch.Generator().manual_seed(7))
    assert first.shape == (1000, 3) and torch.equal(first, again)


class CountingPolicy(TablePolicy):
    """A table policy that records the size of every minibatch it is evaluated on."""

    def __init__(self) -> None:
        super().__init__(n_states=1, n_actions=2)
        self.sizes: list[int] = []

    def evaluate(self, obs, mask):
        self.sizes.append(len(obs["state"]))
        return super().evaluate(obs, mask)


@pytest.mark.parametrize(("n", "size", "expected"), [(12, 4, [4, 4, 4]), (9, 4, [5, 4]), (1, 4, [1]), (3, 4, [3])])
def test_minibatches_cover_the_batch_without_a_tiny_remainder(n, size, expected):
    policy = CountingPolicy()
    zeros = torch.zeros(n)
    batch = Batch(
        {"state": torch.zeros(n, dtype=torch.long)},
        None,
        torch.zeros(n, 1, dtype=torch.long),
        zeros,
        zeros,
        torch.randn(n, generator=torch.Generator().manual_seed(n)),
        zeros,
    )
    stats = ppo_update(
        policy,
        torch.optim.SGD(policy.parameters(), lr=0.1),
        batch,
        PPOConfig(minibatch_size=size),
        0.0,
        torch.Generator(),
    )
    assert policy.sizes == expected  # every sample once; a batch of one sample still gives a finite loss
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())


def _enumerated_bandit(probs: list[float], copies: int, rewards: list[float]) -> tuple[TablePolicy, Batch]:
    """A one-state bandit whose batch holds each action in exact proportion to its probability (``copies``
    samples in all), advantages the actions' rewards: the sample mean is then the expectation."""
    policy = TablePolicy(1, len(probs))
    with torch.no_grad():
        policy.logits[0, 0] = torch.tensor(probs).log()
    actions = torch.cat([torch.full((round(p * copies),), a) for a, p in enumerate(probs)])
    n = len(actions)
    advantages = torch.tensor(rewards)[actions]
    batch = Batch(
        {"state": torch.zeros(n, dtype=torch.long)},
        None,
        actions[:, None],
        torch.zeros(n),
        torch.zeros(n),
        advantages,
        advantages,
    )
    return policy, batch


def test_the_policy_gradient_is_the_exact_gradient_of_the_expected_centred_advantage():
    probs, rewards = [0.5, 0.25, 0.125, 0.125], [1.0, -2.0, 4.0, 0.5]
    policy, batch = _enumerated_bandit(probs, 64, rewards)
    got = policy_gradient(policy, batch)
    # closed form: d/dz sum_a pi_a(z) A_a at the softmax logits z, A the batch-centred advantages (unscaled)
    centred = batch.advantages - batch.advantages.mean()
    a_of_action = torch.zeros(4).index_put_((batch.actions[:, 0],), centred)
    pi = torch.tensor(probs)
    expected_logits = pi * (a_of_action - (pi * a_of_action).sum())
    torch.testing.assert_close(got, torch.cat([expected_logits, torch.zeros(1)]))  # the value gets none
    # in passes of a few rows (the last one shorter): the same estimate
    torch.testing.assert_close(policy_gradient(policy, batch, chunk_size=5), got)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        policy_gradient(policy, batch, chunk_size=0)


def test_an_ascent_direction_is_added_to_every_minibatch_step():
    probs, rewards = [0.5, 0.25, 0.25], [1.0, 0.0, -1.0]
    config = PPOConfig(minibatch_size=100, max_grad_norm=1e9)
    steps = {}
    for name, ascent in (("plain", None), ("pushed", torch.tensor([0.3, -0.1, 0.2, 5.0]))):
        policy, batch = _enumerated_bandit(probs, 4, rewards)
        optimizer = torch.optim.SGD(policy.parameters(), lr=1.0)
        ppo_update(policy, optimizer, batch, config, 0.0, torch.Generator().manual_seed(0), ascent)
        steps[name] = torch.cat([p.detach().flatten() for p in policy.parameters()])
    torch.testing.assert_close(steps["pushed"] - steps["plain"], torch.tensor([0.3, -0.1, 0.2, 5.0]))
    policy, batch = _enumerated_bandit(probs, 4, rewards)
    with pytest.raises(ValueError, match="one entry per parameter"):
        ppo_update(
            policy, torch.optim.SGD(policy.parameters(), lr=1.0), batch, config, 0.0, torch.Generator(), torch.zeros(3)
        )


def test_a_batch_takes_whole_rows_in_the_order_asked():
    g = torch.Generator().manual_seed(0)
    n = 7
    batch = Batch(
        {"spatial": torch.randint(0, 255, (n, 3, 3, 4), dtype=torch.uint8, generator=g), "flat": torch.randn(n, 5)},
        torch.rand(n, 1, 6, generator=g) < 0.5,
        torch.randint(0, 6, (n, 1), generator=g),
        *torch.randn(4, n, generator=g),
    )
    index = torch.tensor([5, 0, 5, 3])
    part = batch.take(index)
    for got, full in [
        *((part.observations[k], batch.observations[k]) for k in ("spatial", "flat")),
        (part.mask, batch.mask),
        (part.actions, batch.actions),
        (part.log_probs, batch.log_probs),
        (part.values, batch.values),
        (part.advantages, batch.advantages),
        (part.returns, batch.returns),
    ]:
        assert torch.equal(got, torch.stack([full[i] for i in index.tolist()]))


class _RecordingSGD(torch.optim.SGD):
    """SGD at learning rate 0 (the parameters stay put) that records the gradient of every step."""

    def __init__(self, params: Iterable[torch.Tensor]) -> None:
        super().__init__(params, lr=0.0)
        self.grads: list[torch.Tensor] = []

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        self.grads.append(torch.cat([p.grad.flatten() for group in self.param_groups for p in group["params"]]))
        return super().step(closure)


def test_the_ascent_direction_enters_every_minibatch_of_every_epoch():
    probs, rewards = [0.5, 0.25, 0.25], [1.0, 0.0, -1.0]
    config = PPOConfig(minibatch_size=8, max_grad_norm=1e9, epochs=2)
    ascent = torch.tensor([0.3, -0.1, 0.2, 5.0])
    grads = {}
    for name, direction in (("plain", None), ("pushed", ascent)):
        policy, batch = _enumerated_bandit(probs, 32, rewards)  # 32 samples: 4 minibatches per epoch
        optimizer = _RecordingSGD(policy.parameters())
        ppo_update(policy, optimizer, batch, config, 0.0, torch.Generator().manual_seed(0), direction)
        grads[name] = torch.stack(optimizer.grads)
    assert grads["plain"].shape[0] == 8
    assert not torch.equal(grads["plain"][0], grads["plain"][1])  # the minibatches differ
    torch.testing.assert_close(grads["plain"] - grads["pushed"], ascent.expand(8, -1))
