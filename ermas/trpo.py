"""A batched trust-region policy step (TRPO; Schulman et al., 2015), used for the deviation search.

The step is written for flat parameter vectors ``(B, D)`` and takes the Fisher-vector product as a
function, so the same code serves tabular policies (exact per-state Fisher, see
:func:`ermas.tabular.fisher_vector_product`) and neural ones (Fisher-vector products by double
back-propagation of the mean KL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Tensor = torch.Tensor


def conjugate_gradient(fvp: Callable[[Tensor], Tensor], b: Tensor, iters: int = 10, tol: float = 1e-12) -> Tensor:
    """Solve ``F x = b`` for every row of ``b (B, D)`` with ``iters`` conjugate-gradient steps."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = (r * r).sum(-1)
    for _ in range(iters):
        fp = fvp(p)
        pfp = (p * fp).sum(-1)
        alpha = torch.where(pfp > 0, rr / pfp.clamp_min(1e-30), torch.zeros_like(rr))
        x = x + alpha[:, None] * p
        r = r - alpha[:, None] * fp
        rr_new = (r * r).sum(-1)
        beta = torch.where(rr > tol, rr_new / rr.clamp_min(1e-30), torch.zeros_like(rr))
        p = r + beta[:, None] * p
        rr = rr_new
    return x


@dataclass(frozen=True)
class TrustRegionStep:
    """Result of :func:`trust_region_step` for a batch: new parameters and what was accepted."""

    params: Tensor  # (B, D)
    accepted_fraction: Tensor  # (B,) fraction of the full step taken; 0 where nothing was accepted
    improvement: Tensor  # (B,) surrogate gain of the accepted step


def cg_natural_direction(fvp: Callable[[Tensor], Tensor], damping: float = 0.1, iters: int = 10):
    """``g -> (F + damping I)^{-1} g`` by conjugate gradient: the general route, for neural policies."""
    return lambda grad: conjugate_gradient(lambda v: fvp(v) + damping * v, grad, iters=iters)


def trust_region_step(
    params: Tensor,
    grad: Tensor,
    fvp: Callable[[Tensor], Tensor],
    natural_direction: Callable[[Tensor], Tensor],
    surrogate_gain: Callable[[Tensor], Tensor],
    is_feasible: Callable[[Tensor], Tensor],
    max_kl: float,
    backtracks: int = 10,
) -> TrustRegionStep:
    """One TRPO step for each row of ``params``.

    Direction ``x ~ F^{-1} g`` from ``natural_direction`` (conjugate gradient, or an exact solve where
    the Fisher is known); the full step ``sqrt(2 max_kl / x^T F x) x`` reaches ``max_kl`` under the
    quadratic model. A backtracking line search (halving up to ``backtracks`` times) keeps the
    largest fraction that ``is_feasible`` accepts (the caller checks the exact KL bounds there) and
    whose surrogate gain is positive; rows where none is accepted do not move.

    Args:
        params, grad: ``(B, D)``.
        fvp: ``v (B, D) -> F v (B, D)``, the Fisher-vector product.
        natural_direction: ``g (B, D) -> x (B, D)``.
        surrogate_gain: ``params' (B, D) -> (B,)`` surrogate improvement over ``params``.
        is_feasible: ``params' (B, D) -> (B,)`` bool.
        max_kl: the step's KL budget (the quadratic model's radius).
    """
    direction = natural_direction(grad)
    curvature = (direction * fvp(direction)).sum(-1)
    scale = torch.sqrt(2 * max_kl / curvature.clamp_min(1e-30))
    scale = torch.where(curvature > 0, scale, torch.zeros_like(scale))
    full_step = scale[:, None] * direction
    fraction = torch.zeros(params.shape[0], dtype=params.dtype)
    gain = torch.zeros_like(fraction)
    undecided = torch.ones(params.shape[0], dtype=torch.bool)
    for j in range(backtracks + 1):
        frac = 0.5**j
        candidate = params + frac * full_step
        cand_gain = surrogate_gain(candidate)
        ok = undecided & is_feasible(candidate) & (cand_gain > 0)
        fraction = torch.where(ok, torch.full_like(fraction, frac), fraction)
        gain = torch.where(ok, cand_gain, gain)
        undecided = undecided & ~ok
        if not undecided.any():
            break
    return TrustRegionStep(params + fraction[:, None] * full_step, fraction, gain)
