"""Figure 4: each part of ERMAS is needed (dynamic multipliers; the meta-gradient weight beta).

Left: Agent-Adv-Search with lambda held at several fixed values (no dual updates) beside the full
algorithm. Right: learning curves of the full algorithm for several values of beta, under two readings
of the meta-gradient (``meta``, whose claims are checked, and ``compare_meta``; see
``ermas.method.META_VARIANTS``). MARL runs in the same batch as the reference (the Nash
equilibrium).
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
from ermas.bimatrix.game import N_AGENTS
from ermas.checks import check_choice, check_int, check_list, check_number
from ermas.claims import Claim
from ermas.experiments.params import BimatrixSettings
from ermas.method import META_VARIANTS, RunSpec, marl_run


@dataclass(frozen=True)
class Fig4Params(BimatrixSettings):
    """The notebook's parameters; checked before anything runs."""

    seeds: int = 10
    meta: str = "literal"
    compare_meta: str = "paper"
    epsilon: float = 0.05
    fixed_lambdas: Sequence[float] = (0.5, 2.0, 8.0, 32.0)
    betas: Sequence[float] = (0.0, 0.1, 0.2, 0.45, 1.0)
    reference_beta: float = 0.2
    n_iters: int = 1000
    warmup_iters: int = 200
    lambda0: float = 8.0
    last_iters: int = 100
    smoothing: int = 50
    first_seed: int = 0

    def __post_init__(self) -> None:
        self.check_settings()
        check_int("seeds", self.seeds, 1, 100)
        check_int("n_iters", self.n_iters, 1, 1_000_000)
        check_int("warmup_iters", self.warmup_iters, 0, self.n_iters)
        check_int("last_iters", self.last_iters, 1, self.n_iters)
        check_int("smoothing", self.smoothing, 1, self.n_iters)
        check_int("first_seed", self.first_seed, 0, 2**31)
        check_list("fixed_lambdas", self.fixed_lambdas, 0.0, 1000.0)
        check_list("betas", self.betas, 0.0, 10.0)
        if self.reference_beta not in self.betas:
            raise ValueError(f"reference_beta must be one of betas {list(self.betas)}; got {self.reference_beta!r}")
        check_number("epsilon", self.epsilon, -1.0, 1.0)
        check_number("lambda0", self.lambda0, 0.0)
        check_choice("compare_meta", self.compare_meta, ("", *META_VARIANTS))
        if self.compare_meta == self.meta:
            raise ValueError(f'compare_meta must differ from meta ({self.meta!r}), or be "" for none')

    @property
    def readings(self) -> tuple[str, ...]:
        """The meta-gradient variants of the beta sweep: ``meta`` (checked by the claims) first."""
        return (self.meta, self.compare_meta) if self.compare_meta else (self.meta,)

    def runs(self) -> tuple[list[RunSpec], list[str]]:
        """Every run and its group ("MARL", "fixed", "dynamic"); the runs carry lambda0, meta and beta."""
        seeds = range(self.first_seed, self.first_seed + self.seeds)
        groups: list[tuple[str, list[RunSpec]]] = [("MARL", [marl_run(s) for s in seeds])]
        for lam in self.fixed_lambdas:
            specs = [RunSpec(self.epsilon, lam, False, True, self.meta, self.reference_beta, s) for s in seeds]
            groups.append(("fixed", specs))
        for meta in self.readings:
            for beta in self.betas:
                groups.append(
                    ("dynamic", [RunSpec(self.epsilon, self.lambda0, True, True, meta, beta, s) for s in seeds])
                )
        runs = [r for _, specs in groups for r in specs]
        labels = [name for name, specs in groups for _ in specs]
        return runs, labels


@dataclass
class Fig4Result:
    params: Fig4Params
    runs: pd.DataFrame  # one row per run, with its group
    curves: pd.DataFrame = field(repr=False)  # smoothed learning curves of the beta groups
    seconds: float = 0.0


def run_fig4(params: Fig4Params, progress: bool = False) -> Fig4Result:
    """Train every run of Figure 4 in one batch and evaluate it."""
    start = time.perf_counter()
    game = params.game()
    runs, labels = params.runs()
    state = agent_adv_search(game, runs, params.search_config(params.n_iters, params.warmup_iters), progress=progress)
    table = final_metrics(game, runs, state, params.rho, params.last_iters)
    table.insert(0, "group", labels)
    table.insert(1, "meta", [r.meta for r in runs])
    table.insert(2, "lambda0", [r.lambda0 for r in runs])
    table.insert(3, "beta", [r.beta if label != "MARL" else math.nan for r, label in zip(runs, labels, strict=True)])
    exact = state.history.stacked()["exact"]  # (T, B, 3)
    curves = []
    for meta in params.readings:
        for beta in params.betas:
            members = table.index[(table.group == "dynamic") & (table.meta == meta) & (table.beta == beta)].to_list()
            rewards = _smooth(exact[:, members], params.smoothing)  # (T, seeds, 3)
            mean = rewards.mean(1)
            stderr = rewards.std(1, unbiased=False) / math.sqrt(len(members))
            for player, name in enumerate(("planner", "agent1", "agent2")):
                curves.append(
                    pd.DataFrame(
                        {
                            "meta": meta,
                            "beta": beta,
                            "player": name,
                            "iteration": np.arange(exact.shape[0]),
                            "mean": mean[:, player].numpy(),
                            "stderr": stderr[:, player].numpy(),
                        }
                    )
                )
    return Fig4Result(params, table, pd.concat(curves, ignore_index=True), time.perf_counter() - start)


