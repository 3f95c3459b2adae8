"""The trust-region step: conjugate gradient, exact natural gradient, and the KL bound."""

import torch

from ermas.bimatrix.game import BimatrixGame
from ermas.bimatrix.payoffs import load_payoffs
from ermas.bimatrix.tabular import (
    fisher_vector_product,
    mean_kl,
    natural_gradient,
    policy_gradients,
    rollout,
    sample_noise,
    surrogate_coefficients,
)
from ermas.trpo import cg_natural_direction, conjugate_gradient, trust_region_step


def test_conjugate_gradient_solves_spd_systems():
    a = torch.randn(4, 6, 6)
    spd = a @ a.transpose(1, 2) + 0.5 * torch.eye(6)
    b = torch.randn(4, 6)
    x = conjugate_gradient(lambda v: (spd @ v[..., None])[..., 0], b, iters=30)
    torch.testing.assert_close((spd @ x[..., None])[..., 0], b, atol=1e-8, rtol=0)


def test_fisher_vector_product_is_the_hessian_of_the_mean_kl():
    weights = torch.softmax(torch.randn(2, 5), -1)
    logits = torch.randn(2, 5, 3)
    v = torch.randn(2, 5, 3)
    new = logits.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(mean_kl(weights, logits, new).sum(), new, create_graph=True)
    (hv,) = torch.autograd.grad((g * v).sum(), new)
    torch.testing.assert_close(fisher_vector_product(weights, logits, v), hv)


def test_exact_natural_gradient_agrees_with_damped_conjugate_gradient():
    weights = torch.softmax(torch.randn(2, 5), -1)
    logits = torch.randn(2, 5, 3)
    raw = torch.randn(2, 5, 3)
    probs = torch.softmax(logits, -1)
    grad = weights[..., None] * probs * (raw - (probs * raw).sum(-1, keepdim=True))  # a policy gradient
    exact = natural_gradient(weights, logits, grad)
    torch.testing.assert_close(fisher_vector_product(weights, logits, exact), grad)
    fvp = lambda v: fisher_vector_product(weights, logits, v.view_as(logits)).flatten(1)  # noqa: E731
    by_cg = cg_natural_direction(fvp, damping=1e-10, iters=60)(grad.flatten(1)).view_as(logits)
    # both solve F x = g; they may differ by a constant per state, which F ignores
    torch.testing.assert_close(fisher_vector_product(weights, logits, by_cg), grad, atol=1e-6, rtol=0)


def test_trust_region_step_never_exceeds_its_kl_bound_and_improves_the_surrogate():
    game = BimatrixGame(torch.tensor(load_payoffs("default")), horizon=8)
    logits = torch.randn(6, 2, 16, 3)
    gens = [torch.Generator().manual_seed(i) for i in range(6)]
    batch = rollout(game, logits, sample_noise(gens, 64, 8, 16, 2))
    agent = torch.zeros(6, dtype=torch.long)
    own = logits[:, 0]
    weights = batch.state_frequencies(16)
    grad = policy_gradients(batch, logits)[:, 1, 0]
    coef = surrogate_coefficients(batch, logits, agent + 1)
    base = (coef * torch.softmax(own, -1)).sum((-1, -2))
    # the surrogate's gradient at the current policy is the policy gradient
    probe = own.clone().requires_grad_(True)
    (surrogate_grad,) = torch.autograd.grad((coef * torch.softmax(probe, -1)).sum(), probe)
    torch.testing.assert_close(surrogate_grad, grad)
    for bound in (0.001, 0.01, 0.1):
        step = trust_region_step(
            own.flatten(1),
            grad.flatten(1),
            fvp=lambda v: fisher_vector_product(weights, own, v.view_as(own)).flatten(1),
            natural_direction=lambda g: natural_gradient(weights, own, g.view_as(own)).flatten(1),
            surrogate_gain=lambda p: (coef * torch.softmax(p.view_as(own), -1)).sum((-1, -2)) - base,
            is_feasible=lambda p, bound=bound: mean_kl(weights, own, p.view(*p.shape[:-1], *own.shape[1:])) <= bound,
            max_kl=bound,
        )
        new = step.params.view_as(own)
        assert (mean_kl(weights, own, new) <= bound).all()
        moved = step.accepted_fraction > 0
        assert moved.any()
        assert (step.improvement[moved] > 0).all()
        # the full step of the quadratic model lands close to the bound
        full = step.accepted_fraction == 1
        assert (mean_kl(weights, own, new)[full] > 0.5 * bound).all()
