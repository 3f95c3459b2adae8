"""Constants and settings of the Gather-Trade-Build economy (the AI Economist's paper environment).

Defaults are the values of the AI Economist's "Open-Quadrant" configuration that the ERMAS paper's
Figure 6 uses unchanged; see the book's economy chapter for where each comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from ermas.checks import check_choice, check_int, check_number
from ermas.economy.layout import PAPER_LAYOUT
from ermas.economy.taxes import N_BRACKETS, TAX_MODELS

N_AGENTS = 4
N_RESOURCES = 2  # stone, wood: the order of every resource dimension and of the trade actions
STONE, WOOD = 0, 1


@dataclass(frozen=True)
class EconomyConfig:
    """Rules of one economy (shared by every environment of a batch).

    Attributes:
        layout: map name (see :mod:`ermas.economy.layout`).
        episode_length: steps per episode.
        regen_prob: chance per step that an empty source tile grows one unit (0 switches regrowth off).
        gather_bonus: draw each agent's chance of gathering a second unit, ``min(2, Pareto(3)) / 2``, every
            episode; ``False`` makes gathering deterministic.
        move_labor, collect_labor, build_labor, order_labor: labor per move, per unit-tile gathered, per
            house and per order placed.
        base_payment, max_skill_multiplier: house payments are ``base_payment`` times a skill in ``[1, max]``.
        max_price, order_duration, max_orders: the market's price levels ``0..max_price``, order lifetime
            in steps, and open orders per agent and resource.
        tax_model: one of ``"none"``, ``"us_federal"``, ``"planner"``, ``"saez"``, ``"fixed"``.
        tax_period: steps per tax period.
        usd_scaling: dollars per coin: the 2018 US federal bracket cutoffs are divided by it (the package's
            default, 1000, puts the top cutoff at 510.3 coin; short tax periods need a larger scaling for
            their incomes to reach the upper brackets). The Saez model's income bins scale with it.
        fixed_rates: the 7 bracket rates for ``tax_model="fixed"``.
        saez_fixed_elasticity: use this elasticity in the Saez formula instead of the estimate.
        tax_annealing: ``(warmup, slope)``: the largest allowed rate is
            ``clip(slope * (completed episodes - warmup), 0, 1)``; ``None`` allows every rate.
        labor_warmup: if > 0, the labor weight grows as ``1 - exp(-k / labor_warmup)`` where ``k`` counts
            steps with positive mean agent reward (``"auto"``) or finished episodes (``"decay"``).
        labor_warmup_method: ``"auto"`` or ``"decay"``.
        observation_range: agents see ``2 * range + 1`` tiles square around themselves.
    """

    layout: str = PAPER_LAYOUT
    episode_length: int = 1000
    regen_prob: float = 0.01
    gather_bonus: bool = True
    move_labor: float = 1.0
    collect_labor: float = 1.0
    build_labor: float = 10.0
    order_labor: float = 0.25
    base_payment: float = 10.0
    max_skill_multiplier: float = 3.0
    max_price: int = 10
    order_duration: int = 50
    max_orders: int = 5
    tax_model: str = "planner"
    tax_period: int = 100
    usd_scaling: float = 1000.0
    fixed_rates: tuple[float, ...] | None = None
    saez_fixed_elasticity: float | None = None
    tax_annealing: tuple[float, float] | None = None
    labor_warmup: float = 0.0
    labor_warmup_method: str = "auto"
    observation_range: int = 5

    def __post_init__(self) -> None:
        for name in ("episode_length", "max_price", "max_orders", "tax_period"):
            check_int(name, getattr(self, name), 1, 10**9)
        # The market packs an order's age into two decimal digits of its priority key.
        check_int("order_duration", self.order_duration, 1, 98)
        check_int("observation_range", self.observation_range, 0, 10**6)
        check_number("regen_prob", self.regen_prob, 0.0, 1.0)
        check_number("usd_scaling", self.usd_scaling, 1e-3, 1e9)
        for name in ("move_labor", "collect_labor", "build_labor", "order_labor", "labor_warmup", "base_payment"):
            check_number(name, getattr(self, name), 0.0)
        check_number("max_skill_multiplier", self.max_skill_multiplier, 1.0)
        check_choice("tax_model", self.tax_model, TAX_MODELS)
        if self.tax_model == "fixed":
            rates = self.fixed_rates
            if rates is None or len(rates) != N_BRACKETS or min(rates) < 0 or max(rates) > 1:
                raise ValueError(f"tax_model='fixed' needs fixed_rates: {N_BRACKETS} rates in [0, 1], got {rates}")
        if self.saez_fixed_elasticity is not None:
            check_number("saez_fixed_elasticity", self.saez_fixed_elasticity, 0.0)
        check_choice("labor_warmup_method", self.labor_warmup_method, ("auto", "decay"))


@cache
def fixed_skill_payments(base_payment: float = 10.0, max_multiplier: float = 3.0) -> tuple[float, ...]:
    """House payment of the four skill ranks, lowest first (the AI Economist's ``fixed_four_skill_and_loc``).

    The mean of each order statistic of 100,000 draws of four skills ``min(max, (max - 1) x + 1)``,
    ``x ~ Pareto(4)`` (numpy's Lomax), from numpy's legacy generator seeded with 1; times ``base_payment``.
    For the defaults: 11.33, 13.27, 16.47, 22.25 coin.
    """
    samples = np.random.RandomState(1).pareto(4, size=(100000, N_AGENTS))
    skills = np.minimum(max_multiplier, (max_multiplier - 1) * samples + 1)
    return tuple(float(x) for x in np.sort(skills, axis=1).mean(axis=0) * base_payment)
