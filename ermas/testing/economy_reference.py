"""The original AI Economist simulator (the ``ai-economist`` package, 1.7.1) set up like :class:`Economy`, and a
step-by-step replay of one action sequence in both simulators.

Used as the oracle in the tests, in the book, and as the speed baseline in ``benchmarks/economy_speed.py``. The package
is an optional, test-only dependency: install it with ``pip install --no-deps ai-economist==1.7.1`` plus
``GPUtil pycryptodome lz4`` (its own pins predate Python 3.11; it runs on current numpy and scipy).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ermas.economy.config import N_AGENTS, EconomyConfig
from ermas.economy.env import Economy, EpisodeSummary
from ermas.economy.layout import PAPER_LAYOUT
from ermas.economy.observations import (
    agent_action_mask,
    agent_flat_features,
    agent_views,
    planner_action_mask,
    planner_flat_features,
)

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
    with contextlib.redirect_stdout(io.StringIO()):  # its import prints GPU notices
        from ai_economist import foundation

    tax: dict[str, Any] = dict(period=config.tax_period, bracket_spacing="us-federal", usd_scaling=config.usd_scaling)
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


@dataclass
class Mismatch:
    """A quantity that differs between the simulators after ``step`` steps (``ours`` vs ``theirs``)."""

    step: int
    what: str
    ours: object
    theirs: object


@dataclass
class ReplayLog:
    """Every mismatch of a replay, and counts showing which mechanics the episode exercised."""

    mismatches: list[Mismatch] = field(default_factory=list)
    n_trades: int = 0
    n_builds: int = 0
    taxes: float = 0.0
    n_moves: int = 0
    n_invalid_actions: int = 0


def package_state(env: Any) -> dict[str, np.ndarray]:
    """Positions, holdings, labor, houses and resources of a package environment, in our layouts."""
    agents = env.world.agents
    return {
        "position": np.array([a.loc for a in agents]),
        "coin": np.array([a.state["inventory"]["Coin"] for a in agents]),
        "coin_escrow": np.array([a.state["escrow"]["Coin"] for a in agents]),
        "goods": np.array([[a.state["inventory"][r] for r in ("Stone", "Wood")] for a in agents]),
        "goods_escrow": np.array([[a.state["escrow"][r] for r in ("Stone", "Wood")] for a in agents]),
        "labor": np.array([a.state["endogenous"]["Labor"] for a in agents]),
        "houses": env.world.maps.get("House", owner=True).astype(np.int64),
        "resources": np.stack([env.world.maps.get("Stone"), env.world.maps.get("Wood")]).reshape(2, -1),
    }


def our_state(env: Economy) -> dict[str, np.ndarray]:
    """The same quantities for environment 0 of ``env``."""
    h = env.holdings
    return {
        "position": env.positions()[0].numpy(),
        "coin": h.coin[0].numpy(),
        "coin_escrow": h.coin_escrow[0].numpy(),
        "goods": h.goods[0].numpy(),
        "goods_escrow": h.goods_escrow[0].numpy(),
        "labor": h.labor[0].numpy(),
        "houses": env.houses()[0].numpy(),
        "resources": env.resources[0].numpy(),
    }


def package_agent_flat(obs: dict, i: int) -> np.ndarray:
    """The package's observation of agent ``i`` in the order of ``agent_flat_features`` (no build_skill)."""
    o = obs[str(i)]
    parts = [o["world-loc-row"], o["world-loc-col"]]
    parts += [o[f"world-inventory-{k}"] for k in ("Coin", "Stone", "Wood")]
    parts += [o["time"], o["Build-build_payment"]]
    for res in ("Stone", "Wood"):
        for key in ("market_rate", "price_history", "available_asks", "available_bids", "my_asks", "my_bids"):
            parts.append(o[f"ContinuousDoubleAuction-{key}-{res}"])
    parts.append(o["Gather-bonus_gather_prob"])
    for key in ("is_tax_day", "is_first_day", "tax_phase", "last_incomes", "curr_rates", "marginal_rate"):
        parts.append(o[f"PeriodicBracketTax-{key}"])
    return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts])


