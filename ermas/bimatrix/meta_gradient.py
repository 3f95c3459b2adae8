"""How well each meta-gradient variant approximates the true gradient of the trust-region regret.

For agent ``i`` the regret inside its trust region is::

    R_i(theta) = max_{KL_w(pi_i || pi_i') <= rho} J_i(theta_i', theta_-i) - J_i(theta)        (Eq. 10, 13-14)

On the tabular game both terms and the gradient of R_i with respect to theta_i are exact
(:func:`ermas.bimatrix.exact.trust_region_regret`, envelope theorem). Each variant of
:data:`ermas.method.META_VARIANTS` moves the agent along ``lambda_i d_i`` (its own-reward term,
:func:`ermas.method.own_reward_terms`), which reads as the estimate ``grad R_i ~ -d_i`` (``released``: plus
its pull per unit of step). Here the deviation path is followed with *exact* gradients and Fisher
matrices, so what is measured is the approximation itself, not sampling noise.
"""

from __future__ import annotations

import pandas as pd
import torch

from ermas import method
from ermas.bimatrix.exact import exact_deviation_paths, trust_region_regret
from ermas.bimatrix.game import BimatrixGame


def variant_estimates(
    game: BimatrixGame,
    logits: torch.Tensor,
    agent: int,
    rho: float,
    n_inner: int,
    beta: float,
    lam: float,
    step_size: float = 0.05,
) -> dict[str, torch.Tensor]:
    """Each variant's estimate of ``d R_agent / d theta_agent``, ``(B, S, A)`` each.

    Every variant's own-reward part of the update is read as ``-step_size * lam * grad R`` of a plain
    gradient step of ``step_size`` (the agents' step size), so that all of them are on one scale:
    ``released``, which moves the parameters by ``-min(beta lam, 2) (theta* - theta)`` after its gradient
    step, implies ``grad R = -g_1 + min(beta lam, 2) (theta* - theta) / (step_size lam)``. The directions
    come from :func:`ermas.method.own_reward_terms` with lambda = 1 (the scale cancels).
    """
    n_runs = logits.shape[0]
    path = exact_deviation_paths(game, logits, rho, n_inner)
    rows = slice(agent * n_runs, (agent + 1) * n_runs)
    g = path.grads[:, rows]  # (M + 1, B, S, A): g_1 .. g_{M+1} of the agent
    ones = torch.ones(n_runs, 1, dtype=logits.dtype)
    betas = torch.full((n_runs,), beta, dtype=logits.dtype)
    # one agent (the policy-gradient dimension N = 1) on the paths; the literal reading still shares
    # its policy between the game's N agents
    terms = method.own_reward_terms(ones, betas, g[0][:, None], g[:, :, None], game.n_agents)[:, :, 0]
    estimates = dict(zip(method.META_VARIANTS, -terms, strict=True))
    displacement = (path.logits[rows] - logits[:, agent])[:, None]
    pull = method.released_pull(betas, torch.full((n_runs, 1), lam, dtype=logits.dtype), displacement)[:, 0]
    estimates["released"] = estimates["released"] + pull / (step_size * lam)
    return estimates


def exact_regret_gradients(
    game: BimatrixGame, logits: torch.Tensor, rho: float, moving_weights: bool = False
) -> torch.Tensor:
    """``(B, N, S, A)``: exact ``d R_i / d theta_i`` for each agent ``i`` (envelope theorem), with the KL's state
    weights held fixed at the current visitation or, with ``moving_weights``, moving with theta (see
    :func:`ermas.bimatrix.exact.trust_region_regret`)."""
    logits = logits.detach().requires_grad_(True)
    regrets = trust_region_regret(game, logits, rho, moving_weights=moving_weights)
    grads = [torch.autograd.grad(regrets[:, i].sum(), logits, retain_graph=True)[0][:, i] for i in range(game.n_agents)]
    return torch.stack(grads, dim=1)


