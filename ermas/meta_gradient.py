"""How well each meta-gradient variant approximates the true gradient of the trust-region regret.

For agent ``i`` the regret inside its trust region is

    R_i(theta) = max_{KL_w(pi_i || pi_i') <= rho} J_i(theta_i', theta_-i) - J_i(theta)        (Eq. 10, 13-14)

On the tabular game both terms and the gradient of R_i with respect to theta_i are exact
(:func:`ermas.exact.trust_region_regret`, envelope theorem). Each variant of
:data:`ermas.agent_adv_search.META_VARIANTS` implies an estimate of that gradient, built from the
policy gradients ``g_1 .. g_{M+1}`` along the agent's trust-region deviation path. Here the path is
followed with *exact* gradients and Fisher matrices, so what is measured is the approximation itself,
not sampling noise:

- ``paper``    (Eq. 15):  grad R_i ~ -(beta / M) sum_{k<=M} g_k
- ``literal``:            grad R_i ~ -g_1 + N (beta / M) sum_{k<=M} g_k
- ``released``:           grad R_i ~ -g_1 + min(beta lambda, 2) / (eta lambda) (theta_i* - theta_i), eta the step size
- ``danskin``:            grad R_i ~ g_{M+1} - g_1
- ``none``:               grad R_i ~ -g_1
"""

from __future__ import annotations

import pandas as pd
import torch

from ermas.agent_adv_search import META_VARIANTS
from ermas.exact import exact_deviation_paths, trust_region_regret
from ermas.games.bimatrix import N_AGENTS, BimatrixGame


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
    step, implies ``grad R = -g_1 + min(beta lam, 2) / (step_size lam) (theta* - theta)``.
    """
    n_runs = logits.shape[0]
    path = exact_deviation_paths(game, logits, rho, n_inner)
    rows = slice(agent * n_runs, (agent + 1) * n_runs)
    g = path.grads[:, rows]
    displacement = path.logits[rows] - logits[:, agent]
    path_mean = g[:n_inner].mean(0)
    return {
        "paper": -beta * path_mean,
        "literal": -g[0] + N_AGENTS * beta * path_mean,
        "released": -g[0] + min(beta * lam, 2.0) / (step_size * lam) * displacement,
        "danskin": g[n_inner] - g[0],
        "none": -g[0],
    }


def exact_regret_gradients(game: BimatrixGame, logits: torch.Tensor, rho: float) -> torch.Tensor:
    """``(B, N, S, A)``: exact ``d R_i / d theta_i`` for each agent ``i`` (envelope theorem)."""
    logits = logits.detach().requires_grad_(True)
    regrets = trust_region_regret(game, logits, rho)
    grads = [torch.autograd.grad(regrets[:, i].sum(), logits, retain_graph=True)[0][:, i] for i in range(2)]
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
) -> pd.DataFrame:
    """Cosine similarity of every variant with the exact regret gradient, for random policy pairs.

    One row per (pair, agent); one column per variant.
    """
    gen = torch.Generator().manual_seed(seed)
    logits = logit_scale * torch.randn((n_pairs, 2, game.n_states, 3), generator=gen)
    rows = []
    exact_all = exact_regret_gradients(game, logits, rho)
    for agent in range(2):
        exact = exact_all[:, agent].flatten(1)
        estimates = variant_estimates(game, logits, agent, rho, n_inner, beta, lam)
        cos = {
            name: torch.nn.functional.cosine_similarity(est.flatten(1), exact, dim=1) for name, est in estimates.items()
        }
        for b in range(n_pairs):
            rows.append({"pair": b, "agent": agent + 1} | {name: cos[name][b].item() for name in META_VARIANTS})
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