def package_planner_flat(obs: dict) -> np.ndarray:
    """The package's planner observation in the order of ``planner_flat_features`` (no own inventory)."""
    o = obs["p"]
    parts = [o["time"]]
    for res in ("Stone", "Wood"):
        for key in ("market_rate", "price_history", "full_asks", "full_bids"):
            parts.append(o[f"ContinuousDoubleAuction-{key}-{res}"])
    for key in ("is_tax_day", "is_first_day", "tax_phase", "last_incomes", "curr_rates"):
        parts.append(o[f"PeriodicBracketTax-{key}"])
    for i in range(N_AGENTS):
        p = o[f"p{i}"]
        parts += [p[f"world-inventory-{k}"] for k in ("Coin", "Stone", "Wood")]
        parts += [p[f"PeriodicBracketTax-{k}"] for k in ("last_income", "last_marginal_rate", "curr_marginal_rate")]
    return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts])


def replay_against_package(config: EconomyConfig, steps: int, seed: int, invalid_fraction: float = 0.1) -> ReplayLog:
    """Drive both simulators with the same actions and turn orders and record every difference.

    Agents mostly pick uniformly among the actions the package's mask allows, with ``invalid_fraction``
    of picks uniform over all 50 actions (forbidden ones must do nothing in both). The planner (if it
    sets taxes) picks a random allowed rate per bracket on the first step of each period.
    """
    rng = np.random.default_rng(seed)
    np.random.seed(seed)  # noqa: NPY002 -- the package draws from the legacy global generator
    theirs = make_reference_env(config)
    obs = theirs.reset()
    agents = theirs.world.agents
    payments = np.array([a.state["build_payment"] for a in agents])
    skill_rank = torch.tensor(np.argsort(np.argsort(payments))).unsqueeze(0)
    ours = Economy(1, config, seed=seed)
    ours.reset(skill_rank=skill_rank)
    log = ReplayLog()
    cda = theirs.get_component("ContinuousDoubleAuction")
    tax = theirs.get_component("PeriodicBracketTax")

    def compare(step: int, name: str, a, b, exact: bool = True) -> None:
        a, b = np.asarray(a), np.asarray(b)
        same = np.array_equal(a, b) if exact else np.allclose(a, b, rtol=1e-9, atol=1e-9)
        if not same:
            log.mismatches.append(Mismatch(step, name, a, b))

    for step in range(steps + 1):
        mine, theirs_state = our_state(ours), package_state(theirs)
        for key in mine:
            compare(step, key, mine[key], theirs_state[key], exact=key not in ("coin", "coin_escrow", "labor"))
        mask = agent_action_mask(ours)[0].numpy()
        compare(step, "agent mask", mask.astype(np.float32), np.stack([obs[str(i)]["action_mask"] for i in range(4)]))
        views = agent_views(ours)[0].numpy()
        their_views = np.stack(
            [np.concatenate([obs[str(i)]["world-map"], obs[str(i)]["world-idx_map"]]) for i in range(4)]
        )
        compare(step, "agent views", views, their_views.astype(np.float32))
        flat = agent_flat_features(ours)[0].numpy()
        their_flat = np.stack([package_agent_flat(obs, i) for i in range(N_AGENTS)]).astype(np.float32)
        compare(step, "agent features", flat, their_flat, exact=False)
        compare(
            step,
            "planner features",
            planner_flat_features(ours)[0].numpy(),
            package_planner_flat(obs).astype(np.float32),
            exact=False,
        )
        if config.tax_model == "planner":
            compare(
                step,
                "planner mask",
                planner_action_mask(ours)[0].numpy().astype(np.float32).ravel(),
                obs["p"]["action_mask"],
            )
        if step == steps:
            break
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
        random_pick = rng.random(N_AGENTS) < invalid_fraction
        actions = np.where(random_pick, rng.integers(0, 50, N_AGENTS), actions)
        log.n_invalid_actions += int((~mask[np.arange(N_AGENTS), actions]).sum())
        planner = np.zeros(7, dtype=np.int64)
        if config.tax_model == "planner":
            planner_mask = obs["p"]["action_mask"].reshape(7, 22)
            planner = np.array([rng.choice(np.flatnonzero(m)) for m in planner_mask])
        order = rng.permutation(N_AGENTS)
        theirs.world.get_random_order_agents = lambda order=order: [agents[i] for i in order]
        action_dict = {str(i): int(actions[i]) for i in range(N_AGENTS)}
        if config.tax_model == "planner":
            action_dict["p"] = [int(x) for x in planner]
        obs, rew, _, _ = theirs.step(action_dict)
        result = ours.step(
            torch.tensor(actions).unsqueeze(0), torch.tensor(planner).unsqueeze(0), torch.tensor(order).unsqueeze(0)
        )
        n_trades = len(cda.executed_trades[-1])
        compare(step + 1, "trades", int(result.events.trades.sum()), n_trades)
        log.n_trades += n_trades
        log.n_builds += int(result.events.built.sum())
        log.n_moves += int(result.events.moved.sum())
        compare(step + 1, "rewards", result.rewards[0].numpy(), [rew[str(i)] for i in range(4)], exact=False)
        compare(step + 1, "planner reward", float(result.planner_reward[0]), rew["p"], exact=False)
        if tax.taxes[-1]:
            paid = [tax.taxes[-1][str(i)]["tax_paid"] for i in range(4)]
            compare(step + 1, "tax paid", result.events.tax_paid[0].numpy(), paid, exact=False)
            compare(step + 1, "tax rates", ours.rates[0].numpy(), tax.taxes[-1]["schedule"], exact=False)
            log.taxes += float(np.sum(paid))
    if steps == config.episode_length:  # the package stashes its episode metrics at the end
        summary, metrics = ours.summary(), theirs.previous_episode_metrics
        compare_summary(steps, summary, metrics, log)
    return log


