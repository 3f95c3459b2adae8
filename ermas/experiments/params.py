"""The settings every bimatrix figure shares, checked before any training starts (see ``ermas.checks``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ermas.agent_adv_search import META_VARIANTS, REGRET_SEARCHES, SearchConfig
from ermas.checks import check_bool, check_choice, check_int, check_number
from ermas.games.bimatrix import BimatrixGame
from ermas.games.payoffs import PAYOFF_CHOICES, load_payoffs


@dataclass(frozen=True)
class BimatrixSettings:
    """Game and learner settings shared by Figures 3-5 (subclasses add their own parameters)."""

    payoffs: str = "default"
    meta: str = "paper"
    horizon: int = 16
    n_episodes: int = 32
    rho: float = 0.2
    entropy_coef: float = 0.02
    regret_search: str = "exact"
    n_inner: int = 10
    dev_episodes: int = 32
    dual_lr: float = 20.0
    lambda_max: float = 400.0
    continuity: bool = True

    def check_settings(self) -> None:
        check_choice("payoffs", self.payoffs, PAYOFF_CHOICES)
        check_choice("meta", self.meta, META_VARIANTS)
        check_int("horizon", self.horizon, 1, 10_000)
        check_int("n_episodes", self.n_episodes, 2, 100_000)
        check_number("rho", self.rho, 1e-9, 10.0)
        check_number("entropy_coef", self.entropy_coef, 0.0, 10.0)
        check_choice("regret_search", self.regret_search, REGRET_SEARCHES)
        check_int("n_inner", self.n_inner, 1, 100)
        check_int("dev_episodes", self.dev_episodes, 2, 100_000)
        check_number("dual_lr", self.dual_lr, 0.0, 1000.0)
        check_number("lambda_max", self.lambda_max, 0.0, 1e6)
        check_bool("continuity", self.continuity)

    def game(self) -> BimatrixGame:
        return BimatrixGame(torch.tensor(load_payoffs(self.payoffs), dtype=torch.float64), self.horizon)

    def search_config(self, n_iters: int, warmup_iters: int, deviation_search: bool = True) -> SearchConfig:
        """The learners' settings; the step sizes are those tuned for the default game."""
        return SearchConfig(
            n_iters=n_iters,
            warmup_iters=warmup_iters,
            n_episodes=self.n_episodes,
            rho=self.rho,
            lr=0.05,
            entropy_coef=self.entropy_coef,
            dual_lr=self.dual_lr,
            lambda_max=self.lambda_max,
            n_inner=self.n_inner,
            regret_search=self.regret_search,
            dev_episodes=self.dev_episodes,
            deviation_search=deviation_search,
        )
