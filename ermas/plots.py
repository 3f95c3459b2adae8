"""Figures of the paper, drawn from results (the notebooks only call these)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

PLAYER_TITLES = ("planner $\\tilde r$", "agent 1 (rows) $r_1$", "agent 2 (columns) $r_2$")


def payoff_heatmaps(payoffs: np.ndarray) -> Figure:
    """Three heatmaps (planner, agent 1, agent 2) of ``payoffs (3, n, n)``; brighter is higher."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), constrained_layout=True)
    for ax, matrix, title in zip(axes, payoffs, PLAYER_TITLES, strict=True):
        image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
        n = matrix.shape[0]
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    f"{matrix[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if matrix[i, j] < 0.6 else "black",
                )
        ax.set_title(title)
        ax.set_xlabel("column $j$")
        ax.set_ylabel("row $i$")
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
    fig.colorbar(image, ax=axes, shrink=0.8, label="payoff per step")
    return fig


def _outcome_point(ax: plt.Axes, group: pd.DataFrame, **style) -> None:
    """One setting's end-of-training outcome: mean and standard deviation over its seeds."""
    ax.errorbar(
        group.agents.mean(),
        group.planner.mean(),
        xerr=group.agents.std(ddof=0),
        yerr=group.planner.std(ddof=0),
        capsize=3,
        **style,
    )


def equilibria_scatter(runs: pd.DataFrame, ax: plt.Axes) -> None:
    """Agents' against planner's average reward, mean and standard deviation over seeds per setting."""
    groups = [("MARL", runs[runs.method == "MARL"])]
    for eps, group in runs[runs.method == "ERMAS"].groupby("epsilon"):
        groups.append((f"ERMAS $\\epsilon$={eps:g}", group))
    colors = plt.cm.plasma(np.linspace(0.1, 0.85, max(len(groups) - 1, 1)))
    for k, (label, group) in enumerate(groups):
        color = "black" if label == "MARL" else colors[k - 1]
        _outcome_point(ax, group, fmt="o", color=color, label=label)
    ax.set_xlabel("agents' average reward per step")
    ax.set_ylabel("planner's average reward per step")
    ax.legend(fontsize=8)


def regret_against_epsilon(runs: pd.DataFrame, ax: plt.Axes) -> None:
    """ERMAS's regret estimate and the exact regrets of its final policies, against epsilon."""
    ermas = runs[runs.method == "ERMAS"].groupby("epsilon")
    columns = (
        ("regret_estimate", "ERMAS estimate", "o-"),
        ("regret_trust_region", "exact, trust region", "s--"),
        ("regret_unrestricted", "exact, unrestricted", "^:"),
    )
    for column, label, style in columns:
        mean, sd = ermas[column].mean(), ermas[column].std(ddof=0)
        ax.errorbar(mean.index, mean.to_numpy(), yerr=sd.to_numpy(), fmt=style, label=label, capsize=3)
    eps = np.array(sorted(runs.epsilon.dropna().unique()))
    ax.plot(eps, eps, color="grey", lw=0.8, label="regret = $\\epsilon$")
    ax.set_xlabel("$\\epsilon$")
    ax.set_ylabel("average per-step regret")
    ax.legend(fontsize=8)


