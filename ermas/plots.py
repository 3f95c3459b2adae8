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


def equilibria_scatter(runs: pd.DataFrame, ax: plt.Axes) -> None:
    """Agents' against planner's average reward, mean and standard deviation over seeds per setting."""
    groups = [("MARL", runs[runs.method == "MARL"])]
    for eps, group in runs[runs.method == "ERMAS"].groupby("epsilon"):
        groups.append((f"ERMAS $\\epsilon$={eps:g}", group))
    colors = plt.cm.plasma(np.linspace(0.1, 0.85, max(len(groups) - 1, 1)))
    for k, (label, group) in enumerate(groups):
        color = "black" if label == "MARL" else colors[k - 1]
        ax.errorbar(
            group.agents.mean(),
            group.planner.mean(),
            xerr=group.agents.std(ddof=0),
            yerr=group.planner.std(ddof=0),
            fmt="o",
            color=color,
            label=label,
            capsize=3,
        )
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
