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


def fig6_welfare_panel(summary: pd.DataFrame, training_eta: float = 0.23) -> Figure:
    """Figure 6's welfare panel: social welfare of the evaluation agents against the test eta, mean and
    standard error over seeds per method (a method evaluated at one eta only is a single point)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), constrained_layout=True)
    styles = {
        "ERMAS": ("C3", "o-"),
        "MARL": ("C0", "s-"),
        "US Federal": ("C2", "^-"),
        "Saez": ("C1", "v-"),
        "Random planner": ("C7", "x"),
    }
    _curves_by_method(ax, summary, "eta", "se", styles)
    ax.axvline(training_eta, color="grey", ls="--", lw=0.8, label="training eta")
    ax.set_xlabel("test eta (the agents' risk aversion)")
    ax.set_ylabel("social welfare (equality x productivity)")
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
