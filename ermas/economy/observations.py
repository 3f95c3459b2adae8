"""Observations and action masks of the economy, as batched tensors for neural policies.

The content follows the AI Economist's observations for the paper's configuration (agents see an
egocentric window of the map; the planner sees no map). Coin and goods are scaled by ``INVENTORY_SCALE``,
time by the episode length, incomes by the tax period.

Agent spatial channels (``(B, A, 9, 2r + 1, 2r + 1)``): stone, wood, house, water, stone source, wood
source, inside-the-world (0 beyond the edge), house owner and agent position. The last two hold
``0`` for nobody, ``1`` for the observing agent and ``j + 2`` for agent ``j``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ermas.economy import taxes
from ermas.economy.config import N_AGENTS
from ermas.economy.env import N_AGENT_ACTIONS, Economy

INVENTORY_SCALE = 0.01
N_SPATIAL_CHANNELS = 9


@dataclass
class Observation:
    """``agent_spatial`` ``(B, A, 9, w, w)``, ``agent_flat`` ``(B, A, F)``, ``planner_flat`` ``(B, Fp)`` (float32),
    ``agent_mask`` ``(B, A, 50)`` bool and ``planner_mask`` ``(B, 7, 22)`` bool (``None`` unless the planner sets
    the rates)."""

    agent_spatial: torch.Tensor
    agent_flat: torch.Tensor
    planner_flat: torch.Tensor
    agent_mask: torch.Tensor
    planner_mask: torch.Tensor | None


def world_channels(env: Economy) -> torch.Tensor:
    """``(B, 9, H, W)`` float32 map channels before cropping (idx channels not yet made egocentric)."""
    b, h, w = env.batch, env.height, env.width
    resources = env.resources.to(torch.float32)  # (B, 2, H*W): stone, wood
    house = (env.house_owner >= 0).to(torch.float32).unsqueeze(1)
    static = torch.stack(
        [env.layout.water, env.layout.stone_source, env.layout.wood_source, torch.ones(h, w, dtype=torch.bool)]
    )
    static = static.reshape(1, 4, h * w).to(torch.float32).expand(b, -1, -1)
    owner = (env.house_owner + 2).masked_fill(env.house_owner < 0, 0).to(torch.float32).unsqueeze(1)
    agent_at = torch.zeros(b, h * w, dtype=torch.float32).scatter_(
        1, env.cell, torch.arange(2, N_AGENTS + 2, dtype=torch.float32).expand(b, -1)
    )
    channels = torch.cat(
        [resources, house, static[:, :1], static[:, 1:3], static[:, 3:], owner, agent_at.unsqueeze(1)], 1
    )
    return channels.view(b, N_SPATIAL_CHANNELS, h, w)


def agent_views(env: Economy) -> torch.Tensor:
    """``(B, A, 9, 2r + 1, 2r + 1)`` egocentric windows around each agent (zeros beyond the world's edge)."""
    r = env.config.observation_range
    side = 2 * r + 1
    padded = torch.nn.functional.pad(world_channels(env), (r, r, r, r))
    pw = env.width + 2 * r
    rows, cols = env.cell // env.width, env.cell % env.width  # window top-left in padded coordinates
    offsets = (torch.arange(side).unsqueeze(-1) * pw + torch.arange(side)).view(-1)
    index = (rows * pw + cols).unsqueeze(-1) + offsets  # (B, A, side*side)
    flat = padded.view(env.batch, N_SPATIAL_CHANNELS, -1)
    views = torch.gather(flat, 2, index.view(env.batch, 1, -1).expand(-1, N_SPATIAL_CHANNELS, -1))
    views = views.view(env.batch, N_SPATIAL_CHANNELS, N_AGENTS, side, side).transpose(1, 2).contiguous()
    self_id = (torch.arange(N_AGENTS, dtype=torch.float32) + 2).view(1, N_AGENTS, 1, 1, 1)
    ids = views[:, :, 7:]
    views[:, :, 7:] = torch.where(ids == self_id, torch.ones_like(ids), ids)
    return views


def _market_features(env: Economy) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    bids, asks = env.book.order_histograms()  # (B, R, A, P)
    history = env.book.price_history.sum(-2) * INVENTORY_SCALE  # (B, R, P)
    return env.book.market_rate(), history, bids.to(torch.float32), asks.to(torch.float32)


def _tax_features(env: Economy) -> torch.Tensor:
    period = env.config.tax_period
    phase = float(env.tax_phase)
    sorted_income = (env.last_income / period).sort(-1).values
    flags = torch.tensor([float(phase >= period), float(phase == 1), phase / period], dtype=torch.float64)
    return torch.cat([flags.expand(env.batch, -1), sorted_income, env.period_rates], -1)


def current_marginal_rates(env: Economy) -> torch.Tensor:
    """``(B, A)`` marginal rate on each agent's next unit of income this period."""
    return taxes.marginal_rate(env.coin_total() - env.last_coin, env.period_rates)


def agent_flat_features(env: Economy) -> torch.Tensor:
    """``(B, A, 135)``: position, inventory, time, skill, market, gathering bonus, tax information."""
    b = env.batch
    h = env.holdings
    position = env.positions().to(torch.float64) / torch.tensor([env.height, env.width], dtype=torch.float64)
    inventory = torch.cat([h.coin.unsqueeze(-1), h.goods.to(torch.float64)], -1) * INVENTORY_SCALE
    time = torch.full((b, N_AGENTS, 1), env.timestep / env.config.episode_length, dtype=torch.float64)
    skill = (env.build_payment / env.config.base_payment).unsqueeze(-1)
    rate, history, bids, asks = _market_features(env)
    full_bids, full_asks = bids.sum(2, keepdim=True), asks.sum(2, keepdim=True)
    market = []
    for res in range(rate.shape[1]):
        market += [
            rate[:, res].view(b, 1, 1).expand(-1, N_AGENTS, -1),
            history[:, res].unsqueeze(1).expand(-1, N_AGENTS, -1),
            (full_asks[:, res] - asks[:, res]).to(torch.float64),  # asks the agent could buy from
            (full_bids[:, res] - bids[:, res]).to(torch.float64),
            asks[:, res].to(torch.float64),
            bids[:, res].to(torch.float64),
        ]
    tax = _tax_features(env).unsqueeze(1).expand(-1, N_AGENTS, -1)
    parts = [position, inventory, time, skill, *market, env.bonus_prob.unsqueeze(-1), tax]
    parts.append(current_marginal_rates(env).unsqueeze(-1))
    return torch.cat(parts, -1).to(torch.float32)


def planner_flat_features(env: Economy) -> torch.Tensor:
    """``(B, 107)``: time, the whole market, tax information, and per agent inventory, last income, last and
    current marginal rate."""
    b = env.batch
    h = env.holdings
    time = torch.full((b, 1), env.timestep / env.config.episode_length, dtype=torch.float64)
    rate, history, bids, asks = _market_features(env)
    market = []
    for res in range(rate.shape[1]):
        market += [rate[:, res : res + 1], history[:, res], asks[:, res].sum(1).double(), bids[:, res].sum(1).double()]
    per_agent = torch.cat(
        [
            h.coin.unsqueeze(-1) * INVENTORY_SCALE,
            h.goods.to(torch.float64) * INVENTORY_SCALE,
            (env.last_income / env.config.tax_period).unsqueeze(-1),
            env.last_marginal_rate.unsqueeze(-1),
            current_marginal_rates(env).unsqueeze(-1),
        ],
        -1,
    ).view(b, -1)
    return torch.cat([time, *market, _tax_features(env), per_agent], -1).to(torch.float32)


def agent_action_mask(env: Economy) -> torch.Tensor:
    """``(B, A, 50)`` bool: which actions can take effect now (the AI Economist's masks).

    Bids need a free order slot and at least the price in coin, asks a free slot and one unit, moves an
    open neighbouring tile with no agent on it, building the conditions of :meth:`Economy.can_build`.
    """
    b, cfg, h = env.batch, env.config, env.holdings
    levels = cfg.max_price + 1
    slot_free = env.book.open_orders() < cfg.max_orders  # (B, R, A)
    can_pay = torch.arange(levels, dtype=torch.float64) <= h.coin.unsqueeze(-1)  # (B, A, P)
    heads = []
    for res in range(slot_free.shape[1]):
        free = slot_free[:, res].unsqueeze(-1)
        heads.append(free & can_pay)
        heads.append((free & (h.goods[..., res] > 0).unsqueeze(-1)).expand(-1, -1, levels))
    targets, open_ = env.move_targets()
    occupied = (targets.unsqueeze(-1) == env.cell.view(b, 1, 1, N_AGENTS)).any(-1)
    moves = open_ & ~occupied
    mask = torch.cat([torch.ones(b, N_AGENTS, 1, dtype=torch.bool), env.can_build().unsqueeze(-1), *heads, moves], -1)
    assert mask.shape[-1] == N_AGENT_ACTIONS
    return mask


def planner_action_mask(env: Economy) -> torch.Tensor | None:
    """``(B, 7, 22)`` bool: the planner may change rates only on the first step of a tax period, and only
    to rates within the annealed limit; "keep" (0) is always allowed. ``None`` unless ``tax_model="planner"``."""
    if env.config.tax_model != "planner":
        return None
    allowed = (taxes.PLANNER_RATES <= env.rate_limit()) & (env.tax_phase == 1)
    row = torch.cat([torch.ones(1, dtype=torch.bool), allowed])
    return row.expand(env.batch, taxes.N_BRACKETS, -1).clone()


def observe(env: Economy) -> Observation:
    """Every observation and mask of the current state."""
    return Observation(
        agent_spatial=agent_views(env),
        agent_flat=agent_flat_features(env),
        planner_flat=planner_flat_features(env),
        agent_mask=agent_action_mask(env),
        planner_mask=planner_action_mask(env),
    )