def fig3_panels(runs: pd.DataFrame) -> Figure:
    """Figure 3's middle and right panels."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    equilibria_scatter(runs, left)
    left.set_title("Equilibria reached")
    regret_against_epsilon(runs, right)
    right.set_title("Regret against $\\epsilon$")
    return fig


def fig4_panels(runs: pd.DataFrame, curves: pd.DataFrame, threshold: float) -> Figure:
    """Figure 4: fixed against dynamic lambda (left); learning curves per beta (right), one row per reading
    of the meta-gradient (``curves.meta``), the first row the one whose claims are checked."""
    readings = list(dict.fromkeys(curves.meta))
    fig = plt.figure(figsize=(13, 3.6 * len(readings) + 0.6), constrained_layout=True)
    grid = fig.add_gridspec(len(readings), 4, width_ratios=[1.3, 1, 1, 1])
    left = fig.add_subplot(grid[:, 0])
    _outcome_point(left, runs[runs.group == "MARL"], fmt="o", color="black", label="MARL")
    fixed = runs[runs.group == "fixed"]
    lambdas = list(dict.fromkeys(fixed.lambda0))
    for lam, color in zip(lambdas, plt.cm.viridis(np.linspace(0.1, 0.9, max(len(lambdas), 1))), strict=False):
        _outcome_point(left, fixed[fixed.lambda0 == lam], fmt="s", color=color, label=f"fixed $\\lambda_0$={lam:g}")
    dynamic = runs[(runs.group == "dynamic") & (runs.meta == readings[0])]
    for beta, group in dynamic.groupby("beta", sort=False):
        _outcome_point(left, group, fmt="*", markersize=10, label=f"dynamic $\\lambda$, $\\beta$={beta:g}")
    left.set_xlabel("agents' average reward per step")
    left.set_ylabel("planner's average reward per step")
    left.set_title(f"Fixed against dynamic $\\lambda$ ({readings[0]})")
    left.legend(fontsize=7)
    betas = sorted(curves.beta.unique())
    colors = plt.cm.plasma(np.linspace(0.05, 0.85, len(betas)))
    for row, meta in enumerate(readings):
        for k, player in enumerate(("planner", "agent1", "agent2")):
            ax = fig.add_subplot(grid[row, k + 1])
            for beta, color in zip(betas, colors, strict=True):
                curve = curves[(curves.meta == meta) & (curves.beta == beta) & (curves.player == player)]
                ax.plot(curve.iteration, curve["mean"], color=color, label=f"$\\beta$={beta:g}")
                ax.fill_between(
                    curve.iteration, curve["mean"] - curve.stderr, curve["mean"] + curve.stderr, color=color, alpha=0.25
                )
            if player == "planner":
                ax.axhline(threshold, color="grey", ls="--", lw=0.8, label="adversarial region")
                ax.legend(fontsize=7)
            ax.set_title(f"{player}, meta-gradient '{meta}'")
            ax.set_xlabel("iteration")
            ax.set_ylabel("reward per step (smoothed)")
    return fig


def _curves_by_method(ax: plt.Axes, table: pd.DataFrame, x: str, error: str, styles: dict) -> None:
    """One line per method of ``table``: its ``mean`` against column ``x`` with ``error`` bars, styled by
    ``styles[method] = (colour, format)``."""
    for method, group in table.groupby("method", sort=False):
        color, style = styles.get(method, ("black", "o-"))
        ax.errorbar(group[x], group["mean"], yerr=group[error], fmt=style, color=color, label=method, capsize=3)


def fig5_panel(curves: pd.DataFrame, train_q: float = 0.0) -> Figure:
    """Figure 5: the frozen planner's objective against the test Q, mean and standard error per method."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), constrained_layout=True)
    styles = {
        "ERMAS": ("C3", "o-"),
        "MARL (Q=0)": ("C0", "s-"),
        "MARL (Q=0.5)": ("C2", "^-"),
        "DR": ("C7", "v--"),
        "RR": ("C5", "d--"),
    }
    _curves_by_method(ax, curves, "q", "stderr", styles)
    ax.axvline(train_q, color="grey", ls="--", lw=0.8, label="training Q")
    ax.set_xlabel("test Q (agents receive $r_i - Q\\,\\tilde r$)")
    ax.set_ylabel("planner's reward per step (frozen planner)")
    ax.legend(fontsize=8)
    return fig


FIG6_STYLES = {
    "ERMAS": ("C3", "o-"),
    "MARL": ("C0", "s-"),
    "US Federal": ("C2", "^-"),
    "Saez": ("C1", "v-"),
    "Random planner": ("C7", "x"),
    "MARL continued": ("C9", "s--"),
}
"""Figure 6's methods: (colour, marker and line) each."""


