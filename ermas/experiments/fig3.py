"""Figure 3: Agent-Adv-Search(epsilon) in the constrained repeated bimatrix game.

MARL and ERMAS at every epsilon, for every seed, train in one batch. At the end each run reports its
players' average per-step rewards over the last iterations, ERMAS's own regret estimate, and the
exact regret of its final policies (inside the trust region and unrestricted).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ermas.bimatrix.agent_adv_search import agent_adv_search
from ermas.bimatrix.evaluation import final_metrics
from ermas.checks import check_int, check_list, check_number
from ermas.claims import Claim
from ermas.experiments.params import BimatrixSettings
from ermas.method import RunSpec, marl_run


@dataclass(frozen=True)
class Fig3Params(BimatrixSettings):
    """The notebook's parameters (papermill ``-p`` / ``-y``); checked before anything runs."""

    seeds: int = 10
    epsilons: Sequence[float] = (-0.02, 0.0, 0.02, 0.05, 0.1)
    n_iters: int = 1500
    warmup_iters: int = 200
    beta: float = 0.2
    lambda0: float = 40.0
    last_iters: int = 100
    first_seed: int = 0

    def __post_init__(self) -> None:
        self.check_settings()
        check_int("seeds", self.seeds, 1, 100)
        check_int("n_iters", self.n_iters, 1, 1_000_000)
        check_int("warmup_iters", self.warmup_iters, 0, self.n_iters)
        check_int("last_iters", self.last_iters, 1, self.n_iters)
        check_int("first_seed", self.first_seed, 0, 2**31)
        check_list("epsilons", self.epsilons, -1.0, 1.0)
        check_number("beta", self.beta, 0.0)
        check_number("lambda0", self.lambda0, 0.0)

    def runs(self) -> list[RunSpec]:
        """All runs of the figure: MARL, then ERMAS at every epsilon, ``seeds`` seeds each."""
        seeds = range(self.first_seed, self.first_seed + self.seeds)
        runs = [marl_run(s) for s in seeds]
        for eps in self.epsilons:
            runs += [
                RunSpec(
                    epsilon=float(eps),
                    lambda0=self.lambda0,
                    meta=self.meta,
                    beta=self.beta,
                    seed=s,
                    continuity=self.continuity,
                )
                for s in seeds
            ]
        return runs


@dataclass
class Fig3Result:
    params: Fig3Params
    runs: pd.DataFrame  # one row per run
    history: dict[str, torch.Tensor] = field(repr=False)
    seconds: float = 0.0


def run_fig3(params: Fig3Params, progress: bool = False) -> Fig3Result:
    """Train every run of Figure 3 in one batch and evaluate it; see the module docstring."""
    start = time.perf_counter()
    game = params.game()
    runs = params.runs()
    state = agent_adv_search(game, runs, params.search_config(params.n_iters, params.warmup_iters), progress=progress)
    table = final_metrics(game, runs, state, params.rho, params.last_iters)
    table.insert(0, "method", ["ERMAS" if r.adversarial else "MARL" for r in runs])
    table.insert(1, "epsilon", [r.epsilon if r.adversarial else math.nan for r in runs])
    history = state.history.stacked()
    return Fig3Result(params, table, history, time.perf_counter() - start)


def summary(result: Fig3Result) -> pd.DataFrame:
    """Mean and standard deviation over seeds of every column, per method and epsilon."""
    table = result.runs.copy()
    table["setting"] = np.where(table["method"] == "MARL", "MARL", "ERMAS eps=" + table["epsilon"].map("{:g}".format))
    columns = [
        "planner",
        "agents",
        "regret_estimate",
        "regret_trust_region",
        "regret_unrestricted",
        "at_nash",
        "lambda",
    ]
    grouped = table.groupby("setting", sort=False)[columns]
    out = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=0).add_suffix("_sd"))
    return out[[f"{c}_{s}" for c in columns for s in ("mean", "sd")]]


REGRET_TOLERANCE = 0.02


def claims(result: Fig3Result) -> list[Claim]:
    """The Figure 3 claims of the paper, checked on ``result``."""
    t = result.runs
    marl = t[t.method == "MARL"]
    ermas = t[t.method == "ERMAS"].groupby("epsilon").mean(numeric_only=True)
    eps = ermas.index.to_numpy()
    out = []

    at_nash = marl.at_nash.to_numpy()
    out.append(
        Claim(
            "3",
            "Vanilla MARL converges to the Nash equilibrium of the stage game",
            "every MARL seed ends with >= 90% probability on the equilibrium cell at the last step",
            f"min over seeds {at_nash.min():.2f}; exact regret {marl.regret_unrestricted.mean():.3f}",
            bool(at_nash.min() >= 0.9),
        )
    )
    small = [eps[0]] + [0.0 for e in eps[1:] if e == 0.0]  # the smallest epsilon, and 0 (the smallest feasible)
    for e in small:
        gap = marl.planner.mean() - ermas.planner.loc[e]
        out.append(
            Claim(
                "3",
                "For small epsilon, ERMAS also finds the Nash equilibrium"
                + (" (at epsilon = 0)" if e != eps[0] else ""),
                f"planner reward at epsilon = {e:g} within 0.05 of MARL's",
                f"MARL {marl.planner.mean():.3f}, ERMAS {ermas.planner.loc[e]:.3f}",
                bool(abs(gap) <= 0.05),
            )
        )
    # a negative budget cannot be met (regret is never negative): like epsilon = 0 it holds the agents at
    # the equilibrium, so the monotone claims compare the feasible budgets only
    feasible = eps >= 0
    planner = ermas.planner.to_numpy()
    out.append(
        Claim(
            "3",
            "Larger epsilon lets the agents lower the planner's reward further",
            "mean planner reward strictly decreases from each feasible epsilon (>= 0) to the next",
            ", ".join(f"{e:g}: {p:.3f}" for e, p in zip(eps, planner, strict=True)),
            bool(feasible.sum() >= 2 and np.all(np.diff(planner[feasible]) < 0)),
        )
    )
    estimate = ermas.regret_estimate.to_numpy()
    exact = ermas.regret_trust_region.to_numpy()
    out.append(
        Claim(
            "3",
            "The agents' average per-step regret grows with epsilon",
            "exact trust-region regret of the final policies strictly increases from each feasible epsilon (>= 0) "
            "to the next",
            ", ".join(f"{e:g}: {x:.3f} (ERMAS estimate {r:.3f})" for e, x, r in zip(eps, exact, estimate, strict=True)),
            bool(feasible.sum() >= 2 and np.all(np.diff(exact[feasible]) > 0)),
        )
    )
    budget = np.maximum(eps, 0.0) + REGRET_TOLERANCE
    out.append(
        Claim(
            "3",
            "Agent-Adv-Search keeps the agents inside the epsilon-equilibria",
            f"exact trust-region regret (mean over seeds and agents) <= max(epsilon, 0) + {REGRET_TOLERANCE}",
            ", ".join(f"{e:g}: {x:.3f}" for e, x in zip(eps, exact, strict=True)),
            bool(np.all(exact <= budget)),
        )
    )
    return out
