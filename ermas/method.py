"""ERMAS's rules, independent of how a policy is represented (paper Section 4, with its errors corrected).

The agents look for the epsilon-equilibrium that is worst for the robust actor (the planner)::

    min_theta  J_r(theta)  s.t.  R_i(theta) <= epsilon  for every agent i,                  (Eq. 7-8)
    R_i(theta) = max_{KL(pi_i || pi_i') <= rho} J_i(theta_i', theta_-i) - J_i(theta)        (Eq. 10, 13-14)

dualised as ``max_{lambda >= 0} min_theta L``, ``L = J_r + sum_i lambda_i (R_i - epsilon)`` (Eq. 9, sign
corrected). This module holds what every world shares: the settings of a run (:class:`RunSpec`), the
descent direction of ``L`` for each agent under every meta-gradient variant (:func:`own_reward_terms`,
:func:`agent_direction`, :func:`released_pull`), the regret estimate from a deviation
(:func:`regret_estimate`), and the multipliers' schedule (warm-up, :meth:`RunSettings.after_warmup`, and
the projected dual step, :func:`dual_step`). How a world samples, searches for deviations and steps its
policies lives with the world (:mod:`ermas.bimatrix.agent_adv_search` for tabular policies).

Shapes: ``B`` runs, ``N`` agents; a policy gradient has shape ``(B, N, *P)`` for parameters of shape ``P``
per agent. Rewards are mean rewards per step, so a regret and epsilon are in reward per step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

Tensor = torch.Tensor

META_VARIANTS = ("paper", "literal", "released", "danskin", "none")
"""How the gradient of the regret's first term, ``d/dtheta_i J_i(theta_i*(theta), theta_-i)``, is
approximated. With g_k the policy gradient of J_i at the k-th point of the deviation path (g_1 at theta_i,
g_{M+1} at the deviation theta_i*) and g_0 the standard policy gradient of J_i on the batch B_0, the
agent's ascent direction is ``-grad J_r + lambda_i d_i`` with the own-reward term ``d_i``
(:func:`own_reward_terms`, the one place these formulas are written):

