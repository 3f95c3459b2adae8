"""The exact regret gradient (envelope theorem) against finite differences, and the variants' accuracy."""

import torch

from ermas.bimatrix.exact import trust_region_best_response, trust_region_regret, visitation
from ermas.bimatrix.game import BimatrixGame
from ermas.bimatrix.meta_gradient import cosine_similarities, exact_regret_gradients
from ermas.bimatrix.payoffs import load_payoffs


def game():
    return BimatrixGame(torch.tensor(load_payoffs("default")), horizon=8)


def test_envelope_gradient_matches_finite_differences():
    g = game()
    logits = torch.randn(2, 2, 16, 3, generator=torch.Generator().manual_seed(5))
    grads = exact_regret_gradients(g, logits, rho=0.05)  # (B, N, S, A)
    direction = torch.randn(2, 16, 3, generator=torch.Generator().manual_seed(6))
    direction = direction / direction.flatten(1).norm(dim=1)[:, None, None]
    h = 0.05
    for agent in range(2):
        plus, minus = logits.clone(), logits.clone()
        plus[:, agent] += h * direction
        minus[:, agent] -= h * direction
        fd = (trust_region_regret(g, plus, 0.05, steps=400) - trust_region_regret(g, minus, 0.05, steps=400))[:, agent]
        fd = fd.detach() / (2 * h)
        analytic = (grads[:, agent] * direction).sum((-1, -2))
        torch.testing.assert_close(analytic, fd, atol=0.004, rtol=0.15)


def test_danskin_variant_points_along_the_exact_gradient():
    table = cosine_similarities(game(), n_pairs=6, seed=1, rho=0.05)
    assert table.danskin.mean() > 0.5
    assert (table.danskin > 0).all()
    assert table.danskin.mean() > table.released.mean()


def test_danskin_is_off_by_a_factor_two_in_a_one_state_kl_ball():
    from ermas.bimatrix.meta_gradient import one_state_danskin_check

    logits, reward = torch.tensor([0.3, -0.2, 0.1]), torch.tensor([1.0, 0.2, 0.5])
    ratio_small, cosine_small = one_state_danskin_check(1e-4, logits, reward)
    ratio_large, _ = one_state_danskin_check(1e-1, logits, reward)
    assert abs(ratio_small - 2.0) < 0.01 and cosine_small > 0.9999  # the direction is right, the size twice
    assert abs(ratio_large - 2.0) > 0.3  # and the factor is a limit, not an identity


def small_game(horizon: int) -> BimatrixGame:
    return BimatrixGame(torch.rand((3, 2, 2), generator=torch.Generator().manual_seed(1), dtype=torch.float64), horizon)


def test_moving_weights_add_the_weight_derivative_of_the_kl_ball():
    """moving - fixed = -nu* sum_s (d w(s) / d theta_i) KL_s(pi_i || pi_i*), d w / d theta by finite differences."""
    g = small_game(horizon=4)
    logits = torch.randn((1, 2, 4, 3), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    rho = 0.05
    fixed = exact_regret_gradients(g, logits, rho)
    moving = exact_regret_gradients(g, logits, rho, moving_weights=True)
    for agent in range(2):
        best = trust_region_best_response(g, logits, agent, rho)
        p = torch.softmax(logits[0, agent], -1)
        kl_per_state = (p * (torch.log_softmax(logits[0, agent], -1) - torch.log_softmax(best.logits[0], -1))).sum(-1)
        h = 1e-6
        expected = torch.zeros(4 * 3, dtype=torch.float64)
        for k in range(expected.numel()):
            step = torch.zeros_like(logits)
            step[0, agent].view(-1)[k] = h
            dw = (visitation(g, logits + step) - visitation(g, logits - step))[0] / (2 * h)
            expected[k] = -best.multiplier[0] * (dw * kl_per_state).sum()
        assert best.multiplier[0] > 0  # the ball binds, so the term is there to see
        torch.testing.assert_close((moving - fixed)[0, agent].flatten(), expected, atol=1e-8, rtol=1e-5)
        assert (moving - fixed)[0, agent].norm() > 1e-3 * fixed[0, agent].norm()


def test_moving_and_fixed_weights_agree_where_the_visitation_cannot_move():
    g = small_game(horizon=1)  # one decision per episode, in the uniformly drawn first state
    logits = torch.randn((3, 2, 4, 3), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(
        exact_regret_gradients(g, logits, 0.05, moving_weights=True), exact_regret_gradients(g, logits, 0.05)
    )
