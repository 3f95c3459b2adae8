"""The exact evaluator against Monte-Carlo estimates, closed forms and brute force."""

import itertools

import pytest
import torch

from ermas.bimatrix.agent_adv_search import SearchConfig, deviation_regret
from ermas.bimatrix.exact import (
    best_response_value,
    exact_deviation_paths,
    exact_returns,
    regret,
    trust_region_best_response,
    trust_region_regret,
    visitation,
)
from ermas.bimatrix.game import BimatrixGame
from ermas.bimatrix.payoffs import load_payoffs
from ermas.bimatrix.tabular import mean_kl, policy_gradients, rollout, sample_noise


@pytest.fixture
def game():
    return BimatrixGame(torch.tensor(load_payoffs("default")), horizon=8)


def monte_carlo(game, logits, episodes=40000, seed=0):
    gens = [torch.Generator().manual_seed(seed + b) for b in range(logits.shape[0])]
    return rollout(game, logits, sample_noise(gens, episodes, game.horizon, 16, 2))


def test_exact_returns_match_monte_carlo(game):
    logits = 1.5 * torch.randn(3, 2, 16, 3)
    batch = monte_carlo(game, logits)
    # per-step returns lie in [0, 1]; 40000 episodes give a standard error below 0.002
    torch.testing.assert_close(batch.mean_rewards(), exact_returns(game, logits), atol=0.008, rtol=0)


def test_visitation_matches_monte_carlo(game):
    logits = torch.randn(2, 2, 16, 3)
    batch = monte_carlo(game, logits)
    torch.testing.assert_close(batch.state_frequencies(16), visitation(game, logits), atol=0.004, rtol=0)


def test_policy_gradient_estimate_points_along_the_exact_gradient(game):
    logits = torch.randn(2, 2, 16, 3).requires_grad_(True)
    exact = torch.stack(
        [torch.stack(torch.autograd.grad(exact_returns(game, logits)[:, k].sum(), logits)) for k in range(3)]
    )[:, 0]  # (K, B, N, S, A)
    estimate = policy_gradients(monte_carlo(game, logits.detach(), episodes=20000), logits.detach())
    estimate = estimate.permute(1, 0, 2, 3, 4)
    cosine = torch.nn.functional.cosine_similarity(exact.flatten(2), estimate.flatten(2), dim=-1)
    assert cosine.min() > 0.95


def test_best_response_over_one_step_is_the_greedy_move(game):
    one_step = BimatrixGame(game.payoffs, horizon=1)
    logits = torch.randn(4, 2, 16, 3)
    probs = torch.softmax(logits, -1)
    nxt = game.next_state
    for agent in range(2):
        reward = game.state_payoffs[:, 1 + agent]
        expected = torch.zeros(4)
        for s in range(16):
            values = []
            for own in range(3):
                v = 0.0
                for other in range(3):
                    a1, a2 = (own, other) if agent == 0 else (other, own)
                    v = v + probs[:, 1 - agent, s, other] * reward[nxt[s, a1, a2]]
                values.append(v)
            expected += torch.stack(values).max(0).values / 16
        torch.testing.assert_close(best_response_value(one_step, logits, agent), expected)


def test_best_response_beats_every_deterministic_stationary_policy_on_a_small_horizon(game):
    """Brute force over all 3^4 stationary deterministic policies of agent 1 on a 2 x 2 grid."""
    small = BimatrixGame(game.payoffs[:, :2, :2].clone(), horizon=3)
    logits = torch.randn(1, 2, 4, 3)
    best = -1.0
    for choice in itertools.product(range(3), repeat=4):
        det = logits.clone()
        det[0, 0] = -50.0
        det[0, 0, torch.arange(4), torch.tensor(choice)] = 50.0
        best = max(best, exact_returns(small, det)[0, 1].item())
    br = best_response_value(small, logits, 0).item()
    assert br >= best - 1e-9
    # on this grid a stationary policy is optimal: from every cell the best move does not depend on time
    assert br == pytest.approx(best, abs=1e-6)


