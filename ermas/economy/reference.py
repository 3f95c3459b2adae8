"""The original AI Economist simulator (the ``ai-economist`` package, 1.7.1) set up like :class:`Economy`.

Used as the oracle in the tests and as the speed baseline in ``benchmarks/economy_speed.py``. The package
is an optional, test-only dependency: install it with ``pip install --no-deps ai-economist==1.7.1`` plus
``GPUtil pycryptodome lz4`` (its own pins predate Python 3.11; it runs on current numpy and scipy).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ermas.economy.config import EconomyConfig
from ermas.economy.layout import PAPER_LAYOUT

_TAX_MODEL_NAMES = {
    "planner": "model_wrapper",
    "us_federal": "us-federal-single-filer-2018-scaled",
    "saez": "saez",
    "fixed": "fixed-bracket-rates",
}


def make_reference_env(config: EconomyConfig, eta: float = 0.23, labor_weight: float = 0.21) -> Any:
    """An ``ai_economist.foundation`` environment with the rules of ``config`` (4 agents, fixed skills).

    ``config.gather_bonus = False`` maps to the package's ``skill_dist="none"`` for gathering. Only the
    paper's layout exists in the package.
    """
    if config.layout != PAPER_LAYOUT:
        raise ValueError(
            f"the ai-economist package has only the paper's layout {PAPER_LAYOUT!r}, not {config.layout!r}"
        )
    setattr(np, "int", int)  # noqa: B010 -- the package's fixed-skill code uses this alias, removed from numpy in 1.24
    from ai_economist import foundation

    tax: dict[str, Any] = dict(period=config.tax_period, bracket_spacing="us-federal", usd_scaling=1000)
    if config.tax_model == "none":
        tax["disable_taxes"] = True
    else:
        tax["tax_model"] = _TAX_MODEL_NAMES[config.tax_model]
    if config.tax_model == "fixed":
        tax["fixed_bracket_rates"] = list(config.fixed_rates or ())
    if config.saez_fixed_elasticity is not None:
        tax["saez_fixed_elas"] = config.saez_fixed_elasticity
    if config.tax_annealing is not None:
        tax["tax_annealing_schedule"] = list(config.tax_annealing)
    components = [
        (
            "Build",
            dict(
                skill_dist="pareto",
                payment=config.base_payment,
                payment_max_skill_multiplier=config.max_skill_multiplier,
                build_labor=config.build_labor,
            ),
        ),
        (
            "ContinuousDoubleAuction",
            dict(
                max_bid_ask=config.max_price,
                order_labor=config.order_labor,
                max_num_orders=config.max_orders,
                order_duration=config.order_duration,
            ),
        ),
        (
            "Gather",
            dict(
                move_labor=config.move_labor,
                collect_labor=config.collect_labor,
                skill_dist="pareto" if config.gather_bonus else "none",
            ),
        ),
        ("PeriodicBracketTax", tax),
    ]
    return foundation.make_env_instance(
        scenario_name="layout_from_file/simple_wood_and_stone",
        components=components,
        env_layout_file=f"{config.layout}.txt",
        resource_regen_prob=config.regen_prob,
        starting_agent_coin=0,
        fixed_four_skill_and_loc=True,
        n_agents=4,
        world_size=[25, 25],
        episode_length=config.episode_length,
        multi_action_mode_agents=False,
        multi_action_mode_planner=True,
        flatten_observations=False,
        flatten_masks=True,
        planner_gets_spatial_info=False,
        mobile_agent_observation_range=config.observation_range,
        isoelastic_eta=eta,
        energy_cost=labor_weight,
        energy_warmup_constant=config.labor_warmup,
        energy_warmup_method=config.labor_warmup_method,
        planner_reward_type="coin_eq_times_productivity",
    )
