"""Parameter checks and the settings every bimatrix figure shares.

Every check raises ``ValueError`` naming the parameter and the values it accepts, so a papermill run
with a bad ``-p`` stops before any training starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ermas.agent_adv_search import META_VARIANTS, SearchConfig
from ermas.games.bimatrix import BimatrixGame
from ermas.games.payoffs import PAYOFF_CHOICES, load_payoffs


def check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}; got {value!r}")


def check_number(name: str, value: object, low: float, high: float = math.inf) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        allowed = f">= {low:g}" if high == math.inf else f"in {low:g}..{high:g}"
        raise ValueError(f"{name} must be a finite number {allowed}; got {value!r}")


def check_list(name: str, values: object, low: float, high: float) -> None:
    """A non-empty, increasing list of distinct numbers in ``low..high``."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name} must be a non-empty list of numbers (use -y '{name}: [...]'); got {values!r}")
    if not all(isinstance(v, int | float) and math.isfinite(v) and low <= v <= high for v in values):
        raise ValueError(f"{name} must all be numbers in {low:g}..{high:g}; got {values!r}")
    if list(values) != sorted(set(values)):
        raise ValueError(f"{name} must be distinct and increasing; got {values!r}")


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")


@dataclass(frozen=True)
class BimatrixSettings:
    """Game and learner settings shared by Figures 3-5 (subclasses add their own parameters)."""

    payoffs: str = "default"
    meta: str = "paper"
    horizon: int = 16
    n_episodes: int = 32
    rho: float = 0.2
    entropy_coef: float = 0.02

    def check_settings(self) -> None:
        check_choice("payoffs", self.payoffs, PAYOFF_CHOICES)
        check_choice("meta", self.meta, META_VARIANTS)
        check_int("horizon", self.horizon, 1, 10_000)
        check_int("n_episodes", self.n_episodes, 2, 100_000)
        check_number("rho", self.rho, 1e-9, 10.0)
        check_number("entropy_coef", self.entropy_coef, 0.0, 10.0)

    def game(self) -> BimatrixGame:
        return BimatrixGame(torch.tensor(load_payoffs(self.payoffs)), self.horizon)

    def search_config(self, n_iters: int, warmup_iters: int, deviation_search: bool = True) -> SearchConfig:
        """The learners' settings; the step sizes are those tuned for the default game."""
        return SearchConfig(
            n_iters=n_iters,
            warmup_iters=warmup_iters,
            n_episodes=self.n_episodes,
            rho=self.rho,
            lr=0.05,
            entropy_coef=self.entropy_coef,
            dual_lr=2.0,
            deviation_search=deviation_search,
        )
