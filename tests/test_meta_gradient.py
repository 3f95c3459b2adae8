"""The exact regret gradient (envelope theorem) against finite differences, and the variants' accuracy."""

import torch

from ermas.bimatrix.exact import trust_region_regret
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