def _smooth(values: torch.Tensor, window: int) -> torch.Tensor:
    """Trailing moving average over the first (iteration) dimension."""
    cumulative = torch.cumsum(values, 0)
    shifted = torch.cat([torch.zeros_like(cumulative[:window]), cumulative[:-window]])
    counts = torch.clamp(torch.arange(1, values.shape[0] + 1), max=window).to(values.dtype)
    return (cumulative - shifted[: values.shape[0]]) / counts.view(-1, *[1] * (values.ndim - 1))


def group_summary(result: Fig4Result) -> pd.DataFrame:
    """Mean over seeds of every measurement, per group (MARL, each fixed lambda0, each reading and beta)."""
    columns = ["planner", "agents", "regret_estimate", "regret_trust_region", "lambda"]
    keys = ["group", "meta", "lambda0", "beta"]
    return result.runs.groupby(keys, sort=False, dropna=False)[columns].mean()


def adversarial_threshold(result: Fig4Result) -> float:
    """Planner reward halfway between MARL's and the lowest that any beta of ``meta`` reaches at the end."""
    marl = result.runs[result.runs.group == "MARL"].planner.mean()
    curves = result.curves
    finals = curves[(curves.player == "planner") & (curves.meta == result.params.meta)].groupby("beta")["mean"].last()
    return float(marl - 0.5 * (marl - finals.min()))


def reach_times(result: Fig4Result) -> pd.DataFrame:
    """Per reading and beta: the first iteration after the warm-up at which its smoothed planner reward is
    below the threshold, and whether it stays there to the end of training. (Random initial policies
    already pay the planner little; the warm-up first brings every run to the Nash equilibrium.)"""
    threshold = adversarial_threshold(result)
    rows = []
    start = result.params.warmup_iters
    planner = result.curves[(result.curves.player == "planner") & (result.curves.iteration >= start)]
    for (meta, beta), curve in planner.groupby(["meta", "beta"], sort=False):
        below = curve["mean"].to_numpy() < threshold
        first = start + int(np.argmax(below)) if below.any() else None
        stays = bool(first is not None and below[first - start :].all())
        rows.append(
            {"meta": meta, "beta": beta, "reaches_at": first, "stays": stays, "final_planner": curve["mean"].iloc[-1]}
        )
    return pd.DataFrame(rows).set_index(["meta", "beta"])


def claims(result: Fig4Result) -> list[Claim]:
    """The Figure 4 claims of the paper, checked on ``result``."""
    p = result.params
    t = result.runs
    fixed = t[t.group == "fixed"].groupby("lambda0", sort=False).mean(numeric_only=True)
    reference = t[(t.group == "dynamic") & (t.meta == p.meta) & (t.beta == p.reference_beta)]
    dynamic = reference.mean(numeric_only=True)
    stderr = t[t.group == "fixed"].groupby("lambda0", sort=False)[["planner", "regret_trust_region"]].sem(ddof=0)
    dynamic_stderr = reference[["planner", "regret_trust_region"]].sem(ddof=0)
    out = []
    reached = []
    margins = []  # per fixed lambda0: how far inside (> 0) or outside (< 0) "reached" it is, in standard errors
    measured = [f"dynamic: planner {dynamic.planner:.3f}, regret {dynamic.regret_trust_region:.3f}"]
    for lam, row in fixed.iterrows():
        measured.append(f"fixed {lam:g}: {row.planner:.3f}, {row.regret_trust_region:.3f}")
        planner_margin = dynamic.planner + 0.05 - row.planner
        regret_margin = dynamic.regret_trust_region + 0.02 - row.regret_trust_region
        if planner_margin >= 0 and regret_margin >= 0:
            reached.append(lam)
        se = np.hypot(stderr.loc[lam], dynamic_stderr) + 1e-12
        margins.append(min(planner_margin / se.planner, regret_margin / se.regret_trust_region))
    out.append(
        Claim(
            "4",
            "The epsilon-equilibria found with dynamic lambda are not reached by any fixed lambda0",
            "no fixed lambda0 ends with planner reward <= dynamic's + 0.05 and exact trust-region regret "
            "<= dynamic's + 0.02",
            "; ".join(measured),
            not reached,
            close=bool(abs(max(margins)) < 1.0),
        )
    )
    times = reach_times(result).loc[p.meta]
    middle = [b for b in p.betas if 0 < b <= 1 / N_AGENTS]
    large = [b for b in p.betas if b > 1 / N_AGENTS]
    smallest = min(p.betas)
    text = ", ".join(
        f"beta {b:g}: "
        + ("never" if pd.isna(r.reaches_at) else f"iter {int(r.reaches_at)}" + ("" if r.stays else " (leaves)"))
        for b, r in times.iterrows()
    )
    middle_ok = any(times.loc[b].stays for b in middle)
    ends_fail = not times.loc[smallest].stays and not any(times.loc[b].stays for b in large)
    out.append(
        Claim(
            "4",
            "A middle range of beta reaches and stays in the adversarial region; beta near 0 and beta > 1/N do not",
            f"smoothed planner reward below {adversarial_threshold(result):.3f} (halfway from MARL to the lowest "
            f"final) until the end for some 0 < beta <= 1/N, and not for beta = {smallest:g} nor any beta > 1/N",
            text,
            bool(middle_ok and ends_fail),
        )
    )
    reaching = [(b, times.loc[b].reaches_at) for b in middle if times.loc[b].stays]
    faster = all(t1 >= t2 for (_, t1), (_, t2) in zip(reaching, reaching[1:], strict=False))
    out.append(
        Claim(
            "4",
            "Larger beta reaches the adversarial region faster",
            "among the middle betas that reach and stay, the first iteration below the threshold does not "
            "increase with beta",
            ", ".join(f"beta {b:g}: iter {int(t)}" for b, t in reaching) or "no middle beta stays",
            bool(len(reaching) >= 2 and faster),
        )
    )
    return out