- ``paper``    (Eq. 11 with 15-16; the g_1 terms cancel): d_i = (beta / M) sum_{k<=M} g_k
- ``literal``  (Algorithm 2 as printed, the standard step then the meta displacement subtracted, with one
  policy shared by the N agents as in the authors' release): d_i = g_0 - N (beta / M) sum_{k<=M} g_k
- ``released`` (the authors' code): d_i = g_0, and after the step theta_i -= min(beta lambda_i, 2)
  (theta_i* - theta_i) (:func:`released_pull`)
- ``danskin``  (first-order MAML; not first-order exact for a KL ball): d_i = g_1 - g_{M+1}
- ``none``     (no meta term): d_i = g_0

Read as an estimate of the regret's gradient, ``grad R_i ~ -d_i`` (``released``: plus the pull divided
by its step size times lambda_i; see :func:`ermas.bimatrix.meta_gradient.variant_estimates`).
"""


def own_reward_weight(meta: str, beta: float, n_agents: int) -> float:
    """The weight on the agent's own policy gradient per unit of lambda, at the start of a deviation path.

    Where the path has not moved (all g_k equal) every variant's own-reward term is this weight times
    lambda_i g: ``beta`` for ``paper``, ``1 - N beta`` for ``literal``, 0 for ``danskin`` (its g_1 - g_{M+1}
    vanishes), 1 for ``released`` and ``none``. The warm-up
    weights the own reward by lambda_0 (Algorithm 2, line 1); continuity at the end of the warm-up sets
    lambda to lambda_0 / weight (see :class:`RunSpec`).
    """
    if meta == "paper":
        return beta
    if meta == "literal":
        return 1.0 - n_agents * beta
    if meta == "danskin":
        return 0.0
    return 1.0


@dataclass(frozen=True)
class RunSpec:
    """The settings of one training run. Runs that differ only in these fields share one batch.

    Attributes:
        epsilon: allowed regret (reward per step).
        lambda0: Lagrange multiplier of the warm-up (every agent; Algorithm 2's input lambda).
        dual: update lambda after the warm-up (``False``: lambda stays at ``lambda0``, Figure 4 left).
        continuity: with dual updates, start them from ``lambda0 / own_reward_weight`` (capped at
            ``lambda_max``) so that the weight on the agents' own reward does not jump at the end of the
            warm-up; where that weight is not positive no multiplier can match, and lambda stays.
        adversarial: agents descend the planner's reward (``False``: independent learners, MARL).
        meta: one of :data:`META_VARIANTS`.
        beta: weight of the paper's meta term (Eq. 15).
        seed: seeds the run's initial policies and all its sampling.
    """

    epsilon: float = 0.0
    lambda0: float = 8.0
    dual: bool = True
    adversarial: bool = True
    meta: str = "paper"
    beta: float = 0.2
    seed: int = 0
    continuity: bool = True

    def __post_init__(self) -> None:
        if self.meta not in META_VARIANTS:
            raise ValueError(f"meta must be one of {META_VARIANTS}; got {self.meta!r}")
        if not math.isfinite(self.epsilon):
            raise ValueError(f"epsilon must be finite; got {self.epsilon}")
        if not (self.lambda0 >= 0 and math.isfinite(self.lambda0)):
            raise ValueError(f"lambda0 must be a finite number >= 0; got {self.lambda0}")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise ValueError(f"beta must be a finite number >= 0; got {self.beta}")


def marl_run(seed: int) -> RunSpec:
    """Independent policy-gradient learners on their own rewards (the paper's MARL baseline): the planner's
    reward ignored, lambda = 1 fixed, no meta term."""
    return RunSpec(lambda0=1.0, dual=False, adversarial=False, meta="none", seed=seed, continuity=False)


@dataclass(frozen=True)
class RunSettings:
    """The settings of ``B`` runs as ``(B,)`` tensors, for a batch that advances together.

    Built by :meth:`RunSettings.build`. ``meta`` indexes :data:`META_VARIANTS`; ``lambda_after_warmup`` is
    lambda at the first dual step.
    """

    epsilon: Tensor
    dual: Tensor
    planner_weight: Tensor
    beta: Tensor
    meta: Tensor
    lambda_after_warmup: Tensor

    @classmethod
    def build(cls, runs: Sequence[RunSpec], dtype: torch.dtype, n_agents: int, lambda_max: float) -> RunSettings:
        """The settings of ``runs`` for ``n_agents`` agents, in ``dtype``; ``lambda_max`` caps the first dual
        multiplier."""

        def first_lambda(run: RunSpec) -> float:
            weight = own_reward_weight(run.meta, run.beta, n_agents)
            if run.dual and run.continuity and weight > 0:
                return min(run.lambda0 / weight, lambda_max)
            return run.lambda0

        return cls(
            torch.tensor([r.epsilon for r in runs], dtype=dtype),
            torch.tensor([r.dual for r in runs]),
            torch.tensor([1.0 if r.adversarial else 0.0 for r in runs], dtype=dtype),
            torch.tensor([r.beta for r in runs], dtype=dtype),
            torch.tensor([META_VARIANTS.index(r.meta) for r in runs]),
            torch.tensor([first_lambda(r) for r in runs], dtype=dtype),
        )

    def after_warmup(self, lambdas: Tensor) -> Tensor:
        """``(B, N)`` multipliers for the first dual step: runs with dual updates restart from
        ``lambda_after_warmup`` (continuity, see :class:`RunSpec`); the others keep theirs."""
        return torch.where(self.dual[:, None], self.lambda_after_warmup[:, None].expand_as(lambdas), lambdas)

    def active_meta(self, warm: bool) -> Tensor:
        """``(B,)`` variant index in force: ``none`` during the warm-up (Algorithm 2, line 1)."""
        none = META_VARIANTS.index("none")
        return torch.where(torch.tensor(warm), torch.full_like(self.meta, none), self.meta)


def _per_run(values: Tensor, like: Tensor) -> Tensor:
    """``(B,)`` values shaped to broadcast against ``like (B, ...)``."""
    return values.view(-1, *[1] * (like.ndim - 1))


def own_reward_terms(lambdas: Tensor, beta: Tensor, g_standard: Tensor, path_grads: Tensor, n_agents: int) -> Tensor:
    """``(V, B, N, *P)``: the own-reward term ``lambda_i d_i`` of every variant of :data:`META_VARIANTS`.

    Args:
        lambdas: ``(B, N)`` multipliers.
        beta: ``(B,)`` meta weights.
        g_standard: ``(B, N, *P)`` g_0, each agent's policy gradient of its own reward on the batch B_0.
        path_grads: ``(M + 1, B, N, *P)`` g_1 .. g_{M+1} along each agent's deviation path.
        n_agents: N, the number of agents sharing a policy in the ``literal`` reading.
    """
    lam = lambdas.view(*lambdas.shape, *[1] * (g_standard.ndim - 2))
    beta = _per_run(beta, g_standard)
    n_inner = path_grads.shape[0] - 1
    path_mean = path_grads[:n_inner].mean(0)  # (1 / M) sum_{k<=M} g_k
    return torch.stack(
        [
            lam * beta * path_mean,  # paper
            lam * (g_standard - n_agents * beta * path_mean),  # literal (shared policy)
            lam * g_standard,  # released (its pull comes after the step: released_pull)
            lam * (path_grads[0] - path_grads[n_inner]),  # danskin
            lam * g_standard,  # none
        ]
    )


def select_variant(terms: Tensor, meta: Tensor) -> Tensor:
    """``(B, N, *P)``: from ``terms (V, B, N, *P)``, each run's variant ``meta (B,)``."""
    return terms[meta, torch.arange(terms.shape[1])]


def agent_direction(settings: RunSettings, grad_planner: Tensor, own_term: Tensor) -> Tensor:
    """``(B, N, *P)`` ascent direction of each agent, the descent direction of L (Eq. 11):
    ``-grad J_r + lambda_i d_i`` (the planner's term is dropped for independent learners)."""
    return -_per_run(settings.planner_weight, grad_planner) * grad_planner + own_term


def normalised_lagrangian_reward(own: Tensor, planner: Tensor, lambdas: Tensor) -> Tensor:
    """``(B, N)``: the per-step reward an adversarial agent learns from with neural policies, in the form of
    the authors' release: ``(-r_planner + lambda_i r_i) / (1 + lambda_i)``.

    The numerator is the step's share of the Lagrangian the agent descends (Eq. 11 without a meta term:
    lower the planner's reward, keep its own reward within the regret budget); dividing by ``1 + lambda_i``
    keeps its scale that of one reward whatever the multiplier, so one PPO learning rate serves every
    lambda. ``own (B, N)``, ``planner (B,)``, ``lambdas (N,)`` or ``(B, N)``.
    """
    return (-planner.unsqueeze(-1) + lambdas * own) / (1 + lambdas)


def released_pull(beta: Tensor, lambdas: Tensor, displacement: Tensor) -> Tensor:
    """``(B, N, *P)``: what the ``released`` variant subtracts from the parameters after its step,
    ``min(beta lambda_i, 2) (theta_i* - theta_i)``; ``displacement`` is ``theta_i* - theta_i``, ``beta (B,)``,
    ``lambdas (B, N)``."""
    lam = lambdas.view(*lambdas.shape, *[1] * (displacement.ndim - 2))
    return torch.clamp(_per_run(beta, displacement) * lam, max=2.0) * displacement


def regret_estimate(value_after: Tensor, value_before: Tensor) -> Tensor:
    """R_hat_i = mu_{M, i} - mu_{0, i}: the agent's own mean reward per step after its deviation search
    minus before it (Algorithm 2, line 8). Sampled batches give a noisy estimate, exact values the
    trust-region regret reached by the search's path."""
    return value_after - value_before


def dual_step(settings: RunSettings, lambdas: Tensor, regret: Tensor, dual_lr: float, lambda_max: float) -> Tensor:
    """Projected dual *ascent* (Eq. 12, sign corrected): ``lambda_i <- clip(lambda_i + alpha_lambda (R_hat_i -
    epsilon), 0, lambda_max)`` for runs with dual updates; ``(B, N)``."""
    stepped = (lambdas + dual_lr * (regret - settings.epsilon[:, None])).clamp(0.0, lambda_max)
    return torch.where(settings.dual[:, None], stepped, lambdas)
