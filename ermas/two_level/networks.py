"""The policy networks of the two-level AI Economist: one network shared by the four agents, one planner.

Both follow the AI Economist's architecture (Zheng et al., 2020) without its LSTM, a stated departure
(see the book): the policies see the current observation only.

- :class:`AgentNetwork`: the egocentric view (``(9, w, w)``, see ``ermas.economy.observations.agent_views``)
  through two 3x3 convolutions of stride 2 (16 then 32 channels by default), concatenated with the 135 flat
  features, then two dense layers with LayerNorm; 50 action logits. The value has its own tower of the same shape
  (separate policy and value networks, as in the recipe), or, with ``shared_trunk=True``, a head on the
  policy's tower (the ``laptop`` preset's choice: half the compute). Agent identities in the view
  (house owner and agent position: 0 nobody, 1 the observer, ``j + 2`` agent ``j``) enter one-hot (nobody
  as all zeros): :func:`agent_inputs` encodes views, and :func:`agent_inputs_from_codes` looks the same
  bytes up per tile code (what training uses).
- :class:`PlannerNetwork`: the planner's 107 flat features through two dense layers with LayerNorm; one
  head of 22 logits per tax bracket ("keep" and the 21 rates), and a separate value tower.

Parameters are created in an explicit dtype (float32 by default), whatever torch's default; inputs are
cast to it. Both expose ``evaluate(observations, mask) -> (logits (N, K, A), values (N,))``, the interface of
:func:`ermas.rl.ppo.ppo_update`; the mask is applied by :func:`ermas.rl.ppo.masked_categorical`, so a
masked action is never drawn.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from ermas.economy.config import N_AGENTS
from ermas.economy.env import N_AGENT_ACTIONS
from ermas.economy.observations import N_SPATIAL_CHANNELS, view_decode_table
from ermas.economy.taxes import N_BRACKETS, N_PLANNER_CHOICES

N_IDENTITY_CHANNELS = 2  # house owner and agent position, the last two channels of the view
N_IDENTITIES = N_AGENTS + 2  # nobody, the observer, and each agent j as j + 2
AGENT_FLAT_FEATURES = 135
AGENT_CHANNELS = (16, 32)
"""The agents' two convolutions' output channels in the recipe (and in both presets)."""
PLANNER_FLAT_FEATURES = 107


def _dense(n_in: int, width: int, dtype: torch.dtype) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, width, dtype=dtype),
        nn.LayerNorm(width, dtype=dtype),
        nn.ReLU(),
        nn.Linear(width, width, dtype=dtype),
        nn.LayerNorm(width, dtype=dtype),
        nn.ReLU(),
    )


def agent_inputs(view: torch.Tensor, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """The agent network's inputs from ``N`` agent observations, computed once per step and kept in the PPO
    batch: ``{"spatial": (N, w, w, 17) uint8, "flat": (N, 135) float32}``.

    ``view (N, 9, w, w)`` uint8 (see ``ermas.economy.observations.agent_views``) becomes its 7 plain channels,
    then the house owner one-hot over the five identities it can name (1 the observer, ``j + 2`` agent ``j``;
    0, nobody, is all zeros), then the agent position likewise; channels last: the layout in which CPU
    convolutions with few channels run about twice as fast, and in uint8 a quarter of the memory of floats.
    """
    split = N_SPATIAL_CHANNELS - N_IDENTITY_CHANNELS
    n, _, height, width = view.shape
    pixels = view.permute(0, 2, 3, 1)  # (N, w, w, 9): free where the economy's views are channels-last already
    named = N_IDENTITIES - 1
    spatial = torch.empty(n, height, width, split + N_IDENTITY_CHANNELS * named, dtype=torch.uint8, device=view.device)
    spatial[..., :split] = pixels[..., :split]
    identities, one_hot = pixels[..., split:], spatial[..., split:]
    for k in range(named):  # column k of each identity channel's block: "is identity k + 1", both channels at once
        torch.eq(identities, k + 1, out=one_hot[..., k::named])
    return {"spatial": spatial, "flat": flat.to(torch.float32)}


@lru_cache(maxsize=2)
def _input_table(device: torch.device) -> torch.Tensor:
    """``(codes, 17)`` uint8: :func:`agent_inputs`'s encoding of every tile code's 9 channels, on ``device``."""
    pixels = view_decode_table(torch.device("cpu"))  # (codes, 9): each code a 1x1 view
    no_flat = torch.zeros(len(pixels), 0)  # agent_inputs also converts flat features; the table has none
    spatial = agent_inputs(pixels.view(-1, N_SPATIAL_CHANNELS, 1, 1), no_flat)["spatial"]
    return spatial.view(len(pixels), -1).to(device)


def agent_inputs_from_codes(
    codes: torch.Tensor, flat: torch.Tensor, spatial_out: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """:func:`agent_inputs` of the views that ``codes (N, w, w)`` (see
    ``ermas.economy.observations.agent_view_codes``) decode to, by one table lookup per tile (the same
    bytes, without decoding the views first). ``spatial_out``: an ``(N, w, w, 17)`` uint8 tensor to write the
    spatial input into (a row of the episode's record, which then needs no copy)."""
    table = _input_table(codes.device)
    n, height, width = codes.shape
    if spatial_out is None:
        spatial_out = torch.empty(n, height, width, table.shape[1], dtype=torch.uint8, device=codes.device)
    torch.index_select(table, 0, codes.reshape(-1), out=spatial_out.view(-1, table.shape[1]))
    return {"spatial": spatial_out, "flat": flat.to(torch.float32)}


class _AgentTower(nn.Module):
    """Convolutions over the view, then dense layers over the view's features and the flat features."""

    def __init__(self, view_side: int, width: int, channels: tuple[int, int], dtype: torch.dtype) -> None:
        super().__init__()
        inputs = N_SPATIAL_CHANNELS - N_IDENTITY_CHANNELS + N_IDENTITY_CHANNELS * (N_IDENTITIES - 1)
        first, second = channels
        self.conv = nn.Sequential(
            nn.Conv2d(inputs, first, 3, stride=2, padding=1, dtype=dtype),
            nn.ReLU(),
            nn.Conv2d(first, second, 3, stride=2, padding=1, dtype=dtype),
            nn.ReLU(),
            nn.Flatten(),
        ).to(memory_format=torch.channels_last)
        side = (view_side + 1) // 2
        side = (side + 1) // 2
        self.dense = _dense(second * side * side + AGENT_FLAT_FEATURES, width, dtype)

    def forward(self, spatial: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
        return self.dense(torch.cat([self.conv(spatial), flat], 1))


class AgentNetwork(nn.Module):
    """The agents' shared policy and value (see the module docstring).

    Observations: :func:`agent_inputs` of ``N`` agent-steps; ``mask (N, 1, 50)``. Returns logits
    ``(N, 1, 50)`` and values ``(N,)``. ``width``: the dense layers' units; ``channels``: the two
    convolutions' output channels (the recipe's :data:`AGENT_CHANNELS` unless given).
    """

    def __init__(
        self,
        view_side: int = 11,
        width: int = 128,
        dtype: torch.dtype = torch.float32,
        shared_trunk: bool = False,
        channels: tuple[int, int] = AGENT_CHANNELS,
    ) -> None:
        super().__init__()
        if len(channels) != 2 or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(f"channels must be two positive integers; got {channels!r}")
        self.dtype = dtype
        self.policy_tower = _AgentTower(view_side, width, channels, dtype)
        # shared_trunk: the value head reads the policy's tower (half the compute; CleanRL's Atari PPO does
        # this); otherwise the value has a tower of its own, as in the AI Economist's recipe
        self.value_tower = None if shared_trunk else _AgentTower(view_side, width, channels, dtype)
        self.logits = nn.Linear(width, N_AGENT_ACTIONS, dtype=dtype)
        self.value = nn.Linear(width, 1, dtype=dtype)

    def evaluate(self, observations: dict[str, torch.Tensor], mask: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        # (N, w, w, C) uint8 read as (N, C, w, w): a channels-last float tensor, as the convolutions want it
        spatial = observations["spatial"].to(self.dtype).permute(0, 3, 1, 2)
        flat = observations["flat"].to(self.dtype)
        features = self.policy_tower(spatial, flat)
        value_features = features if self.value_tower is None else self.value_tower(spatial, flat)
        return self.logits(features).unsqueeze(1), self.value(value_features).squeeze(-1)


class PlannerNetwork(nn.Module):
    """The tax planner's policy and value (see the module docstring).

    Observations: ``{"flat": (N, 107) float32}``; ``mask (N, 7, 22)``. Returns logits ``(N, 7, 22)`` and
    values ``(N,)``.
    """

    def __init__(self, width: int = 256, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.dtype = dtype
        self.policy_tower = _dense(PLANNER_FLAT_FEATURES, width, dtype)
        self.value_tower = _dense(PLANNER_FLAT_FEATURES, width, dtype)
        self.logits = nn.Linear(width, N_BRACKETS * N_PLANNER_CHOICES, dtype=dtype)
        self.value = nn.Linear(width, 1, dtype=dtype)

    def evaluate(self, observations: dict[str, torch.Tensor], mask: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        flat = observations["flat"].to(self.dtype)
        logits = self.logits(self.policy_tower(flat)).view(-1, N_BRACKETS, N_PLANNER_CHOICES)
        return logits, self.value(self.value_tower(flat)).squeeze(-1)
