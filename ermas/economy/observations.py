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
from functools import cached_property, lru_cache

import torch

from ermas.economy import taxes
from ermas.economy.config import N_AGENTS
from ermas.economy.env import Economy
from ermas.economy.layout import load_layout

INVENTORY_SCALE = 0.01
N_SPATIAL_CHANNELS = 9


@dataclass
class Observation:
    """Everything a batch of policies needs for one step.

    Attributes:
        agent_codes: ``(B, A, w, w)`` int32 tile codes of the agents' views (see :func:`agent_view_codes`);
            ``agent_spatial``, the ``(B, A, 9, w, w)`` uint8 views they decode to (see :func:`agent_views`), is
            decoded on first use.
        agent_flat: ``(B, A, 135)`` float32 (see :func:`agent_flat_features`).
        planner_flat: ``(B, 107)`` float32 (see :func:`planner_flat_features`).
        agent_mask: ``(B, A, 50)`` bool; planner_mask: ``(B, 7, 22)`` bool, ``None`` unless the planner sets rates.
    """

    agent_codes: torch.Tensor
    agent_flat: torch.Tensor
    planner_flat: torch.Tensor
    agent_mask: torch.Tensor
    planner_mask: torch.Tensor | None

    @cached_property
    def agent_spatial(self) -> torch.Tensor:
        """``(B, A, 9, w, w)`` uint8: the views that ``agent_codes`` decode to (see :func:`agent_views`)."""
        return decode_views(self.agent_codes)


# A tile's content packed in 12 bits: stone, wood, house owner + 1 (3 bits), agent + 1 (3 bits), water,
# stone source, wood source, inside the world; bits 12-13 name the observing agent. Windows of codes are
# cut from the grid and decoded by a table.
_N_CODES = 1 << 12
_STATIC_SHIFT = 8


