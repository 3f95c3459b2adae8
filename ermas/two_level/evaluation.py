"""The paper's evaluation of a tax policy (Section 5): new agents trained at a test eta, welfare read once
they have converged.

For a learned planner the planner is frozen (it acts, sampling from its policy, and is not updated; no tax
annealing) and new agents learn under it from scratch, or from given agents (the authors' release
fine-tunes). For US Federal and Saez the agents learn under the fixed scheme; Saez is scored only on
episodes whose rates all came from its formula (its buffer full when the episode began). The score is
the mean social welfare over the last ``window`` of the evaluation run; a run whose welfare is still
moving there is reported as not converged (:func:`converged`), never silently averaged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np

from ermas.economy import EconomyConfig
from ermas.two_level.training import TwoLevelTraining, train

TEST_ETAS = (0.11, 0.19, 0.23, 0.27, 0.35)  # the paper's Figure 6


def converged(curve: np.ndarray, window: float = 0.2, tolerance: float = 0.05) -> bool:
    """Whether ``curve`` (one value per iteration) is flat over its last ``window`` fraction: the least-squares
    trend across that window moves the curve by less than ``tolerance`` of its mean level there."""
    tail = np.asarray(curve, dtype=np.float64)[-max(2, int(round(window * len(curve)))) :]
    slope = np.polyfit(np.arange(len(tail)), tail, 1)[0]
    return bool(abs(slope * (len(tail) - 1)) < tolerance * max(abs(tail.mean()), 1e-12))


@dataclass(frozen=True)
class EvaluationResult:
    """One evaluation run: the welfare score (mean over the scored iterations of the window), whether the
    welfare curve had converged, and how many iterations were scored."""

    welfare: float
    converged: bool
    scored: int


def score(history: dict[str, list[float]], saez: bool, window: float = 0.2) -> EvaluationResult:
    """The evaluation's result from a training run's ``history`` (see :func:`ermas.two_level.training.train`);
    a NaN welfare with nothing scored where no iteration qualifies (Saez's buffer never filled)."""
    welfare = np.asarray(history["social_welfare"])
    last = np.arange(len(welfare)) >= len(welfare) - max(2, int(round(window * len(welfare))))
    if saez:
        last &= np.asarray(history["saez_formula"]) > 0
    if not last.any():  # Saez whose buffer never filled: nothing to score, and no convergence to claim
        return EvaluationResult(float("nan"), False, 0)
    return EvaluationResult(float(welfare[last].mean()), converged(welfare, window), int(last.sum()))


def evaluate(
    economy: EconomyConfig,
    training: TwoLevelTraining,
    eta: float,
    planner_from: str | os.PathLike | None = None,
    agents_from: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
) -> EvaluationResult:
    """Train new agents at ``eta`` under ``economy``'s taxes (a frozen planner from ``planner_from`` when its
    tax model is ``"planner"``) and score the welfare they reach."""
    if not 0 < eta <= 1:
        raise ValueError(f"eta must lie in (0, 1]; got {eta!r}")
    if economy.tax_model == "planner" and planner_from is None:
        raise ValueError("evaluating a learned planner needs planner_from, the checkpoint of its training")
    frozen = replace(economy, tax_annealing=None)
    run = replace(training, eta=eta, planner_learns=False)
    state = train(
        frozen, run, checkpoint=checkpoint, agents_from=agents_from, planner_from=planner_from, progress=progress
    )
    return score(state.history, saez=economy.tax_model == "saez")
