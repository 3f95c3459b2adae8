"""Payoff matrices for the repeated bimatrix game, and the CSV files in ``data/bimatrix/``.

Two choices are offered:

``"default"``
    Designed for this package to meet what the paper states about its (unpublished) matrices: the
    stage game has exactly one Nash equilibrium; it is a tragedy of the commons (another cell pays
    *both* agents more); and the passive planner is paid most there. Agent 1 (rows) loses 0.1 per
    row it moves down and gains 0.2 per column agent 2 moves right; agent 2 mirrors this. So moving
    towards the top-left is strictly dominant for each agent, while the bottom-right pays both more:
    a prisoner's dilemma on a 4 x 4 grid. A small seeded perturbation (``U[-0.03, 0.03]``, seed 0)
    breaks the exact linearity without changing any of the three properties.

``"released"``
    The matrices of the authors' later code release: ``np.random.seed(0)`` then three ``4 x 4`` draws
    from ``U[0, 1]`` in the order planner, agent 1, agent 2. Random matrices need not have the three
    properties above.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PLAYERS = ("planner", "agent1", "agent2")
DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "bimatrix"
PAYOFF_CHOICES = ("default", "released")


def design_default_payoffs(size: int = 4, noise: float = 0.03, seed: int = 0) -> np.ndarray:
    """The default ``(3, size, size)`` payoffs (planner, agent 1, agent 2); see the module docstring."""
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    agent1 = 0.3 + 0.2 * cols - 0.1 * rows
    agent2 = 0.3 + 0.2 * rows - 0.1 * cols
    planner = 1.0 - (rows + cols) / (2 * (size - 1))
    base = np.stack([planner, agent1, agent2])
    rng = np.random.default_rng(seed)
    perturbed = base + rng.uniform(-noise, noise, size=base.shape)
    return np.round(np.clip(perturbed, 0.0, 1.0), 4)


def released_payoffs() -> np.ndarray:
    """The authors' released ``(3, 4, 4)`` payoffs: legacy NumPy seed 0, U[0, 1], planner first."""
    state = np.random.RandomState(0)
    return np.stack([state.uniform(0.0, 1.0, size=(4, 4)) for _ in PLAYERS])


def csv_path(choice: str, player: str) -> Path:
    return DATA_DIR / f"{choice}_{player}.csv"


def load_payoffs(choice: str = "default") -> np.ndarray:
    """Read the ``(3, n, n)`` payoffs of ``choice`` (one of ``PAYOFF_CHOICES``) from ``data/bimatrix``."""
    if choice not in PAYOFF_CHOICES:
        raise ValueError(f"payoffs must be one of {PAYOFF_CHOICES}; got {choice!r}")
    return np.stack([np.loadtxt(csv_path(choice, p), delimiter=",") for p in PLAYERS])


def write_payoff_csvs() -> None:
    """Regenerate the CSV files from the two functions above (``python -m ermas.bimatrix.payoffs``)."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for choice, matrices in (("default", design_default_payoffs()), ("released", released_payoffs())):
        for player, matrix in zip(PLAYERS, matrices, strict=True):
            rows = (",".join(repr(float(x)) for x in row) for row in matrix)
            csv_path(choice, player).write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    write_payoff_csvs()
