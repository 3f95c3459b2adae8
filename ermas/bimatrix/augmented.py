"""The augmented repeated bimatrix game of the paper's Figure 5: the planner acts.

At the start of every episode the planner picks a choice ``c`` (it does not observe the agents, and
they do not observe ``c``). Its reward at cell ``s`` is linear in the base payoff ``r(s)`` of the
planner's matrix: ``r~_c(s) = alpha_c * r(s) + gamma_c``. Agents receive ``r_i(s) - Q r~_c(s)``,
with ``Q`` unknown and possibly different between training and test.

Two variants:

``"paper"``
    Integer ``a`` in ``0..a_max`` and ``r~ = a * R(s) - a^2`` with ``R = scale * r``. The base payoffs
    lie in [0, 1]; without a scale the best integer ``a`` would always be 0, so ``R`` is the planner's
    payoff times ``scale`` (4 by default: at the equilibrium cell the best choice is ``a = 2``).
``"released"``
    The authors' later code: an officer count ``o`` in ``0..12`` and
    ``r~ = r(s) (3 o / 12 + 1) - (o / 12)^2``. The release adjusts ``o`` by -2..+2 every step; here
    ``o`` is chosen once per episode, like ``a``.

Because neither side observes the other's choice within an episode, the agents' expected reward
given the planner's policy is a fixed table per run; :meth:`AugmentedGame.reward_tables` builds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from ermas.bimatrix.game import BimatrixGame

AUGMENTED_VARIANTS = ("paper", "released")


@dataclass(frozen=True)
class AugmentedGame:
    """The planner's reward ``alpha_c r(s) + gamma_c`` for each choice ``c``; see the module docstring."""

    base: BimatrixGame
    variant: str = "paper"
    a_max: int = 4
    scale: float = 4.0

    def __post_init__(self) -> None:
        if self.variant not in AUGMENTED_VARIANTS:
            raise ValueError(f"variant must be one of {AUGMENTED_VARIANTS}; got {self.variant!r}")
        if not isinstance(self.a_max, int) or not 1 <= self.a_max <= 100:
            raise ValueError(f"a_max must be an integer in 1..100; got {self.a_max!r}")
        if not self.scale > 0:
            raise ValueError(f"scale must be > 0; got {self.scale!r}")

    @cached_property
    def coefficients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(alpha, gamma)``, each ``(C,)``: the planner's reward is ``alpha_c r(s) + gamma_c``."""
        dtype = self.base.payoffs.dtype
        if self.variant == "paper":
            a = torch.arange(self.a_max + 1, dtype=dtype)
            return self.scale * a, -(a**2)
        x = torch.arange(13, dtype=dtype) / 12
        return 3 * x + 1, -(x**2)

    @property
    def n_choices(self) -> int:
        return self.coefficients[0].shape[0]

    def choice_values(self, base_reward: torch.Tensor) -> torch.Tensor:
        """``(..., C)`` planner reward of every choice given the base payoff ``base_reward (...)``."""
        alpha, gamma = self.coefficients
        return base_reward[..., None] * alpha + gamma

    def reward_tables(self, planner_probs: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """``(B, S, 3)`` expected rewards per cell: planner ``E[r~]``, agents ``r_i - q E[r~]``.

        Args:
            planner_probs: ``(B, C)`` the planner's policy.
            q: ``(B,)`` the agents' weight on the planner's reward.
        """
        base = self.base.state_payoffs  # (S, 3)
        planner = self.choice_values(base[:, 0]) @ planner_probs.T  # (S, B)
        planner = planner.T  # (B, S)
        agents = base[None, :, 1:] - q[:, None, None] * planner[..., None]
        return torch.cat([planner[..., None], agents], dim=-1)
