"""The repeated bimatrix game of the paper's section 5.1, vectorised over a batch of games.

Two agents walk on an ``n x n`` grid (the paper uses 4 x 4). Agent 1 moves the row, agent 2 the
column; each picks STAY / UP / DOWN, which changes its coordinate by 0 / +1 / -1, clipped to the
grid. After both move, every player (agent 1, agent 2 and the passive planner) is paid by the cell
the pair lands on. Episodes start in a uniformly random cell and last ``horizon`` steps.

States are flattened cells ``s = row * n + col``. Everything here is a lookup table, so a step of a
whole batch of games is two gathers.

Player order in every reward tensor: ``0`` = planner, ``1`` = agent 1 (rows), ``2`` = agent 2 (cols).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

STAY, UP, DOWN = 0, 1, 2
MOVES = (0, +1, -1)  # coordinate change for STAY, UP, DOWN
N_ACTIONS = 3
N_AGENTS = 2
PLANNER = 0


@dataclass(frozen=True)
class BimatrixGame:
    """A repeated bimatrix game on an ``n x n`` grid.

    Attributes:
        payoffs: ``(3, n, n)`` float64 tensor, rewards of (planner, agent 1, agent 2) per cell.
        horizon: number of steps per episode (each step pays every player once).
    """

    payoffs: torch.Tensor
    horizon: int

    def __post_init__(self) -> None:
        p = self.payoffs
        if p.ndim != 3 or p.shape[0] != 3 or p.shape[1] != p.shape[2]:
            raise ValueError(f"payoffs must have shape (3, n, n); got {tuple(p.shape)}")
        if not torch.isfinite(p).all():
            raise ValueError("payoffs contain NaN or inf")
        if not isinstance(self.horizon, int) or self.horizon < 1:
            raise ValueError(f"horizon must be a positive integer; got {self.horizon!r}")

    @property
    def size(self) -> int:
        """Grid side length ``n``."""
        return self.payoffs.shape[1]

    @property
    def n_states(self) -> int:
        return self.size**2

    @property
    def n_agents(self) -> int:
        return N_AGENTS

    @property
    def n_actions(self) -> int:
        """The number of actions of each agent (stay, up, down)."""
        return N_ACTIONS

    @cached_property
    def state_payoffs(self) -> torch.Tensor:
        """``(S, 3)`` rewards of (planner, agent 1, agent 2) for landing in each flattened cell."""
        return self.payoffs.reshape(3, -1).T.contiguous()

    @cached_property
    def next_state(self) -> torch.Tensor:
        """``(S, A, A)`` long tensor: the cell reached from ``s`` when agents play ``(a1, a2)``."""
        return _transition_table(self.size)

    @cached_property
    def _flat_next_state(self) -> torch.Tensor:
        return self.next_state.reshape(-1).contiguous()

    def step(
        self,
        states: torch.Tensor,
        actions: torch.Tensor,
        validate: bool = True,
        payoffs: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Advance a batch of games by one step.

        Args:
            states: long tensor of any shape ``X`` with flattened cells.
            actions: long tensor of shape ``X + (2,)`` with each agent's action in ``{0, 1, 2}``.
            validate: check shapes and ranges first (rollouts of sampled actions skip it).
            payoffs: optional per-game reward tables replacing the game's own, ``(B, S, 3)`` for states
                of shape ``(B, ...)``, or ``(B, E, S, 3)`` for states of shape ``(B, E)`` (one table per
                episode, as domain randomisation needs).

        Returns:
            ``(next_states, rewards)`` with shapes ``X`` and ``X + (3,)`` (planner, agent 1, agent 2).
        """
        if validate:
            if actions.shape != states.shape + (N_AGENTS,):
                raise ValueError(f"actions must have shape {tuple(states.shape) + (2,)}; got {tuple(actions.shape)}")
            if actions.numel() and (actions.min() < 0 or actions.max() >= N_ACTIONS):
                raise ValueError(f"actions must lie in 0..{N_ACTIONS - 1} (stay, up, down)")
            if states.numel() and (states.min() < 0 or states.max() >= self.n_states):
                raise ValueError(f"states must lie in 0..{self.n_states - 1}")
        # one flat lookup: index_select on 1-D tables is the fastest gather on the CPU
        flat_index = (states * N_ACTIONS + actions[..., 0]) * N_ACTIONS + actions[..., 1]
        next_states = self._flat_next_state.index_select(0, flat_index.reshape(-1)).view_as(states)
        if payoffs is None:
            rewards = self.state_payoffs.index_select(0, next_states.reshape(-1)).view(*states.shape, 3)
        elif payoffs.ndim == 3:
            flat = next_states.reshape(states.shape[0], -1, 1).expand(-1, -1, 3)
            rewards = torch.gather(payoffs, 1, flat).view(*states.shape, 3)
        else:
            rewards = torch.gather(payoffs, 2, next_states[..., None, None].expand(-1, -1, 1, 3))[:, :, 0]
        return next_states, rewards


def _transition_table(n: int) -> torch.Tensor:
    moves = torch.tensor(MOVES)
    rows = torch.arange(n).repeat_interleave(n)  # (S,)
    cols = torch.arange(n).repeat(n)
    new_rows = (rows[:, None] + moves[None, :]).clamp(0, n - 1)  # (S, A)
    new_cols = (cols[:, None] + moves[None, :]).clamp(0, n - 1)
    return new_rows[:, :, None] * n + new_cols[:, None, :]  # (S, A1, A2)