def cosine_similarities(
    game: BimatrixGame,
    n_pairs: int = 32,
    seed: int = 0,
    rho: float = 0.05,
    n_inner: int = 2,
    beta: float = 0.2,
    lam: float = 8.0,
    logit_scale: float = 1.0,
    moving_weights: bool = False,
) -> pd.DataFrame:
    """Cosine similarity of every variant with the exact regret gradient, for random policy pairs.

    One row per (pair, agent); one column per variant. ``moving_weights`` picks the reference gradient
    whose KL state weights move with theta (see :func:`exact_regret_gradients`).
    """
    gen = torch.Generator().manual_seed(seed)
    shape = (n_pairs, game.n_agents, game.n_states, game.n_actions)
    logits = logit_scale * torch.randn(shape, generator=gen, dtype=game.payoffs.dtype)
    rows = []
    exact_all = exact_regret_gradients(game, logits, rho, moving_weights)
    for agent in range(game.n_agents):
        exact = exact_all[:, agent].flatten(1)
        estimates = variant_estimates(game, logits, agent, rho, n_inner, beta, lam)
        cos = {
            name: torch.nn.functional.cosine_similarity(est.flatten(1), exact, dim=1) for name, est in estimates.items()
        }
        for b in range(n_pairs):
            rows.append({"pair": b, "agent": agent + 1} | {name: cos[name][b].item() for name in method.META_VARIANTS})
    return pd.DataFrame(rows)


def one_state_best_deviation(logits: torch.Tensor, reward: torch.Tensor, rho: float) -> torch.Tensor:
    """The best policy ``(A,)`` in the KL ball ``KL(pi || pi') <= rho`` of a one-state softmax ``pi``.

    Maximising ``r . pi'`` under the ball gives ``pi'_a = nu pi_a / (c - r_a)`` for some ``c > max r``
    (stationarity of the Lagrangian); ``c`` is found by bisection so that the KL equals ``rho``.
    """
    pi = torch.softmax(logits, -1)
    lo, hi = reward.max().item(), reward.max().item() + 1e6
    for _ in range(400):
        c = (lo + hi) / 2
        q = pi / (c - reward)
        q = q / q.sum()
        lo, hi = (c, hi) if (pi * (pi / q).log()).sum() > rho else (lo, c)
    q = pi / (hi - reward)
    return q / q.sum()


def one_state_danskin_check(rho: float, logits: torch.Tensor, reward: torch.Tensor) -> tuple[float, float]:
    """``(norm ratio, cosine)`` of the Danskin estimate ``g(theta*) - g(theta)`` against the true gradient of
    the one-state trust-region regret ``R(theta) = max_{KL(pi_theta || pi') <= rho} r . pi' - r . pi_theta``.

    The true gradient is taken by central differences of ``R`` (each value from
    :func:`one_state_best_deviation`), so that nothing of the envelope argument is assumed. As ``rho``
    shrinks the cosine tends to 1 and the norm ratio to 2: the ball's shape moves with ``theta``, and
    Danskin's formula, exact for a ball of fixed shape, is off by a factor 2 at first order.
    """
    logits, reward = logits.double(), reward.double()

    def regret(theta: torch.Tensor) -> torch.Tensor:
        return reward @ one_state_best_deviation(theta, reward, rho) - reward @ torch.softmax(theta, -1)

    def grad(theta: torch.Tensor) -> torch.Tensor:
        pi = torch.softmax(theta, -1)
        return pi * (reward - reward @ pi)

    h = 1e-6
    eye = torch.eye(len(logits), dtype=torch.float64)
    true = torch.stack([(regret(logits + h * e) - regret(logits - h * e)) / (2 * h) for e in eye])
    danskin = grad(one_state_best_deviation(logits, reward, rho).log()) - grad(logits)
    cosine = torch.nn.functional.cosine_similarity(danskin, true, dim=0)
    return (danskin.norm() / true.norm()).item(), cosine.item()


def weight_dependence(
    game: BimatrixGame, n_pairs: int = 24, seed: int = 0, rho: float = 0.05, logit_scale: float = 1.0
) -> pd.DataFrame:
    """How far the fixed-weight regret gradient is from the one whose KL weights move with theta.

    One row per (random policy pair, agent): the cosine between the two exact gradients and the norm of
    the moving-weight one over the fixed-weight one (:func:`exact_regret_gradients`).
    """
    gen = torch.Generator().manual_seed(seed)
    shape = (n_pairs, game.n_agents, game.n_states, game.n_actions)
    logits = logit_scale * torch.randn(shape, generator=gen, dtype=game.payoffs.dtype)
    fixed = exact_regret_gradients(game, logits, rho).flatten(2)
    moving = exact_regret_gradients(game, logits, rho, moving_weights=True).flatten(2)
    cosine = torch.nn.functional.cosine_similarity(moving, fixed, dim=-1)  # (B, N)
    ratio = moving.norm(dim=-1) / fixed.norm(dim=-1)
    return pd.DataFrame(
        {
            "pair": torch.arange(n_pairs).repeat_interleave(game.n_agents).numpy(),
            "agent": torch.arange(1, game.n_agents + 1).repeat(n_pairs).numpy(),
            "cosine": cosine.flatten().numpy(),
            "norm_ratio": ratio.flatten().numpy(),
        }
    )
