"""End-of-training measurements shared by the bimatrix figures (3 and 4)."""

from __future__ import annotations

import pandas as pd
import torch

from ermas.bimatrix.agent_adv_search import SearchState
from ermas.bimatrix.equilibria import pure_nash_equilibria
from ermas.bimatrix.exact import regret, state_distributions, trust_region_regret
from ermas.bimatrix.game import BimatrixGame
from ermas.method import RunSpec


def final_metrics(
    game: BimatrixGame, runs: list[RunSpec], state: SearchState, rho: float, last_iters: int
) -> pd.DataFrame:
    """One row per run: rewards averaged over the last iterations, regrets, and time at equilibrium.

    Columns: ``seed``, ``planner`` and ``agents`` (mean per-step rewards of the sampled batches),
    ``regret_estimate`` (ERMAS's own), ``regret_trust_region`` and ``regret_unrestricted`` (exact, of the
    final policies), ``at_nash`` (probability of the stage game's pure equilibria at the last step) and
    ``lambda``; every quantity is averaged over the two agents where it has one value per agent.
    """
    history = state.history.stacked()
    last = slice(-last_iters, None)
    sampled = history["sampled"][last].mean(0)  # (B, 3)
    estimate = history["regret_estimate"][last].mean(0)  # (B, 2)
    exact_tr = trust_region_regret(game, state.logits, rho).detach()
    exact_full = regret(game, state.logits).detach()
    final_dist = state_distributions(game, torch.softmax(state.logits, -1))[:, -1]
    at_nash = torch.zeros(len(runs), dtype=final_dist.dtype)
    for i, j in pure_nash_equilibria(game.payoffs[1].numpy(), game.payoffs[2].numpy()):
        at_nash += final_dist[:, i * game.size + j]
    return pd.DataFrame(
        {
            "seed": [r.seed for r in runs],
            "planner": sampled[:, 0].numpy(),
            "agents": sampled[:, 1:].mean(1).numpy(),
            "regret_estimate": estimate.mean(1).numpy(),
            "regret_trust_region": exact_tr.mean(1).numpy(),
            "regret_unrestricted": exact_full.mean(1).numpy(),
            "at_nash": at_nash.numpy(),
            "lambda": state.lambdas.mean(1).numpy(),
        }
    )