def compare_summary(step: int, summary: EpisodeSummary, metrics: dict[str, Any], log: ReplayLog) -> None:
    """Add to ``log`` every episode statistic of environment 0 that differs from the package's metrics."""
    pairs = {
        "productivity": (summary.productivity[0], metrics["social/productivity"]),
        "equality": (summary.equality[0], metrics["social/equality"]),
        "social welfare": (summary.social_welfare[0], metrics["social_welfare/coin_eq_times_productivity"]),
        "houses": (summary.builds[0].sum(), metrics["Build/total_builds"]),
        "trades": (summary.trades[0], metrics["Trade/n_trades"]),
        "taxes": (summary.taxes_collected[0], metrics.get("PeriodicTax/total_collected_taxes", 0.0)),
    }
    for i in range(N_AGENTS):
        pairs[f"coin {i}"] = (summary.coin[0, i], metrics[f"endow/{i}/Coin"])
        pairs[f"labor {i}"] = (summary.labor[0, i], metrics[f"endogenous/{i}/Labor"])
        pairs[f"utility {i}"] = (summary.utility[0, i], metrics[f"util/{i}"])
        pairs[f"stone {i}"] = (summary.goods[0, i, 0], metrics[f"endow/{i}/Stone"])
        pairs[f"wood {i}"] = (summary.goods[0, i, 1], metrics[f"endow/{i}/Wood"])
        pairs[f"builds {i}"] = (summary.builds[0, i], metrics[f"Build/{i}/n_builds"])
    for name, (ours, theirs) in pairs.items():
        if not np.isclose(float(ours), float(theirs), rtol=1e-9, atol=1e-9):
            log.mismatches.append(Mismatch(step, f"episode {name}", float(ours), float(theirs)))
