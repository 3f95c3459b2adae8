"""The settings every bimatrix figure shares, checked before any training starts (see ``ermas.checks``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ermas.bimatrix.agent_adv_search import REGRET_SEARCHES, SearchConfig
from ermas.bimatrix.game import BimatrixGame
from ermas.bimatrix.payoffs import PAYOFF_CHOICES, load_payoffs
from ermas.checks import check_bool, check_choice, check_int, check_number
from ermas.method import META_VARIANTS


@dataclass(frozen=True)
class BimatrixSettings:
    """Game and learner settings shared by Figures 3-5 (subclasses add their own parameters)."""

    payoffs: str = "default"
    meta: str = "paper"
    horizon: int = 16
    # the learners' settings default to SearchConfig's, where the tuned values are written once
    n_episodes: int = SearchConfig.n_episodes
    rho: float = SearchConfig.rho
    entropy_coef: float = SearchConfig.entropy_coef
    regret_search: str = SearchConfig.regret_search
    n_inner: int = SearchConfig.n_inner
    dev_episodes: int = SearchConfig.dev_episodes
    dual_lr: float = SearchConfig.dual_lr
    lambda_max: float = SearchConfig.lambda_max
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
        """The learners' settings (the agents' step size is SearchConfig's)."""
        return SearchConfig(
            n_iters=n_iters,
            warmup_iters=warmup_iters,
            n_episodes=self.n_episodes,
            rho=self.rho,
            entropy_coef=self.entropy_coef,
            dual_lr=self.dual_lr,
            lambda_max=self.lambda_max,
            n_inner=self.n_inner,
            regret_search=self.regret_search,
            dev_episodes=self.dev_episodes,
            deviation_search=deviation_search,
        )
