"""A picture of one environment of the economy: the map, resources, houses and agents."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from ermas.economy.config import N_AGENTS
from ermas.economy.env import Economy

AGENT_COLORS = ("#d62728", "#9467bd", "#ff7f0e", "#17becf")  # agents 0..3
_TILE_COLORS = {
    "empty": "#f4f1e8",
    "water": "#4a90d9",
    "wood source (empty)": "#cfe8c4",
    "wood": "#2e7d32",
    "stone source (empty)": "#dddddd",
    "stone": "#6d6d6d",
}


def draw_world(env: Economy, index: int = 0, ax: plt.Axes | None = None) -> plt.Axes:
    """Draw environment ``index`` of ``env``: tiles, resources, houses (squares in the owner's colour) and
    agents (discs labelled with their index and house payment)."""
    if not 0 <= index < env.batch:
        raise ValueError(f"index must lie in 0..{env.batch - 1}, got {index}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    h, w = env.height, env.width
    layout = env.layout
    stone, wood = env.resources[index].view(2, h, w).numpy() > 0
    tiles = np.zeros((h, w), dtype=int)
    for code, (grid, present) in enumerate(
        [(layout.water.numpy(), None), (layout.wood_source.numpy(), wood), (layout.stone_source.numpy(), stone)]
    ):
        if present is None:
            tiles[grid] = 1
        else:
            tiles[grid & ~present] = 2 * code
            tiles[grid & present] = 2 * code + 1
    ax.imshow(tiles, cmap=ListedColormap(list(_TILE_COLORS.values())), vmin=0, vmax=len(_TILE_COLORS) - 1)
    owners = env.houses()[index].numpy()
    for r, c in zip(*np.nonzero(owners >= 0), strict=True):
        ax.add_patch(plt.Rectangle((c - 0.4, r - 0.4), 0.8, 0.8, color=AGENT_COLORS[owners[r, c]], alpha=0.55))
    rows, cols = env.positions()[index].numpy().T
    for agent in range(N_AGENTS):
        ax.add_patch(plt.Circle((cols[agent], rows[agent]), 0.42, color=AGENT_COLORS[agent], ec="black", lw=0.8))
        ax.text(cols[agent], rows[agent], str(agent), ha="center", va="center", fontsize=7, color="white")
    ax.set_xticks([])
    ax.set_yticks([])
    legend = [Patch(color=color, label=name) for name, color in _TILE_COLORS.items() if name != "empty"]
    legend += [
        Patch(color=AGENT_COLORS[a], label=f"agent {a} (house pays {float(env.build_payment[index, a]):.1f})")
        for a in range(N_AGENTS)
    ]
    ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title(f"step {env.timestep}: {int(env.n_houses()[index])} houses, coin {env.coin_total()[index].sum():.0f}")
    return ax
