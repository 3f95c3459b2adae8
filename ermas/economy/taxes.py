"""Periodic bracket taxes with lump-sum redistribution (the AI Economist's ``PeriodicBracketTax``).

Incomes are taxed once per tax period (100 steps) on a 7-bracket schedule whose cutoffs are the 2018 US
federal ones in dollars divided by ``usd_scaling`` (1000 by default, as in the package; a larger scaling
brings every bracket within reach of the incomes of short tax periods), see :class:`Brackets`. The revenue
is shared equally among the agents. Where the rates come from
is the ``tax_model``:

- ``"us_federal"``: the 2018 US federal single-filer rates, fixed;
- ``"planner"``: a learned planner picks each bracket's rate on the first step of every period, with one
  action head per bracket of 22 choices (0 keeps the rate, ``k`` sets ``(k - 1) * 0.05``);
- ``"saez"``: the adaptive Saez (2001) formula on a buffer of observed (income, marginal rate) pairs;
- ``"fixed"``: rates given by the user; ``"none"``: no taxes.

Every tensor has a leading environment dimension ``B``; incomes and coin are in coin units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

TAX_MODELS = ("none", "us_federal", "planner", "saez", "fixed")
US_FEDERAL_2018_CUTOFFS_USD = (0, 9700, 39475, 84200, 160725, 204100, 510300)
US_FEDERAL_2018_RATES = torch.tensor([0.10, 0.12, 0.22, 0.24, 0.32, 0.35, 0.37], dtype=torch.float64, device="cpu")
N_BRACKETS = 7
# The planner's 21 rates 0.00, 0.05, ..., 1.00, computed exactly as the package does (np.arange).
_RATE_GRID = np.arange(0.0, 1.0 + 0.05, 0.05)
PLANNER_RATES = torch.from_numpy(_RATE_GRID[_RATE_GRID <= 1.0])
N_PLANNER_CHOICES = 1 + len(PLANNER_RATES)  # 22: "keep" plus 21 rates
SAEZ_BUFFER_SIZE = 500  # (income, marginal rate) pairs kept, one per agent per period
SAEZ_MIN_PAIRS_FOR_ELASTICITY = 10
SAEZ_ELASTICITY_DECAY = 0.98
SAEZ_INITIAL_ELASTICITY = 0.5
SAEZ_N_BINS = 100
SAEZ_RUNNING_AVERAGE = 0.99


@dataclass(frozen=True)
class Brackets:
    """The tax brackets in coin, and the Saez model's income bins that go with them.

    Attributes:
        cutoffs: ``(7,)`` lower edges, the 2018 US federal cutoffs in dollars divided by ``usd_scaling``.
        sizes: ``(7,)`` widths (the top bracket's is infinite).
        saez_edges: ``(101,)`` the Saez model's 100 equal income bins on ``[0, top cutoff]`` (the package's
            bins scale with the cutoffs in the same way).
    """

    cutoffs: torch.Tensor
    sizes: torch.Tensor
    saez_edges: torch.Tensor

    def to(self, device: torch.device, dtype: torch.dtype = torch.float64) -> Brackets:
        return Brackets(*(x.to(device, dtype) for x in (self.cutoffs, self.sizes, self.saez_edges)))

    @classmethod
    def scaled(cls, usd_scaling: float = 1000.0) -> Brackets:
        """Float64 brackets for ``usd_scaling`` dollars per coin (the package's default is 1000)."""
        if not (np.isfinite(usd_scaling) and usd_scaling > 0):
            raise ValueError(f"usd_scaling must be a finite number > 0; got {usd_scaling!r}")
        cutoffs = torch.tensor(US_FEDERAL_2018_CUTOFFS_USD, dtype=torch.float64, device="cpu") / usd_scaling
        sizes = torch.cat([cutoffs[1:] - cutoffs[:-1], torch.tensor([float("inf")], dtype=torch.float64, device="cpu")])
        edges = torch.from_numpy(np.linspace(0, float(cutoffs[-1]), SAEZ_N_BINS + 1))
        return cls(cutoffs, sizes, edges)


def taxes_due(income: torch.Tensor, rates: torch.Tensor, brackets: Brackets) -> torch.Tensor:
    """Tax owed ``sum_b rate_b * min(size_b, max(0, z - cutoff_b))``.

    Args:
        income: ``(B, A)`` period incomes ``z`` (may be negative: then nothing is owed).
        rates: ``(B, 7)`` marginal rates per bracket.
    Returns:
        ``(B, A)`` tax owed.
    """
    past_cutoff = (income.unsqueeze(-1) - brackets.cutoffs).clamp(min=0)
    in_bracket = torch.minimum(brackets.sizes, past_cutoff)
    return (rates.unsqueeze(-2) * in_bracket).sum(-1)


def bracket_index(income: torch.Tensor, brackets: Brackets) -> torch.Tensor:
    """Index of the bracket ``income`` falls in (0 for negative incomes)."""
    idx = torch.bucketize(income, brackets.cutoffs, right=True) - 1
    return idx.clamp(min=0)


def marginal_rate(income: torch.Tensor, rates: torch.Tensor, brackets: Brackets) -> torch.Tensor:
    """Marginal rate at ``income`` (``(B, A)``) under ``rates`` (``(B, 7)``); 0 for negative incomes."""
    rate = torch.gather(rates, 1, bracket_index(income, brackets))
    return torch.where(income < 0, torch.zeros_like(rate), rate)


def annealed_rate_limit(completions: int, schedule: tuple[float, float] | None, rate_max: float = 1.0) -> float:
    """Largest rate allowed after ``completions`` finished episodes: ``clip(slope * (k - warmup), 0, 1) * max``."""
    if schedule is None:
        return rate_max
    warmup, slope = schedule
    return float(np.clip(slope * (completions - warmup), 0.0, 1.0)) * rate_max


# --- the Saez formula ---------------------------------------------------------------------------


def estimate_elasticity(
    buffer: torch.Tensor, n_valid: torch.Tensor, previous: torch.Tensor, decay: float = SAEZ_ELASTICITY_DECAY
) -> torch.Tensor:
    """Smoothed elasticity of taxable income: ``decay * previous + (1 - decay) * max(0, slope)``.

    The slope is the OLS slope of ``log z`` on ``log(1 - tau)`` over the buffer's pairs with ``z > 0`` and
    ``tau < 1``. With fewer than 10 such pairs, or no spread in ``tau``, the previous value is kept.

    Args:
        buffer: ``(B, N, 2)`` pairs (income, marginal rate); only the first ``n_valid[b]`` rows count.
        n_valid: ``(B,)`` number of filled rows.
        previous: ``(B,)`` elasticity so far.
    """
    z, tau = buffer[..., 0], buffer[..., 1]
    filled = torch.arange(buffer.shape[1], device=buffer.device) < n_valid.unsqueeze(-1)
    use = filled & (z > 0) & (tau < 1)
    n = use.sum(-1).to(buffer.dtype)
    w = use.to(buffer.dtype)
    safe_n = n.clamp(min=1)
    tau_mean = (w * tau).sum(-1) / safe_n
    tau_std = ((w * (tau - tau_mean.unsqueeze(-1)) ** 2).sum(-1) / safe_n).sqrt()
    x = torch.log(torch.clamp(1 - tau, min=1e-9))
    y = torch.log(torch.clamp(z, min=1e-9))
    x_mean = (w * x).sum(-1) / safe_n
    y_mean = (w * y).sum(-1) / safe_n
    sxx = (w * (x - x_mean.unsqueeze(-1)) ** 2).sum(-1)
    sxy = (w * (x - x_mean.unsqueeze(-1)) * (y - y_mean.unsqueeze(-1))).sum(-1)
    estimable = (n >= SAEZ_MIN_PAIRS_FOR_ELASTICITY) & (tau_std >= 1e-6)
    slope = sxy / torch.where(estimable, sxx, torch.ones_like(sxx))
    updated = (1 - decay) * slope.clamp(min=0) + decay * previous
    return torch.where(estimable, updated, previous)


def _fill_gaps(taus: torch.Tensor) -> torch.Tensor:
    """Linearly interpolate NaN entries (bins with no income) between their real neighbours.

    A virtual rate 0 sits before the first bin; the last entry (the top bin) is never NaN.
    """
    n = taus.shape[-1]
    idx = torch.arange(n, dtype=taus.dtype, device=taus.device).expand_as(taus)
    real = ~torch.isnan(taus)
    prev_idx = torch.where(real, idx, torch.full_like(idx, -1.0)).cummax(-1).values
    prev_idx = torch.cat([torch.full_like(prev_idx[..., :1], -1.0), prev_idx[..., :-1]], -1)
    next_idx = torch.where(real, idx, torch.full_like(idx, float(n))).flip(-1).cummin(-1).values.flip(-1)
    prev_val = torch.gather(torch.nan_to_num(taus, nan=0.0), -1, prev_idx.clamp(min=0).long())
    prev_val = torch.where(prev_idx < 0, torch.zeros_like(prev_val), prev_val)
    next_val = torch.gather(torch.nan_to_num(taus, nan=0.0), -1, next_idx.clamp(max=n - 1).long())
    step = (next_val - prev_val) / (next_idx - prev_idx)
    return torch.where(real, taus, prev_val + step * (idx - prev_idx))


def saez_bin_rates(
    incomes: torch.Tensor, valid: torch.Tensor, elasticity: torch.Tensor, brackets: Brackets
) -> torch.Tensor:
    """Saez optimal marginal rate per income bin, ``tau(z) = (1 - G(z)) / (1 - G(z) + a(z) e)``.

    Incomes are put in 100 equal bins on ``[0, top cutoff]`` (510.3 at the default scaling) plus an open
    top bin. ``G(z)`` is the average
    welfare weight ``1 / max(1, z)`` of incomes at or above ``z`` (averaged between a bin's edges),
    ``a(z) = z p(z) / P(>= z)`` per unit width, and the top bin's ``a = zbar / (zbar - top cutoff)``.

    Args:
        incomes: ``(B, N)`` incomes; ``valid`` ``(B, N)`` marks the ones to use.
        elasticity: ``(B,)``.
    Returns:
        ``(B, 101)`` marginal rates per bin (the last is the top bin).
    """
    dt = incomes.dtype
    edges = brackets.saez_edges.to(dt)
    top = edges[-1]
    widths = edges[1:] - edges[:-1]
    mids = 0.5 * (edges[:-1] + edges[1:])
    in_range = valid & (incomes >= 0) & (incomes <= top)
    below = valid & (incomes < 0)
    above = valid & (incomes > top)
    bins = (torch.bucketize(incomes.contiguous(), edges, right=True) - 1).clamp(0, SAEZ_N_BINS - 1)
    counts = torch.zeros(incomes.shape[0], SAEZ_N_BINS, dtype=dt, device=incomes.device)
    counts.scatter_add_(1, bins, in_range.to(dt))
    n_below = below.sum(-1).to(dt)
    n_above = above.sum(-1).to(dt)
    n_total = counts.sum(-1) + n_below + n_above

    # G(z): welfare weights 1/max(1, z); an income below 0 weighs 1.
    weight_bins = counts / mids.clamp(min=1)
    weight_above = torch.where(above, 1.0 / incomes.clamp(min=1), torch.zeros_like(incomes)).sum(-1)
    norm = weight_bins.sum(-1) + n_below + weight_above + 1e-9
    density = torch.cat([weight_bins, weight_above.unsqueeze(-1)], -1) / norm.unsqueeze(-1)
    weight_geq = density.flip(-1).cumsum(-1).flip(-1)
    pz = torch.cat([counts, n_above.unsqueeze(-1)], -1) / n_total.unsqueeze(-1)
    prob_geq = pz.flip(-1).cumsum(-1).flip(-1)
    g_edges = weight_geq / (prob_geq + 1e-9)
    gz = torch.cat([0.5 * (g_edges[..., :-1] + g_edges[..., 1:]), g_edges[..., -1:]], -1)

    # a(z) = z p(z) / P(>= z), per unit bin width; NaN for empty bins.
    cum_pz = (pz.cumsum(-1) + (n_below / n_total).unsqueeze(-1)).clamp(max=1.0)
    p_geq = 1 - cum_pz + 0.5 * pz
    pz_bins = pz[..., :SAEZ_N_BINS]
    a_bins = mids * pz_bins / (p_geq[..., :SAEZ_N_BINS].clamp(0, 1) + 1e-9) / widths
    a_bins = torch.where(pz_bins == 0, torch.full_like(a_bins, float("nan")), a_bins)
    mean_above = torch.where(above, incomes, torch.zeros_like(incomes)).sum(-1) / n_above.clamp(min=1)
    a_top = torch.where(n_above > 0, mean_above / (mean_above - top + 1e-9), torch.zeros_like(mean_above))
    az = torch.cat([a_bins, a_top.unsqueeze(-1)], -1)

    taus = (1.0 - gz) / (1.0 - gz + az * elasticity.unsqueeze(-1) + 1e-9)
    return _fill_gaps(taus)


def bracket_average_rates(bin_rates: torch.Tensor, brackets: Brackets) -> torch.Tensor:
    """Average each bracket's bin rates: tax due at the bracket's top minus at its bottom, over its width.

    Args:
        bin_rates: ``(B, 101)`` from :func:`saez_bin_rates`.
    Returns:
        ``(B, 7)``; the open top bracket takes the top bin's rate.
    """
    edges = brackets.saez_edges.to(bin_rates.dtype)
    inf = torch.tensor([float("inf")], dtype=bin_rates.dtype, device=bin_rates.device)
    sizes = torch.cat([edges[1:] - edges[:-1], inf])
    past = (brackets.cutoffs[1:].unsqueeze(-1) - edges).clamp(min=0)  # (6, 101)
    in_bin = torch.minimum(sizes, past)
    due = (bin_rates.unsqueeze(-2) * in_bin).sum(-1).clamp(min=0)  # (B, 6)
    burden = due - torch.cat([torch.zeros_like(due[..., :1]), due[..., :-1]], -1)
    return torch.cat([burden / brackets.sizes[:-1], bin_rates[..., -1:]], -1)


@dataclass
class SaezState:
    """Per-environment memory of the Saez planner (kept across episodes, like the package).

    Attributes:
        buffer: ``(B, 500, 2)`` ring buffer of (income, marginal rate) pairs.
        n_added: ``(B,)`` pairs ever added (the buffer holds ``min(n_added, 500)``).
        elasticity: ``(B,)`` smoothed elasticity estimate (starts at 0.5).
        running_rates: ``(B, 7)`` running average of the bracket rates (reported, and the rates at reset).
        warmed_up: ``(B,)`` True once the buffer has been full at the start of a period.
    """

    buffer: torch.Tensor
    n_added: torch.Tensor
    elasticity: torch.Tensor
    running_rates: torch.Tensor
    warmed_up: torch.Tensor

    @classmethod
    def empty(cls, batch: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float64) -> SaezState:
        return cls(
            buffer=torch.zeros(batch, SAEZ_BUFFER_SIZE, 2, dtype=dtype, device=device),
            n_added=torch.zeros(batch, dtype=torch.long, device=device),
            elasticity=torch.full((batch,), SAEZ_INITIAL_ELASTICITY, dtype=dtype, device=device),
            running_rates=torch.zeros(batch, N_BRACKETS, dtype=dtype, device=device),
            warmed_up=torch.zeros(batch, dtype=torch.bool, device=device),
        )

    @property
    def full(self) -> torch.Tensor:
        """``(B,)`` True where the buffer holds 500 pairs: the next period's rates come from the formula."""
        return self.n_added >= SAEZ_BUFFER_SIZE

    def add(self, income: torch.Tensor, rate: torch.Tensor) -> None:
        """Append one period's ``(B, A)`` incomes and marginal rates, dropping the oldest beyond 500."""
        n_agents = income.shape[1]
        slots = (self.n_added.unsqueeze(-1) + torch.arange(n_agents, device=self.n_added.device)) % SAEZ_BUFFER_SIZE
        pairs = torch.stack([income, rate], -1)
        self.buffer.scatter_(1, slots.unsqueeze(-1).expand(-1, -1, 2), pairs)
        self.n_added += n_agents

    def new_rates(
        self,
        rate_min: float,
        rate_max: float,
        fixed_elasticity: float | None,
        generator: torch.Generator,
        brackets: Brackets,
    ) -> torch.Tensor:
        """Rates for a new period: uniform random until the buffer is full, then the Saez formula.

        Updates the elasticity estimate and the running average in place. Returns ``(B, 7)``.
        """
        n_valid = self.n_added.clamp(max=SAEZ_BUFFER_SIZE)
        self.warmed_up |= self.full
        self.elasticity = torch.where(
            self.warmed_up, estimate_elasticity(self.buffer, n_valid, self.elasticity), self.elasticity
        )
        elasticity = self.elasticity if fixed_elasticity is None else torch.full_like(self.elasticity, fixed_elasticity)
        valid = torch.arange(SAEZ_BUFFER_SIZE, device=n_valid.device) < n_valid.unsqueeze(-1)
        formula = bracket_average_rates(saez_bin_rates(self.buffer[..., 0], valid, elasticity, brackets), brackets)
        formula = formula.clamp(rate_min, rate_max)
        random = rate_min + (rate_max - rate_min) * torch.rand(
            self.buffer.shape[0], N_BRACKETS, dtype=torch.float64, generator=generator, device=self.buffer.device
        ).to(self.buffer.dtype)
        rates = torch.where(self.warmed_up.unsqueeze(-1), formula, random)
        self.running_rates = torch.where(
            self.warmed_up.unsqueeze(-1),
            SAEZ_RUNNING_AVERAGE * self.running_rates + (1 - SAEZ_RUNNING_AVERAGE) * rates,
            self.running_rates,
        )
        return rates