def fig6_welfare_panel(summary: pd.DataFrame, training_eta: float = 0.23) -> Figure:
    """Figure 6's welfare panel: social welfare of the evaluation agents against the test eta, mean and
    standard error over seeds per method (a method evaluated at one eta only is a single point); a point
    whose mean holds an evaluation that did not converge (``summary.converged < summary.seeds``) is ringed."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), constrained_layout=True)
    _curves_by_method(ax, summary, "eta", "se", FIG6_STYLES)
    unsettled = summary[summary.converged < summary.seeds]
    if len(unsettled):
        ax.scatter(
            unsettled.eta,
            unsettled["mean"],
            s=160,
            facecolors="none",
            edgecolors="black",
            lw=0.8,
            zorder=3,
            label="not every seed converged",
        )
    ax.axvline(training_eta, color="grey", ls="--", lw=0.8, label="training eta")
    ax.set_xlabel("test eta (the agents' risk aversion)")
    ax.set_ylabel("social welfare (equality x productivity)")
    ax.legend(fontsize=8)
    return fig


def fig6_gain_panel(gains: pd.DataFrame, reference: str, training_eta: float = 0.23) -> Figure:
    """Each method's social welfare relative to ``reference``'s (same seed), in percent, against the test eta,
    mean and standard error over seeds."""
    fig, ax = plt.subplots(figsize=(7.5, 4.0), constrained_layout=True)
    _curves_by_method(ax, gains, "eta", "se", FIG6_STYLES)
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(training_eta, color="grey", ls="--", lw=0.8, label="training eta")
    ax.set_xlabel("test eta (the agents' risk aversion)")
    ax.set_ylabel(f"welfare relative to {reference} (%)")
    ax.legend(fontsize=8)
    return fig


def training_curves(histories: pd.DataFrame, names: dict[str, str], metric: str = "social_welfare") -> Figure:
    """``metric`` per iteration of the runs in ``names`` (run name -> label), one line each."""
    fig, ax = plt.subplots(figsize=(7.5, 3.5), constrained_layout=True)
    for name, label in names.items():
        curve = histories[histories.name == name]
        ax.plot(curve.iteration, curve[metric], label=label, lw=1)
    ax.set_xlabel("iteration (one episode in every environment)")
    ax.set_ylabel(metric.replace("_", " "))
    ax.legend(fontsize=8, ncol=3)
    return fig


def robust_training_panels(
    histories: pd.DataFrame, seeds: list[int], epsilon: float, lambda_max: float, main_iterations: int
) -> Figure:
    """ERMAS's training from phase 2, per outer step and seed: each agent's multiplier (its range [0,
    ``lambda_max``] drawn, so a multiplier stuck at either end shows), each agent's sampled regret against
    ``epsilon``, and the planner's reward against its control, MARL continued, by planner updates."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    for seed, style in zip(seeds, ("-", "--", ":", "-."), strict=False):
        ermas = histories[histories.name == f"seed{seed}_ermas"]
        marl = histories[histories.name == f"seed{seed}_marl_continued"]
        for i in range(4):
            color = f"C{i}"
            label = f"agent {i}" if seed == seeds[0] else None
            axes[0].plot(ermas.iteration, ermas[f"lambda_{i}"], style, color=color, lw=1, label=label)
            axes[1].plot(ermas.iteration, ermas[f"regret_{i}"], style, color=color, lw=0.8, label=label)
        updates = (ermas.iteration + 1) * main_iterations
        axes[2].plot(updates, ermas.planner_return, style, color="C3", lw=1, label=f"ERMAS, seed {seed}")
        axes[2].plot(
            marl.iteration + 1, marl.planner_return, style, color="C9", lw=1, label=f"MARL continued, seed {seed}"
        )
    for bound in (0.0, lambda_max):
        axes[0].axhline(bound, color="grey", lw=0.6)
    axes[1].axhline(epsilon, color="black", ls="--", lw=0.8, label="epsilon")
    titles = ("multiplier lambda_i", "sampled regret (episode return)", "planner's reward per episode")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    axes[0].set_xlabel("outer step")
    axes[1].set_xlabel("outer step")
    axes[2].set_xlabel("planner updates")
    return fig


def live_beside_stored(histories: pd.DataFrame, live: pd.DataFrame) -> Figure:
    """Each live retrain's welfare (markers) over its stored run's whole curve (line)."""
    fig, ax = plt.subplots(figsize=(7.5, 3.5), constrained_layout=True)
    for k, (name, curve) in enumerate(live.groupby("name", sort=False)):
        stored = histories[histories.name == name]
        ax.plot(stored.iteration, stored.social_welfare, color=f"C{k}", lw=1, label=f"{name} (stored)")
        ax.plot(curve.iteration, curve.social_welfare, "o", color=f"C{k}", mfc="none", label=f"{name} (live)")
    ax.set_xlabel("evaluation iteration")
    ax.set_ylabel("social welfare")
    ax.legend(fontsize=7)
    return fig
