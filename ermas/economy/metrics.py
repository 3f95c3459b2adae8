"""Social metrics and utilities of the AI Economist economy, batched over environments.

All functions take coin endowments ``coin`` of shape ``(..., n_agents)`` (inventory plus escrow, in coin)
and reduce over the last dimension. Definitions follow the AI Economist (Zheng et al. 2020) as used by
the ERMAS paper's section 5.3.
"""

from __future__ import annotations

import torch

_GINI_EPS = 1e-10  # the AI Economist's guard against an all-zero economy


def gini(coin: torch.Tensor) -> torch.Tensor:
    """Normalised Gini index ``sum_ij |x_i - x_j| / (2 n sum x) * n / (n - 1)``; 0 = equal, 1 = one agent owns all.

    The exact pairwise formula the package uses for fewer than 30 agents (we use it for any number).
    """
    n = coin.shape[-1]
    if n < 2:
        raise ValueError(f"the Gini index needs at least 2 agents, got {n}")
    diff = (coin.unsqueeze(-1) - coin.unsqueeze(-2)).abs().sum(dim=(-1, -2))
    unscaled = diff / (2 * n * coin.sum(-1) + _GINI_EPS)
    return unscaled / ((n - 1) / n)


def equality(coin: torch.Tensor) -> torch.Tensor:
    """``1 - gini``: 1 when every agent owns the same coin."""
    return 1 - gini(coin)


def productivity(coin: torch.Tensor) -> torch.Tensor:
    """Total coin in the economy."""
    return coin.sum(-1)


def social_welfare(coin: torch.Tensor, equality_weight: float = 1.0) -> torch.Tensor:
    """The planner's objective ``coin_eq_times_productivity``: ``(w * equality + 1 - w) * productivity / n``.

    With the default weight 1 this is equality times mean coin; the ERMAS paper writes it as
    ``eq(x) * prod(x)`` (a constant factor ``n`` apart, which changes no optimum).
    """
    if not 0.0 <= equality_weight <= 1.0:
        raise ValueError(f"equality_weight must lie in [0, 1], got {equality_weight}")
    eq = equality_weight * equality(coin) + (1 - equality_weight)
    return eq * productivity(coin) / coin.shape[-1]


def isoelastic_utility(
    coin: torch.Tensor, labor: torch.Tensor, eta: torch.Tensor | float, labor_weight: torch.Tensor | float
) -> torch.Tensor:
    """Agent utility ``(c^(1-eta) - 1) / (1 - eta) - labor_weight * L`` (coin ``c``, cumulative labor ``L``).

    ``eta`` and ``labor_weight`` broadcast against ``coin`` (pass per-environment values as ``(B, 1)``).
    At ``eta = 1`` the utility of coin is ``log(max(c, 1))``: the limit ``log c`` with the floor the
    AI Economist package intends (its own line for that case does not run), so an agent with no coin
    is not at minus infinity.
    """
    eta = torch.as_tensor(eta, dtype=coin.dtype, device=coin.device)
    labor_weight = torch.as_tensor(labor_weight, dtype=coin.dtype, device=coin.device)
    if bool((eta < 0).any()) or bool((eta > 1).any()):
        raise ValueError("isoelastic eta must lie in [0, 1]")
    if bool((labor_weight < 0).any()):
        raise ValueError("labor_weight must be >= 0")
    if bool((coin < 0).any()):
        raise ValueError("coin endowments must be >= 0")
    return isoelastic_utility_unchecked(coin, labor, eta, labor_weight)


def isoelastic_utility_unchecked(
    coin: torch.Tensor, labor: torch.Tensor, eta: torch.Tensor, labor_weight: torch.Tensor
) -> torch.Tensor:
    """:func:`isoelastic_utility` without its argument checks, for callers that validated them once."""
    is_log = eta == 1
    safe_eta = torch.where(is_log, torch.zeros_like(eta), eta)
    power = (coin ** (1 - safe_eta) - 1) / (1 - safe_eta)
    util_coin = torch.where(is_log, torch.log(coin.clamp(min=1.0)), power)
    return util_coin - labor_weight * labor
