"""A batched trust-region policy step (TRPO; Schulman et al., 2015), used for the deviation search.

The step is written for flat parameter vectors ``(B, D)`` and takes the Fisher-vector product as a
function, so the same code serves tabular policies (exact per-state Fisher, see
:func:`ermas.bimatrix.tabular.fisher_vector_product`) and neural ones (Fisher-vector products by double
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
    quadratic model. A backtracking line search over the fractions ``1, 1/2, ..., 2^-backtracks`` keeps
    the largest one that ``is_feasible`` accepts (the caller checks the exact KL bounds there) and whose
    surrogate gain is positive; rows where none is accepted do not move. Feasibility is checked for every
    fraction at once (it is cheap); the surrogate is then evaluated at each row's largest feasible
    fraction, and again at the next feasible one only for rows whose gain was not positive.

    Args:
        params, grad: ``(B, D)``.
        fvp: ``v (B, D) -> F v (B, D)``, the Fisher-vector product.
        natural_direction: ``g (B, D) -> x (B, D)``.
        surrogate_gain: ``params' (B, D) -> (B,)`` surrogate improvement over ``params``.
        is_feasible: ``params' (F, B, D) -> (F, B)`` bool, for ``F`` candidates per row.
        max_kl: the step's KL budget (the quadratic model's radius).
    """
    direction = natural_direction(grad)
    curvature = (direction * fvp(direction)).sum(-1)
    scale = torch.sqrt(2 * max_kl / curvature.clamp_min(1e-30))
    scale = torch.where(curvature > 0, scale, torch.zeros_like(scale))
    full_step = scale[:, None] * direction
    fractions = 0.5 ** torch.arange(backtracks + 1, dtype=params.dtype)  # (F,)
    n_fractions, n_rows = len(fractions), params.shape[0]
    feasible = is_feasible(params + fractions[:, None, None] * full_step)  # (F, B)
    order = torch.arange(n_fractions)[:, None]

    def next_feasible(after: Tensor) -> Tensor:
        """``(B,)`` index of each row's largest feasible fraction after index ``after`` (F if none)."""
        later = feasible & (order > after[None, :])
        return torch.where(later.any(0), later.to(torch.int8).argmax(0), torch.full_like(after, n_fractions))

    index = next_feasible(torch.full((n_rows,), -1))
    fraction = torch.zeros(n_rows, dtype=params.dtype)
    gain = torch.zeros_like(fraction)
    pending = index < n_fractions
    while bool(pending.any()):
        frac = torch.where(pending, fractions[index.clamp(max=n_fractions - 1)], torch.zeros_like(fraction))
        cand_gain = surrogate_gain(params + frac[:, None] * full_step)
        ok = pending & (cand_gain > 0)
        fraction = torch.where(ok, frac, fraction)
        gain = torch.where(ok, cand_gain, gain)
        pending = pending & ~ok
        index = torch.where(pending, next_feasible(index), index)
        pending = pending & (index < n_fractions)
    return TrustRegionStep(params + fraction[:, None] * full_step, fraction, gain)
