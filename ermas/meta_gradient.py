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
- ``released``:           grad R_i ~ -g_1 + min(0.2, 2 / lambda) (theta_i* - theta_i)
- ``danskin``:            grad R_i ~ g_{M+1} - g_1
- ``none``:               grad R_i ~ -g_1
"""

from __future__ import annotations

import pandas as pd
import torch

from ermas.agent_adv_search import deviation_feasibility
from ermas.exact import exact_returns, trust_region_regret, visitation
from ermas.games.bimatrix import BimatrixGame
from ermas.tabular import fisher_vector_product, natural_gradient
from ermas.trpo import trust_region_step

VARIANTS = ("paper", "released", "danskin", "none")


def own_return_gradient(game: BimatrixGame, logits: torch.Tensor, agent: int) -> torch.Tensor:
    """``(B, S, A)`` exact gradient of agent ``agent``'s return with respect to its own logits."""
    logits = logits.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(exact_returns(game, logits)[:, 1 + agent].sum(), logits)
    return grad[:, agent]


def exact_deviation_path(
    game: BimatrixGame, logits: torch.Tensor, agent: int, rho: float, n_inner: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The deviation search of Agent-Adv-Search with exact gradients, Fisher matrices and returns.

    Returns the final deviating logits ``(B, S, A)`` and the gradients ``g_1 .. g_{M+1}``
    ``(M + 1, B, S, A)`` along the path.
    """
    start = logits[:, agent].detach()
    start_weights = visitation(game, logits)
    joint = logits.detach().clone()
    grads = []
    for _ in range(n_inner):
        grads.append(own_return_gradient(game, joint, agent))
        current = joint[:, agent].clone()
        weights = visitation(game, joint)
        before = exact_returns(game, joint)[:, 1 + agent]

        def gain(flat: torch.Tensor, joint=joint, before=before) -> torch.Tensor:
            trial = joint.clone()
            trial[:, agent] = flat.view_as(start)
            return exact_returns(game, trial)[:, 1 + agent] - before

        step = trust_region_step(
            current.flatten(1),
            grads[-1].flatten(1),
            fvp=lambda v, w=weights, c=current: fisher_vector_product(w, c, v.view_as(c)).flatten(1),
            natural_direction=lambda g, w=weights, c=current: natural_gradient(w, c, g.view_as(c)).flatten(1),
            surrogate_gain=gain,
            is_feasible=deviation_feasibility(start, start_weights, current, weights, rho, n_inner),
            max_kl=rho / n_inner,
        )
        joint = joint.clone()
        joint[:, agent] = step.params.view_as(start)
    grads.append(own_return_gradient(game, joint, agent))
    return joint[:, agent], torch.stack(grads)


def variant_estimates(
    game: BimatrixGame, logits: torch.Tensor, agent: int, rho: float, n_inner: int, beta: float, lam: float
) -> dict[str, torch.Tensor]:
    """Each variant's estimate of ``d R_agent / d theta_agent``, ``(B, S, A)`` each."""
    deviated, g = exact_deviation_path(game, logits, agent, rho, n_inner)
    displacement = deviated - logits[:, agent]
    return {
        "paper": -beta / n_inner * g[:n_inner].sum(0),
        "released": -g[0] + min(0.2, 2.0 / lam) * displacement,
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
            rows.append({"pair": b, "agent": agent + 1} | {name: cos[name][b].item() for name in VARIANTS})
    return pd.DataFrame(rows)
