"""Adam steps on plain tensors (elementwise, so every run of a batch keeps its own statistics)."""

from __future__ import annotations

import torch


def adam_update(
    m: torch.Tensor,
    v: torch.Tensor,
    step: int,
    direction: torch.Tensor,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adam's ascent step along ``direction`` at step ``step`` (0-based).

    Returns ``(delta, m, v)``: the parameter change and the updated moment estimates.
    """
    b1, b2 = betas
    m = b1 * m + (1 - b1) * direction
    v = b2 * v + (1 - b2) * direction**2
    m_hat = m / (1 - b1 ** (step + 1))
    v_hat = v / (1 - b2 ** (step + 1))
    return lr * m_hat / (v_hat.sqrt() + eps), m, v