def test_regret_vanishes_at_the_deterministic_nash_equilibrium(game):
    logits = torch.full((1, 2, 16, 3), -40.0)
    logits[..., 2] = 40.0  # both agents always move towards 0, then stay clipped there
    assert regret(game, logits).abs().max() < 1e-9
    assert (regret(game, torch.randn(5, 2, 16, 3)) > 0).all()


def test_trust_region_best_response_respects_its_bound_and_lies_between(game):
    logits = torch.randn(3, 2, 16, 3)
    returns = exact_returns(game, logits)
    for agent in range(2):
        small = trust_region_best_response(game, logits, agent, rho=0.02)
        large = trust_region_best_response(game, logits, agent, rho=0.5)
        assert (small.kl <= 0.02 + 1e-12).all() and (large.kl <= 0.5 + 1e-12).all()
        recomputed = mean_kl(small.weights, logits[:, agent], small.logits)
        torch.testing.assert_close(recomputed, small.kl)
        assert (small.value > returns[:, 1 + agent]).all()
        assert (large.value >= small.value).all()
        assert (large.value <= best_response_value(game, logits, agent) + 1e-12).all()


def test_trust_region_regret_value_and_envelope_gradient(game):
    logits = torch.randn(2, 2, 16, 3).requires_grad_(True)
    value = trust_region_regret(game, logits, rho=0.05)
    assert (value > 0).all()
    (grad,) = torch.autograd.grad(value[:, 0].sum(), logits)
    # a small step along the envelope gradient raises the (recomputed) regret
    step = 0.5 * grad / grad.norm()
    before = trust_region_regret(game, logits.detach(), rho=0.05)[:, 0]
    after = trust_region_regret(game, logits.detach() + step, rho=0.05)[:, 0]
    assert (after > before).all()


def test_exact_deviation_path_gradients_values_and_radius(game):
    logits = torch.randn(3, 2, 16, 3, generator=torch.Generator().manual_seed(1))
    rho, steps = 0.1, 4
    path = exact_deviation_paths(game, logits, rho, steps)
    n_runs = logits.shape[0]
    for agent in range(2):
        rows = slice(agent * n_runs, (agent + 1) * n_runs)
        deviated = logits.clone()
        deviated[:, agent] = path.logits[rows]
        # values and the final gradient agree with the exact evaluator and autograd
        torch.testing.assert_close(path.start_value[rows], exact_returns(game, logits)[:, 1 + agent])
        torch.testing.assert_close(path.final_value[rows], exact_returns(game, deviated)[:, 1 + agent])
        probe = deviated.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(exact_returns(game, probe)[:, 1 + agent].sum(), probe)
        torch.testing.assert_close(path.grads[-1, rows], grad[:, agent])
        # inside the trust region under the starting visitation, and no better than its best response
        kl = mean_kl(visitation(game, logits), logits[:, agent], path.logits[rows])
        assert (kl <= rho * (1 + 1e-9)).all()
        best = trust_region_best_response(game, logits, agent, rho)
        assert (path.final_value[rows] <= best.value + 1e-6).all()
    assert (path.final_value > path.start_value).all()


def test_the_sampled_search_tends_to_the_exact_path_with_large_batches(game):
    logits = torch.randn(2, 2, 16, 3, generator=torch.Generator().manual_seed(2))
    exact_config = SearchConfig(rho=0.1, n_inner=4, regret_search="exact")
    _, exact = deviation_regret(game, exact_config, logits, None, [])
    sampled_config = SearchConfig(rho=0.1, n_inner=4, regret_search="sampled", n_episodes=20000, dev_episodes=20000)
    gens = [torch.Generator().manual_seed(10 + b) for b in range(2)]
    batch0 = rollout(game, logits, sample_noise(gens, 20000, game.horizon, 16, 2))
    _, sampled = deviation_regret(game, sampled_config, logits, batch0, gens)
    assert (exact > 0.01).all()
    torch.testing.assert_close(sampled, exact, atol=0.01, rtol=0.15)