@lru_cache(maxsize=8)
def _window_tables(layout_name: str, observation_range: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """For an agent on each tile: ``(H*W, side*side)`` int32 the tile under every window position (``H*W``,
    a tile with nothing on it, beyond the world's edge), and ``(A, H*W, side*side)`` int32 the static code of
    those positions plus each observer's table offset. Built on the CPU, kept on ``device``."""
    layout = load_layout(layout_name)
    h, w = layout.shape
    r = observation_range
    tiles = torch.arange(h * w, device="cpu")
    rows, cols = tiles // w, tiles % w
    offset = torch.arange(-r, r + 1, device="cpu")
    window_rows = rows.view(-1, 1, 1) + offset.view(1, -1, 1)
    window_cols = cols.view(-1, 1, 1) + offset.view(1, 1, -1)
    inside = (window_rows >= 0) & (window_rows < h) & (window_cols >= 0) & (window_cols < w)
    tile = torch.where(inside, window_rows * w + window_cols, h * w).view(h * w, -1)
    bits = [layout.water, layout.stone_source, layout.wood_source, torch.ones(h, w, dtype=torch.bool, device="cpu")]
    static = sum(bit.reshape(-1).to(torch.int32) << (_STATIC_SHIFT + k) for k, bit in enumerate(bits))
    static = torch.cat([static, torch.zeros(1, dtype=torch.int32, device="cpu")])[tile]  # (H*W, side*side)
    observer = (torch.arange(N_AGENTS, dtype=torch.int32, device="cpu") << 12).view(-1, 1, 1)
    return tile.to(device, torch.int32), (static.unsqueeze(0) | observer).contiguous().to(device)


@lru_cache(maxsize=2)
def view_decode_table(device: torch.device) -> torch.Tensor:
    """``(A * 4096, 9)`` uint8: row ``c`` holds the 9 channels of tile code ``c`` (see
    :func:`agent_view_codes`), on ``device``. A policy's own encoding of a view can be tabled over these rows
    once and looked up per step (``ermas.two_level.networks.agent_inputs_from_codes``). The tensor is shared
    by every caller (cached): read it, do not modify it."""
    code = torch.arange(_N_CODES, device="cpu")
    owner, agent = (code >> 2) & 7, (code >> 5) & 7
    rows = []
    for observer in range(N_AGENTS):

        def ids(c: torch.Tensor, observer: int = observer) -> torch.Tensor:  # 0 nobody, 1 observer, j + 2 agent j
            return torch.where(c == observer + 1, 1, torch.where(c > 0, c + 1, 0))

        static = [(code >> (_STATIC_SHIFT + k)) & 1 for k in range(4)]
        channels = [code & 1, (code >> 1) & 1, (owner > 0).long(), *static, ids(owner), ids(agent)]
        rows.append(torch.stack(channels, -1))
    return torch.cat(rows).to(device, torch.uint8)


def agent_view_codes(env: Economy) -> torch.Tensor:
    """``(B, A, 2r + 1, 2r + 1)`` int32: the code of every tile in each agent's egocentric window, a row of
    :func:`view_decode_table` (its content, and which agent observes it)."""
    b, n_tiles = env.batch, env.height * env.width
    side = 2 * env.config.observation_range + 1
    tile, static = _window_tables(env.layout.name, env.config.observation_range, env.device)
    # The changing content of every tile in 8 bits (plus an empty tile at index H*W for beyond the edge).
    dynamic = torch.zeros(b, n_tiles + 1, dtype=torch.uint8, device=env.device)
    resources = env.resources.view(torch.uint8)
    dynamic[:, :n_tiles] = resources[:, 0] | (resources[:, 1] << 1) | ((env.house_owner + 1).view(torch.uint8) << 2)
    dynamic.scatter_add_(
        1, env.cell, (torch.arange(1, N_AGENTS + 1, dtype=torch.uint8, device=env.device) << 5).expand(b, -1)
    )
    index = tile[env.cell] + (torch.arange(b, dtype=torch.int32, device=env.device) * (n_tiles + 1)).view(b, 1, 1)
    codes = static[env._agents, env.cell]  # (B, A, side*side)
    codes |= dynamic.view(-1).index_select(0, index.view(-1)).view_as(codes)
    return codes.view(b, N_AGENTS, side, side)


def decode_views(codes: torch.Tensor) -> torch.Tensor:
    """``(..., 9, w, w)`` uint8 views from ``(..., w, w)`` codes of :func:`agent_view_codes`, channels
    innermost in memory (the layout of ``torch.channels_last``, which convolutions take without a copy)."""
    views = view_decode_table(codes.device).index_select(0, codes.reshape(-1))
    return views.view(*codes.shape, N_SPATIAL_CHANNELS).movedim(-1, -3)


def agent_views(env: Economy) -> torch.Tensor:
    """``(B, A, 9, 2r + 1, 2r + 1)`` uint8 egocentric windows around each agent (zeros beyond the world's edge).

    Every entry is a small integer, so the views stay uint8 (a quarter of the memory of float32); a
    policy casts them to float in its first layer. The channel dimension is the innermost in memory (the
    layout of ``torch.channels_last``, which convolutions take without a copy); ``.contiguous()`` gives
    the usual layout.
    """
    return decode_views(agent_view_codes(env))


def _tax_features(env: Economy) -> torch.Tensor:
    period = env.config.tax_period
    phase = float(env.tax_phase)
    sorted_income = (env.last_income / period).sort(-1).values
    flags = torch.tensor(
        [float(phase >= period), float(phase == 1), phase / period], dtype=env.dtype, device=env.device
    )
    return torch.cat([flags.expand(env.batch, -1), sorted_income, env.rates], -1)


def current_marginal_rates(env: Economy) -> torch.Tensor:
    """``(B, A)`` marginal rate on each agent's next unit of income this period."""
    return taxes.marginal_rate(env.coin_total() - env.last_coin, env.rates, env.brackets)


@dataclass
class SharedFeatures:
    """What agents and planner both see, computed once per observation.

    Attributes:
        rate: ``(B, R)`` mean sale price; history: ``(B, R, P)`` scaled decayed sale counts;
        bids, asks: ``(B, R, A, P)`` open orders per agent and price (float32 counts);
        tax: ``(B, 14)`` is-tax-day, is-first-day, tax phase, sorted last incomes (over the period), rates;
        marginal_rate: ``(B, A)`` each agent's current marginal rate.
    """

    rate: torch.Tensor
    history: torch.Tensor
    bids: torch.Tensor
    asks: torch.Tensor
    tax: torch.Tensor
    marginal_rate: torch.Tensor

    @classmethod
    def of(cls, env: Economy) -> SharedFeatures:
        bids, asks = env.book.order_histograms()
        history = env.book.price_history.sum(-2) * INVENTORY_SCALE
        return cls(
            env.book.market_rate(),
            history,
            bids,
            asks,
            _tax_features(env),
            current_marginal_rates(env),
        )


def agent_flat_features(env: Economy, shared: SharedFeatures | None = None) -> torch.Tensor:
    """``(B, A, 135)`` float32, in this order: row and column (over the world's size); coin, stone, wood (x0.01);
    time (over the episode length); house payment (over the base payment); per resource (stone, wood) the
    market rate, price history, asks and bids of the others, own asks and bids (1 + 5 x 11); the gathering
    bonus; is-tax-day, is-first-day, tax phase; last period's incomes sorted (over the period); the
    period's 7 rates; the agent's current marginal rate."""
    b, h = env.batch, env.holdings
    shared = shared or SharedFeatures.of(env)
    n_res, levels = shared.bids.shape[1], shared.bids.shape[-1]
    block = 1 + 5 * levels  # per resource: rate, history, others' asks, others' bids, own asks, own bids
    rest = 7 + n_res * block
    out = torch.empty(b, N_AGENTS, rest + 16, dtype=torch.float32, device=env.device)
    # Values are computed in the economy's dtype (float64 by default) and rounded once to float32, like the
    # package's observations.
    own = [
        (env.cell // env.width).double() / env.height,
        (env.cell % env.width).double() / env.width,
        h.coin * INVENTORY_SCALE,
        *(h.goods.double() * INVENTORY_SCALE).unbind(-1),
        torch.full_like(h.coin, env.timestep / env.config.episode_length),
        env.build_payment / env.config.base_payment,
    ]
    out[..., :7] = torch.stack(own, -1)
    per_resource = out[..., 7:rest].view(b, N_AGENTS, n_res, block)
    asks, bids = shared.asks.transpose(1, 2), shared.bids.transpose(1, 2)  # (B, A, R, P)
    per_resource[..., 0] = shared.rate.unsqueeze(1)
    per_resource[..., 1 : 1 + levels] = shared.history.unsqueeze(1)
    per_resource[..., 1 + levels : 1 + 2 * levels] = shared.asks.sum(2).unsqueeze(1) - asks  # others' asks
    per_resource[..., 1 + 2 * levels : 1 + 3 * levels] = shared.bids.sum(2).unsqueeze(1) - bids
    per_resource[..., 1 + 3 * levels : 1 + 4 * levels] = asks
    per_resource[..., 1 + 4 * levels :] = bids
    tax = torch.cat([shared.tax.unsqueeze(1).expand(-1, N_AGENTS, -1), shared.marginal_rate.unsqueeze(-1)], -1)
    out[..., rest] = env.bonus_prob
    out[..., rest + 1 :] = tax
    return out


def planner_flat_features(env: Economy, shared: SharedFeatures | None = None) -> torch.Tensor:
    """``(B, 107)`` float32: time; per resource the market rate, price history, all asks and all bids
    (1 + 3 x 11); the tax information of :func:`agent_flat_features` without a marginal rate; then per
    agent coin, stone, wood (x0.01), last income (over the period), last and current marginal rate."""
    b, h = env.batch, env.holdings
    shared = shared or SharedFeatures.of(env)
    time = torch.full((b, 1), env.timestep / env.config.episode_length, dtype=env.dtype, device=env.device)
    whole_market = torch.cat(
        [shared.rate.unsqueeze(-1), shared.history, shared.asks.sum(2), shared.bids.sum(2)], -1
    ).view(b, -1)
    per_agent = torch.cat(
        [
            h.coin.unsqueeze(-1) * INVENTORY_SCALE,
            h.goods.to(env.dtype) * INVENTORY_SCALE,
            (env.last_income / env.config.tax_period).unsqueeze(-1),
            env.last_marginal_rate.unsqueeze(-1),
            shared.marginal_rate.unsqueeze(-1),
        ],
        -1,
    ).view(b, -1)
    return torch.cat([time, whole_market, shared.tax, per_agent], -1).to(torch.float32)


def agent_action_mask(env: Economy) -> torch.Tensor:
    """``(B, A, 50)`` bool: which actions can take effect now (the AI Economist's masks).

    Bids need a free order slot and at least the price in coin, asks a free slot and one unit, moves an
    open neighbouring tile with no agent on it, building the conditions of :meth:`Economy.can_build`.
    """
    b, cfg, h = env.batch, env.config, env.holdings
    levels = cfg.max_price + 1
    slot_free = (env.book.open_orders() < cfg.max_orders).transpose(1, 2)  # (B, A, R)
    n_res = slot_free.shape[-1]
    can_pay = (torch.arange(levels, dtype=env.dtype, device=env.device) <= h.coin.unsqueeze(-1)).unsqueeze(
        2
    )  # (B, A, 1, P)
    has_unit = (h.goods > 0).unsqueeze(-1)  # (B, A, R, 1)
    sides = torch.stack(torch.broadcast_tensors(can_pay, has_unit), 3)  # (B, A, R, buy/sell, P)
    trade = (sides & slot_free.view(b, N_AGENTS, n_res, 1, 1)).view(b, N_AGENTS, -1)
    targets, open_ = env.move_targets()
    occupied = (targets.unsqueeze(-1) == env.cell.view(b, 1, 1, N_AGENTS)).any(-1)
    noop = torch.ones(b, N_AGENTS, 1, dtype=torch.bool, device=env.device)
    return torch.cat([noop, env.can_build().unsqueeze(-1), trade, open_ & ~occupied], -1)


def planner_action_mask(env: Economy) -> torch.Tensor | None:
    """``(B, 7, 22)`` bool: the planner may change rates only on the first step of a tax period, and only
    to rates within the annealed limit; "keep" (0) is always allowed. ``None`` unless ``tax_model="planner"``."""
    if env.config.tax_model != "planner":
        return None
    allowed = (env._planner_rates <= env.rate_limit()) & (env.tax_phase == 1)
    row = torch.cat([torch.ones(1, dtype=torch.bool, device=env.device), allowed])
    return row.expand(env.batch, taxes.N_BRACKETS, -1).clone()


def observe(env: Economy) -> Observation:
    """Every observation and mask of the current state."""
    codes = agent_view_codes(env)
    shared = SharedFeatures.of(env)
    return Observation(
        agent_codes=codes,
        agent_flat=agent_flat_features(env, shared),
        planner_flat=planner_flat_features(env, shared),
        agent_mask=agent_action_mask(env),
        planner_mask=planner_action_mask(env),
    )
