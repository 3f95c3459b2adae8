"""The Gather-Trade-Build economy of the AI Economist, vectorised over a batch of environments.

Four agents on a grid move, gather wood and stone, trade them in a double auction, and turn one wood
plus one stone into a house that pays coin according to their skill. Every ``tax_period`` steps their
income is taxed and the revenue shared equally. Agents are rewarded by the change in isoelastic utility
of coin minus labor, the planner by the change in equality times productivity.

One call to :meth:`Economy.step` advances every environment of the batch by one step. The batch steps in
lockstep (all environments share the timestep), so episodes end together. The order of a step is the
AI Economist's: build, then the market (place orders, match, expire), then moving and gathering (agents in
a random turn order), then taxes, then resource regrowth.

Agent actions are one integer in ``0..49`` per agent (the package's flat layout):
``0`` no-op, ``1`` build, ``2-12`` bid for stone at price 0..10, ``13-23`` ask for stone,
``24-34`` bid for wood, ``35-45`` ask for wood, ``46-49`` move left, right, up, down.
Planner actions (``tax_model="planner"``) are ``(B, 7)`` choices in ``0..21`` per tax bracket.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ermas.economy import taxes
from ermas.economy.config import N_AGENTS, N_RESOURCES, EconomyConfig, fixed_skill_payments
from ermas.economy.layout import Layout, load_layout
from ermas.economy.market import Holdings, OrderBook
from ermas.economy.metrics import equality, isoelastic_utility_unchecked, productivity, social_welfare

N_AGENT_ACTIONS = 50
BUILD = 1
FIRST_TRADE, LAST_TRADE = 2, 45
FIRST_MOVE = 46
MOVE_DELTAS = torch.tensor([[0, -1], [0, 1], [-1, 0], [1, 0]], device="cpu")  # left, right, up, down as (row, col)


@dataclass
class StepEvents:
    """What happened in one step, per environment.

    Attributes:
        built: ``(B, A)`` bool, the agent built a house.
        trades: ``(B, R)`` trades executed per resource.
        moved: ``(B, A)`` bool, the agent changed tile.
        gathered: ``(B, A, R)`` units gathered.
        tax_paid: ``(B, A)`` tax paid (nonzero only at the end of a tax period).
        lump_sum: ``(B,)`` redistribution per agent (idem).
    """

    built: torch.Tensor
    trades: torch.Tensor
    moved: torch.Tensor
    gathered: torch.Tensor
    tax_paid: torch.Tensor
    lump_sum: torch.Tensor


@dataclass
class StepResult:
    """``rewards`` ``(B, A)``, ``planner_reward`` ``(B,)``, ``done`` (the whole batch), and the events."""

    rewards: torch.Tensor
    planner_reward: torch.Tensor
    done: bool
    events: StepEvents


@dataclass
class EpisodeSummary:
    """Statistics of the episode so far, per environment (the AI Economist's episode metrics).

    Attributes:
        productivity, equality, social_welfare: ``(B,)`` total coin, 1 - Gini of coin, and the planner's
            objective (equality times mean coin).
        coin, labor, utility: ``(B, A)`` coin (inventory plus escrow), cumulative labor, isoelastic utility.
        goods: ``(B, A, R)`` stone and wood held (inventory plus escrow).
        builds: ``(B, A)`` houses built; trades: ``(B,)`` trades; taxes_collected: ``(B,)`` coin of tax.
        periods_by_bracket: ``(B, 7)`` agents' finished tax periods whose income fell in each bracket (the
            highest it reached; a negative income counts in the lowest).
    """

    productivity: torch.Tensor
    equality: torch.Tensor
    social_welfare: torch.Tensor
    coin: torch.Tensor
    labor: torch.Tensor
    utility: torch.Tensor
    goods: torch.Tensor
    builds: torch.Tensor
    trades: torch.Tensor
    taxes_collected: torch.Tensor
    periods_by_bracket: torch.Tensor


def _per_env(
    value: torch.Tensor | float, batch: int, name: str, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=dtype, device=device)
    if tensor.dim() == 0:
        tensor = tensor.expand(batch).clone()
    if tensor.shape != (batch,):
        raise ValueError(f"{name} must be a number or a tensor of shape ({batch},), got shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} must be finite")
    return tensor


def present_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``; an error naming it where it is not present on this machine."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must name a torch device such as 'cpu' or 'cuda'; got {device!r}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} is not present: torch sees no CUDA device on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(
            f"device {str(device)!r} is not present: torch sees {torch.cuda.device_count()} CUDA device(s)"
        )
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda'; got {str(device)!r}")
    return device


class Economy:
    """A batch of ``batch`` Gather-Trade-Build economies with the same rules and map.

    Args:
        batch: number of environments ``B``.
        config: the rules (see :class:`EconomyConfig`).
        eta: isoelastic utility parameter in ``[0, 1]``, a number or a ``(B,)`` tensor (one per environment).
            ``eta = 1`` means logarithmic utility of coin.
        labor_weight: disutility per unit of labor, ``>= 0``, a number or ``(B,)`` tensor.
        seed: seed of the simulator's random generator (turn orders, skills, gathering bonus, regrowth).
        device: where every tensor of the state lives (``"cpu"``, or ``"cuda"`` where present); nothing is
            created on torch's default device. Observations come back on the same device.
        dtype: of coin, labor, utility, welfare, rates and the Saez model's memory: ``torch.float64`` (the
            default, which replays the package step for step) or ``torch.float32``. Random draws are made
            in float64 either way, so both dtypes see the same draws.
    """

    def __init__(
        self,
        batch: int,
        config: EconomyConfig | None = None,
        eta: torch.Tensor | float = 0.23,
        labor_weight: torch.Tensor | float = 0.21,
        seed: int = 0,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> None:
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        if dtype not in (torch.float64, torch.float32):
            raise ValueError(f"dtype must be torch.float64 or torch.float32; got {dtype!r}")
        self.device = present_device(device)
        self.dtype = dtype
        self.config = config or EconomyConfig()
        self.batch = batch
        self.eta = _per_env(eta, batch, "eta", self.device, dtype)
        if bool((self.eta < 0).any()) or bool((self.eta > 1).any()):
            raise ValueError("eta must lie in [0, 1] (eta = 1 is logarithmic utility)")
        self.labor_weight = _per_env(labor_weight, batch, "labor_weight", self.device, dtype)
        if bool((self.labor_weight < 0).any()):
            raise ValueError("labor_weight must be >= 0 (it is a cost per unit of labor)")
        self.layout: Layout = load_layout(self.config.layout)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        height, width = self.layout.shape
        self.height, self.width = height, width
        corners = self.layout.start_corners()
        dev = self.device
        self._agents = torch.arange(N_AGENTS, device=dev)
        self._planner_rates = taxes.PLANNER_RATES.to(dev, dtype)
        self._corner_cells = torch.tensor([r * width + c for r, c in corners], device=dev)
        self._rank_payments = torch.tensor(
            fixed_skill_payments(self.config.base_payment, self.config.max_skill_multiplier),
            dtype=dtype,
            device=dev,
        )
        self._source = self.layout.sources.reshape(N_RESOURCES, -1).to(dev)  # (R, H*W)
        self._source_index = self._source.reshape(-1).nonzero().squeeze(-1)  # into the flattened (R, H*W)
        self._water = self.layout.water.reshape(-1).to(dev)
        self._landmark_free = ~(self._source.any(0) | self._water)  # no source block, no water
        # Neighbours of every tile (left, right, up, down) and whether they are on the map and not water.
        tiles = torch.arange(height * width, device=dev)
        rows, cols = tiles // width, tiles % width
        deltas = MOVE_DELTAS.to(dev)
        new_r, new_c = rows.unsqueeze(-1) + deltas[:, 0], cols.unsqueeze(-1) + deltas[:, 1]
        on_map = (new_r >= 0) & (new_r < height) & (new_c >= 0) & (new_c < width)
        self._neighbour = torch.where(on_map, new_r * width + new_c, 0)  # (H*W, 4)
        self._neighbour_land = on_map & ~self._water[self._neighbour]
        self.completions = 0
        self.brackets = taxes.Brackets.scaled(self.config.usd_scaling).to(dev, dtype)
        self.saez = taxes.SaezState.empty(batch, dev, dtype)
        self._positive_reward_steps = torch.zeros(batch, dtype=self.dtype, device=self.device)
        self.reset()

    # --- state --------------------------------------------------------------------------------------

    def reset(self, skill_rank: torch.Tensor | None = None) -> None:
        """Start a new episode in every environment: the map's resources, empty inventories, no houses,
        no orders, skills and corners assigned to agents in a random permutation, tax rates reset.

        Args:
            skill_rank: optional ``(B, 4)`` permutation, the skill rank (0 = lowest) of each agent; drawn at
                random when omitted (given, it lets another simulator's episode be replayed).
        """
        b, cfg = self.batch, self.config
        self.timestep = 0
        self.resources = self._source.unsqueeze(0).expand(b, -1, -1).to(torch.int8).clone()  # (B, R, H*W)
        self.house_owner = torch.full(
            (b, self.height * self.width), -1, dtype=torch.int8, device=self.device
        )  # (B, H*W)
        self.holdings = Holdings(
            coin=torch.zeros(b, N_AGENTS, dtype=self.dtype, device=self.device),
            coin_escrow=torch.zeros(b, N_AGENTS, dtype=self.dtype, device=self.device),
            goods=torch.zeros(b, N_AGENTS, N_RESOURCES, dtype=torch.long, device=self.device),
            goods_escrow=torch.zeros(b, N_AGENTS, N_RESOURCES, dtype=torch.long, device=self.device),
            labor=torch.zeros(b, N_AGENTS, dtype=self.dtype, device=self.device),
        )
        self.book = OrderBook.empty(
            b, N_RESOURCES, N_AGENTS, cfg.max_orders, cfg.max_price, cfg.order_duration, self.device, self.dtype
        )
        # skill_rank[b, i]: the skill rank (0 = lowest) of agent i; its corner and house payment follow.
        if skill_rank is None:
            skill_rank = torch.rand(
                b, N_AGENTS, dtype=torch.float64, generator=self.generator, device=self.device
            ).argsort(-1)
        skill_rank = torch.as_tensor(skill_rank, device=self.device).long()
        if skill_rank.shape != (b, N_AGENTS) or not bool((skill_rank.sort(-1).values == self._agents).all()):
            raise ValueError(f"skill_rank must be a ({b}, {N_AGENTS}) tensor of permutations of 0..3")
        self.skill_rank = skill_rank
        self.cell = self._corner_cells[self.skill_rank]  # (B, A) flat tile index r * W + c
        self.build_payment = self._rank_payments[self.skill_rank]
        if cfg.gather_bonus:
            u = torch.rand(b, N_AGENTS, dtype=torch.float64, generator=self.generator, device=self.device)
            pareto = (1 - u) ** (-1 / 3) - 1  # numpy's Pareto(3) (a Lomax)
            self.bonus_prob = (pareto.clamp(max=2) / 2).to(self.dtype)
        else:
            self.bonus_prob = torch.zeros(b, N_AGENTS, dtype=self.dtype, device=self.device)
        # Taxes
        self.tax_phase = 1  # position in the tax period, 1..period (the package's tax_cycle_pos)
        self.rate_choice = torch.zeros(
            b, taxes.N_BRACKETS, dtype=torch.long, device=self.device
        )  # planner: index into PLANNER_RATES
        self.rates = self._schedule_rates(reset=True)  # (B, 7), set on the first step of each period
        self.last_coin = self.coin_total()
        self.last_income = torch.zeros(b, N_AGENTS, dtype=self.dtype, device=self.device)
        self.last_marginal_rate = torch.zeros(b, N_AGENTS, dtype=self.dtype, device=self.device)
        # Episode totals
        self.taxes_collected = torch.zeros(b, dtype=self.dtype, device=self.device)
        self.periods_by_bracket = torch.zeros(b, taxes.N_BRACKETS, dtype=torch.long, device=self.device)
        self.n_trades = torch.zeros(b, dtype=torch.long, device=self.device)
        self.n_builds = torch.zeros(b, N_AGENTS, dtype=torch.long, device=self.device)
        self.utility, self.welfare = self._objectives()

    def coin_total(self) -> torch.Tensor:
        """``(B, A)`` coin in inventory plus escrow (what utility, income and welfare are computed on)."""
        return self.holdings.coin + self.holdings.coin_escrow

    def positions(self) -> torch.Tensor:
        """``(B, A, 2)`` agent (row, column)."""
        return torch.stack([self.cell // self.width, self.cell % self.width], -1)

    def houses(self) -> torch.Tensor:
        """``(B, H, W)`` owner of the house on each tile, -1 for none."""
        return self.house_owner.view(self.batch, self.height, self.width)

    def rate_limit(self) -> float:
        """Largest tax rate allowed now (tax annealing by completed episodes)."""
        return taxes.annealed_rate_limit(self.completions, self.config.tax_annealing)

    def labor_coefficient(self) -> torch.Tensor:
        """``(B,)`` labor weight now, including the optional warm-up."""
        cfg = self.config
        if cfg.labor_warmup <= 0:
            return self.labor_weight
        if cfg.labor_warmup_method == "decay":
            progress = torch.full_like(self.labor_weight, float(self.completions))
        else:
            progress = self._positive_reward_steps
        return self.labor_weight * (1 - torch.exp(-progress / cfg.labor_warmup))

    def _objectives(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, A)`` agent utilities and ``(B,)`` social welfare of the current state (rewards are their changes)."""
        coin = self.coin_total()
        # eta and the labor weight were checked at construction, and coin never goes below 0.
        utility = isoelastic_utility_unchecked(
            coin, self.holdings.labor, self.eta.unsqueeze(-1), self.labor_coefficient().unsqueeze(-1)
        )
        return utility, social_welfare(coin)

    # --- one step -----------------------------------------------------------------------------------

    def step(
        self,
        actions: torch.Tensor,
        planner_actions: torch.Tensor | None = None,
        turn_order: torch.Tensor | None = None,
    ) -> StepResult:
        """Advance every environment by one step.

        Args:
            actions: ``(B, 4)`` integer agent actions in ``0..49`` (layout in the module docstring).
                Actions the rules forbid (moving into water, building without wood and stone, a bid
                without the coin, ...) do nothing, as in the AI Economist; the action masks mark them.
            planner_actions: ``(B, 7)`` integers in ``0..21``, required with ``tax_model="planner"`` on the
                first step of a tax period and ignored on other steps (the planner's mask allows only
                the no-op there). A rate above the annealed limit is an error.
            turn_order: optional ``(B, 4)`` permutation: the order in which agents move this step
                (drawn at random when omitted; given, it lets another simulator's steps be replayed).
        Returns:
            rewards, planner reward, whether the episode ended, and what happened.
        """
        if self.timestep >= self.config.episode_length:
            raise RuntimeError("the episode has ended; call reset() first")
        actions = self._check_actions(actions)
        turn_order = self._turn_order(turn_order)
        self.timestep += 1
        built = self._build(actions)
        trades = self._trade(actions)
        moved, gathered = self._move_and_gather(actions, turn_order)
        tax_paid, lump_sum = self._taxes(planner_actions)
        self._regrow()

        utility, welfare = self._objectives()
        rewards = utility - self.utility
        planner_reward = welfare - self.welfare
        self.utility, self.welfare = utility, welfare
        if self.config.labor_warmup > 0:
            self._positive_reward_steps += (rewards.mean(-1) > 0).to(self.dtype)
        done = self.timestep >= self.config.episode_length
        if done:
            self.completions += 1
        events = StepEvents(built, trades, moved, gathered, tax_paid, lump_sum)
        return StepResult(rewards, planner_reward, done, events)

    def _check_actions(self, actions: torch.Tensor) -> torch.Tensor:
        actions = torch.as_tensor(actions, device=self.device)
        if actions.shape != (self.batch, N_AGENTS):
            raise ValueError(f"actions must have shape ({self.batch}, {N_AGENTS}), got {tuple(actions.shape)}")
        if actions.dtype.is_floating_point or actions.dtype == torch.bool:
            raise ValueError(f"actions must be integers, got dtype {actions.dtype}")
        low, high = torch.aminmax(actions)
        if int(low) < 0 or int(high) >= N_AGENT_ACTIONS:
            raise ValueError(f"agent actions must lie in 0..{N_AGENT_ACTIONS - 1}")
        return actions.long()

    def _turn_order(self, turn_order: torch.Tensor | None) -> torch.Tensor:
        if turn_order is None:
            return torch.rand(
                self.batch, N_AGENTS, dtype=torch.float64, generator=self.generator, device=self.device
            ).argsort(-1)
        turn_order = torch.as_tensor(turn_order, device=self.device).long()
        if turn_order.shape != (self.batch, N_AGENTS) or not bool((turn_order.sort(-1).values == self._agents).all()):
            raise ValueError(f"turn_order must be a ({self.batch}, {N_AGENTS}) tensor of permutations of 0..3")
        return turn_order

    def can_build(self) -> torch.Tensor:
        """``(B, A)`` bool: the agent holds a wood and a stone and stands on a tile with no resource,
        source, water or house."""
        b = torch.arange(self.batch, device=self.device).repeat_interleave(N_AGENTS)
        a = self._agents.repeat(self.batch)
        return self._can_build_at(b, a).view(self.batch, N_AGENTS)

    def _can_build_at(self, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """:meth:`can_build` for the agents ``(b[k], a[k])`` only."""
        cell = self.cell[b, a]
        return (
            (self.holdings.goods[b, a] >= 1).all(-1)
            & self._landmark_free[cell]
            & (self.house_owner[b, cell] < 0)
            & (self.resources[b, :, cell] == 0).all(-1)
        )

    def _build(self, actions: torch.Tensor) -> torch.Tensor:
        b, a = (actions == BUILD).nonzero(as_tuple=True)  # only the few agents that try to build
        ok = self._can_build_at(b, a)
        b, a = b[ok], a[ok]
        cell = self.cell[b, a]
        self.holdings.goods[b, a] -= 1
        self.house_owner[b, cell] = a.to(torch.int8)
        self.holdings.coin[b, a] += self.build_payment[b, a]
        self.holdings.labor[b, a] += self.config.build_labor
        self.n_builds[b, a] += 1
        built = torch.zeros(self.batch, N_AGENTS, dtype=torch.bool, device=self.device)
        built[b, a] = True
        return built

    def _trade(self, actions: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        levels = cfg.max_price + 1
        k = actions - FIRST_TRADE
        is_trade = (actions >= FIRST_TRADE) & (actions <= LAST_TRADE)
        head = k // levels  # 0 buy stone, 1 sell stone, 2 buy wood, 3 sell wood
        price = torch.where(is_trade, k % levels, -1)
        self.book.price_history *= 0.995
        new_orders = self.book.place(head // 2, head % 2 == 0, price, self.holdings, cfg.order_labor)
        trades = self.book.match(self.holdings, new_orders)
        self.book.expire(self.holdings)
        self.n_trades += trades.sum(-1)
        return trades

    def move_targets(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, A, 4)`` flat target tile of each move (left, right, up, down) and whether it is on the map
        and open to that agent (no water, no house of another agent); other agents are not counted."""
        target, land = self._neighbour[self.cell], self._neighbour_land[self.cell]
        owner = torch.gather(self.house_owner, 1, target.view(self.batch, -1)).view_as(target)
        open_ = land & ((owner < 0) | (owner == self._agents.unsqueeze(-1)))
        return target, open_

    def _move_and_gather(self, actions: torch.Tensor, turn_order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        direction = (actions - FIRST_MOVE).clamp(min=0)
        wants = actions >= FIRST_MOVE
        targets, open_ = self.move_targets()
        target = torch.gather(targets, 2, direction.unsqueeze(-1)).squeeze(-1)
        allowed = wants & torch.gather(open_, 2, direction.unsqueeze(-1)).squeeze(-1)
        target = torch.where(wants, target, -1)
        # Agents move one after another in turn order; a move fails onto a tile taken at that moment. That can
        # only happen where a target is another agent's tile or target; elsewhere every allowed move succeeds.
        start = self.cell
        moved = allowed
        other = ~torch.eye(N_AGENTS, dtype=torch.bool, device=self.device)
        clash = (target.unsqueeze(-1) == start.unsqueeze(-2)) | ((target.unsqueeze(-1) == target.unsqueeze(-2)) & other)
        contested = (clash & allowed.unsqueeze(-1)).flatten(1).any(-1).nonzero().squeeze(-1)
        if contested.numel() > 0:
            moved = moved.clone()
            moved[contested] = self._resolve_turns(
                allowed[contested], target[contested], start[contested], turn_order[contested]
            )
        self.cell = torch.where(moved, target, start)
        self.holdings.labor.add_(moved, alpha=self.config.move_labor)
        # Gather whatever lies on the tile the agent ends on (even if it did not move).
        index = self.cell.unsqueeze(1).expand(-1, N_RESOURCES, -1)  # (B, R, A)
        present = torch.gather(self.resources, 2, index) >= 1
        bonus = torch.rand(
            present.shape, dtype=torch.float64, generator=self.generator, device=self.device
        ) < self.bonus_prob.unsqueeze(1)
        gathered = (present.long() * (1 + bonus.long())).transpose(1, 2)  # (B, A, R)
        self.holdings.goods += gathered
        self.resources.scatter_(2, index, 0)  # the tiles the agents stand on are empty now (at most 1 unit each)
        self.holdings.labor.add_(present.sum(1), alpha=self.config.collect_labor)
        return moved, gathered

    @staticmethod
    def _resolve_turns(
        allowed: torch.Tensor, target: torch.Tensor, start: torch.Tensor, turn_order: torch.Tensor
    ) -> torch.Tensor:
        """Which allowed moves succeed when agents move one at a time in ``turn_order`` (all ``(n, A)``).

        Resolved in parallel: after round k the first k movers are settled (only earlier movers matter).
        """
        turn = turn_order.argsort(-1)  # turn[b, i]: when agent i moves
        before = turn.unsqueeze(-1) > turn.unsqueeze(-2)  # before[b, i, j]: j moves before i
        after = turn.unsqueeze(-1) < turn.unsqueeze(-2)
        blocked_by_waiting = (after & (start.unsqueeze(-2) == target.unsqueeze(-1))).any(-1)
        moved = allowed & ~blocked_by_waiting
        for _ in range(N_AGENTS):
            now = torch.where(moved, target, start)
            taken = (before & (now.unsqueeze(-2) == target.unsqueeze(-1))).any(-1) | blocked_by_waiting
            settled, moved = moved, allowed & ~taken
            if torch.equal(settled, moved):  # a fixed point: nothing later can change
                break
        return moved

    def _schedule_rates(self, reset: bool = False) -> torch.Tensor:
        """Bracket rates of the non-planner tax models (and the planner's current choice)."""
        cfg, b = self.config, self.batch
        limit = self.rate_limit()
        if cfg.tax_model == "none":
            return torch.zeros(b, taxes.N_BRACKETS, dtype=self.dtype, device=self.device)
        if cfg.tax_model == "planner":
            return self._planner_rates[self.rate_choice]
        if cfg.tax_model == "us_federal":
            return taxes.US_FEDERAL_2018_RATES.to(self.device, self.dtype).clamp(max=limit).expand(b, -1).clone()
        if cfg.tax_model == "fixed":
            return (
                torch.tensor(cfg.fixed_rates, dtype=self.dtype, device=self.device)
                .clamp(max=limit)
                .expand(b, -1)
                .clone()
            )
        if reset:
            return self.saez.running_rates.clamp(max=limit)
        return self.saez.new_rates(0.0, limit, cfg.saez_fixed_elasticity, self.generator, self.brackets)

    def _set_planner_rates(self, planner_actions: torch.Tensor | None) -> None:
        if planner_actions is None:
            raise ValueError("tax_model='planner' needs planner_actions on the first step of each tax period")
        choice = torch.as_tensor(planner_actions, device=self.device)
        if choice.shape != (self.batch, taxes.N_BRACKETS) or choice.dtype.is_floating_point:
            raise ValueError(f"planner_actions must be an integer tensor of shape ({self.batch}, {taxes.N_BRACKETS})")
        if bool((choice < 0).any()) or bool((choice >= taxes.N_PLANNER_CHOICES).any()):
            raise ValueError(f"planner actions must lie in 0..{taxes.N_PLANNER_CHOICES - 1}")
        new_rate = self._planner_rates[(choice - 1).clamp(min=0)]
        if bool(((choice > 0) & (new_rate > self.rate_limit())).any()):
            raise ValueError(f"a planner action sets a rate above the annealed limit {self.rate_limit():.3f}")
        self.rate_choice = torch.where(choice > 0, choice - 1, self.rate_choice)

    def _taxes(self, planner_actions: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        tax_paid = torch.zeros(self.batch, N_AGENTS, dtype=self.dtype, device=self.device)
        lump_sum = torch.zeros(self.batch, dtype=self.dtype, device=self.device)
        if self.tax_phase == 1:  # with tax_model="none" the periods still run, at zero rates
            if cfg.tax_model == "planner":
                self._set_planner_rates(planner_actions)
            self.rates = self._schedule_rates()
        if self.tax_phase >= cfg.tax_period:
            coin_total = self.coin_total()
            income = coin_total - self.last_coin
            due = taxes.taxes_due(income, self.rates, self.brackets)
            tax_paid = torch.minimum(self.holdings.coin, due)  # escrowed coin is not taxed away
            rate = taxes.marginal_rate(income, self.rates, self.brackets)
            self.holdings.coin -= tax_paid
            lump_sum = tax_paid.sum(-1) / N_AGENTS
            self.holdings.coin += lump_sum.unsqueeze(-1)
            self.taxes_collected += tax_paid.sum(-1)
            self.last_coin = self.coin_total()
            self.last_income, self.last_marginal_rate = income, rate
            self.periods_by_bracket.scatter_add_(
                1, taxes.bracket_index(income, self.brackets), torch.ones_like(income, dtype=torch.long)
            )
            if cfg.tax_model == "saez":
                self.saez.add(income, rate)
            self.tax_phase = 0
        self.tax_phase += 1
        return tax_paid, lump_sum

    def _regrow(self) -> None:
        p = self.config.regen_prob
        if p <= 0:
            return
        # One draw per source tile (other tiles never grow); a grown unit on a full tile changes nothing.
        draw = torch.rand(
            self.batch, self._source_index.numel(), dtype=torch.float32, generator=self.generator, device=self.device
        )
        flat = self.resources.view(self.batch, -1)
        flat[:, self._source_index] |= (draw < p).to(torch.int8)

    def memory(self) -> dict:
        """What the economy carries from one episode to the next (tensors and numbers, for a checkpoint):
        completed episodes, the labor warm-up's count, the Saez model's buffer and estimates, and the
        random generator. Saved at an episode's end and restored with :meth:`load_memory`, a run continues
        as if it had not stopped."""
        return {
            "completions": self.completions,
            "positive_reward_steps": self._positive_reward_steps,
            "saez": vars(self.saez),
            "generator": self.generator.get_state(),
        }

    def load_memory(self, memory: dict) -> None:
        """Restore what :meth:`memory` returned (then call :meth:`reset` to start the next episode), onto this
        economy's device and into its dtype, whatever those of the economy that saved it."""

        def here(tensor: torch.Tensor) -> torch.Tensor:
            dtype = self.dtype if tensor.is_floating_point() else tensor.dtype
            return tensor.to(device=self.device, dtype=dtype, copy=True)

        self.completions = int(memory["completions"])
        self._positive_reward_steps = here(memory["positive_reward_steps"])
        self.saez = taxes.SaezState(**{name: here(value) for name, value in memory["saez"].items()})
        self.generator.set_state(memory["generator"])

    # --- summaries ----------------------------------------------------------------------------------

    def summary(self) -> EpisodeSummary:
        """The episode's statistics so far (at ``done``, the whole episode's)."""
        coin = self.coin_total()
        return EpisodeSummary(
            productivity=productivity(coin),
            equality=equality(coin),
            social_welfare=social_welfare(coin),
            coin=coin,
            labor=self.holdings.labor.clone(),
            utility=self.utility.clone(),
            goods=self.holdings.goods + self.holdings.goods_escrow,
            builds=self.n_builds.clone(),
            trades=self.n_trades.clone(),
            taxes_collected=self.taxes_collected.clone(),
            periods_by_bracket=self.periods_by_bracket.clone(),
        )

    def n_houses(self) -> torch.Tensor:
        """``(B,)`` houses on the map."""
        return (self.house_owner >= 0).sum(-1)
