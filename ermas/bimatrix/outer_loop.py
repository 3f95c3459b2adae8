"""ERMAS's outer loop (paper Algorithm 1): a planner that learns against adversarial agents.

Every iteration the agents take one step of Agent-Adv-Search (or of plain independent learning, for
the baselines) in the augmented game set by the planner's current policy, then the planner takes one
policy-gradient step on the batch the agents just played:

    for each iteration:
        theta <- Agent-Adv-Search step(epsilon) against pi_r              (Alg. 1, line 3)
        pi_r  <- pi_r + lr * grad J_r(pi_r, pi_theta)                      (Alg. 1, line 4)

The planner picks its choice once per episode and neither side observes the other's choice, so the
planner's gradient is exact given the batch: ``grad J_r = sum_c grad pi_r(c) * mean_e u(v_{e,c})``,
where ``v_{e,c}`` is episode ``e``'s per-step planner reward had it chosen ``c`` (see
:meth:`ermas.bimatrix.augmented.AugmentedGame.choice_values`) and ``u`` is the identity, or a concave
utility for the risk-robust baseline. The same loop with the planner frozen trains test agents.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch

from ermas.bimatrix.agent_adv_search import (
    SearchConfig,
    SearchState,
    initial_state,
    recorded_search_step,
    search_fingerprint,
)
from ermas.bimatrix.augmented import AugmentedGame
from ermas.checkpoint import load_checkpoint, run_resumable
from ermas.method import RunSettings, RunSpec
from ermas.optim import adam_update


@dataclass(frozen=True)
class PlannerRun:
    """One run of the outer loop.

    Attributes:
        agents: how the agents learn (an ERMAS :class:`~ermas.method.RunSpec`, or :func:`ermas.method.marl_run` for the
            baselines).
        q: the agents' weight on the planner's reward, ``r_i - q r~``.
        dr_scale: domain randomisation: every agent's reward at every cell is shifted by an independent
            draw from ``U[-dr_scale, dr_scale]``, redrawn every episode (0: off).
        risk_aversion: risk robustness: the planner maximises ``E[(1 - exp(-eta X)) / eta]`` of its
            per-step episode reward ``X`` (``eta`` = this value; 0: risk neutral).
        planner_learns: ``False`` freezes the planner (evaluation).
    """

    agents: RunSpec
    q: float = 0.0
    dr_scale: float = 0.0
    risk_aversion: float = 0.0
    planner_learns: bool = True

    def __post_init__(self) -> None:
        for name in ("q", "dr_scale", "risk_aversion"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")


@dataclass(frozen=True)
class OuterConfig:
    search: SearchConfig
    planner_lr: float = 0.05


@dataclass
class OuterState:
    """Everything needed to continue the outer loop: the planners ``(B, C)`` with their Adam moments, the
    agents' search state, and the planner's exact per-step reward ``(B,)`` per iteration so far."""

    planner_logits: torch.Tensor
    adam_m: torch.Tensor
    adam_v: torch.Tensor
    search: SearchState
    planner_reward: list[torch.Tensor] = field(default_factory=list)

    @property
    def iteration(self) -> int:
        return self.search.iteration

    def final_planner_reward(self, last_iters: int) -> torch.Tensor:
        """``(B,)`` exact per-step planner reward averaged over the last iterations."""
        return torch.stack(self.planner_reward[-last_iters:]).mean(0)

    def to_dict(self) -> dict:
        return {
            "planner_logits": self.planner_logits,
            "adam_m": self.adam_m,
            "adam_v": self.adam_v,
            "search": self.search.to_dict(),
            "planner_reward": list(self.planner_reward),
        }

    @classmethod
    def from_dict(cls, saved: dict) -> OuterState:
        search = SearchState.from_dict(saved["search"])
        return cls(saved["planner_logits"], saved["adam_m"], saved["adam_v"], search, saved["planner_reward"])


@dataclass(frozen=True)
class _PlannerSettings:
    """Per-run planner settings as ``(B,)`` tensors."""

    q: torch.Tensor
    dr_scale: torch.Tensor
    eta: torch.Tensor
    learns: torch.Tensor

    @classmethod
    def build(cls, runs: Sequence[PlannerRun], dtype: torch.dtype) -> _PlannerSettings:
        return cls(
            torch.tensor([r.q for r in runs], dtype=dtype),
            torch.tensor([r.dr_scale for r in runs], dtype=dtype),
            torch.tensor([r.risk_aversion for r in runs], dtype=dtype),
            torch.tensor([r.planner_learns for r in runs]),
        )


def outer_loop(
    game: AugmentedGame,
    runs: Sequence[PlannerRun],
    config: OuterConfig,
    planner_logits: torch.Tensor | None = None,
    progress: bool = False,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 100,
) -> OuterState:
    """Run Algorithm 1 for every run in one batch; ``planner_logits (B, C)`` start the planners (zeros).

    With ``checkpoint`` set, the state is written there atomically every ``checkpoint_every`` iterations,
    at the end and on Ctrl-C, and a later call with the same arguments resumes from it.
    """
    if not runs:
        raise ValueError("runs must not be empty")
    base = game.base
    agent_runs = [r.agents for r in runs]
    n_runs = len(runs)
    dtype = base.payoffs.dtype
    if planner_logits is None:
        planner_logits = torch.zeros(n_runs, game.n_choices, dtype=dtype)
    if planner_logits.shape != (n_runs, game.n_choices):
        raise ValueError(
            f"planner_logits must have shape {(n_runs, game.n_choices)}; got {tuple(planner_logits.shape)}"
        )
    planner_logits = planner_logits.clone().to(dtype)
    fingerprint = {
        "search": search_fingerprint(base, agent_runs, config.search),
        "planner_runs": [asdict(r) for r in runs],
        "planner_lr": config.planner_lr,
        "game": [game.variant, game.a_max, game.scale],
        "planner_logits": planner_logits.tolist(),
    }
    saved = load_checkpoint(checkpoint, fingerprint)
    if saved is None:
        zeros = torch.zeros_like(planner_logits)
        state = OuterState(planner_logits, zeros, zeros.clone(), initial_state(base, agent_runs, config.search))
    else:
        state = OuterState.from_dict(saved)
    agents = RunSettings.build(agent_runs, dtype, base.n_agents, config.search.lambda_max)
    planners = _PlannerSettings.build(runs, dtype)
    run_resumable(
        state,
        lambda: outer_step(game, config, agents, planners, state),
        config.search.n_iters,
        checkpoint,
        fingerprint,
        checkpoint_every,
        progress,
        "Outer loop",
    )
    return state


def outer_step(
    game: AugmentedGame, config: OuterConfig, agents: RunSettings, planners: _PlannerSettings, state: OuterState
) -> None:
    """One iteration of Algorithm 1 for every run: the agents' step, then the planner's."""
    base = game.base
    it = state.iteration
    probs = torch.softmax(state.planner_logits, -1)
    tables = game.reward_tables(probs, planners.q)  # (B, S, 3)
    payoffs = randomise_agent_rewards(tables, planners.dr_scale, state.search.generators, config.search.n_episodes)
    batch = recorded_search_step(base, config.search, agents, state.search, payoffs)

    # the planner's step: exact expectation over its own choice, batch average over episodes
    eta = planners.eta[:, None, None]
    episode_base = base.state_payoffs[:, 0][batch.arrivals].mean(-1)  # (B, E) per-step base payoff
    values = game.choice_values(episode_base)  # (B, E, C)
    utility = torch.where(eta > 0, (1 - torch.exp(-eta * values)) / eta.clamp_min(1e-12), values).mean(1)  # (B, C)
    grad = probs * (utility - (probs * utility).sum(-1, keepdim=True))
    delta, adam_m, adam_v = adam_update(state.adam_m, state.adam_v, it, grad, config.planner_lr)
    planner_logits = torch.where(planners.learns[:, None], state.planner_logits + delta, state.planner_logits)
    if not torch.isfinite(planner_logits).all():
        bad = (~torch.isfinite(planner_logits).all(1)).nonzero().flatten().tolist()
        raise FloatingPointError(f"outer loop diverged at iteration {it}: planner logits of run(s) {bad}")
    state.planner_logits, state.adam_m, state.adam_v = planner_logits, adam_m, adam_v
    state.planner_reward.append(state.search.history.exact[-1][:, 0])


def randomise_agent_rewards(
    tables: torch.Tensor, dr_scale: torch.Tensor, generators: list[torch.Generator], n_episodes: int
) -> torch.Tensor:
    """Per-episode tables ``(B, E, S, 3)`` with the agents' rewards shifted by ``U[-s, s]`` per cell, or
    the tables unchanged when no run randomises."""
    if not bool((dr_scale > 0).any()):
        return tables
    n_states = tables.shape[1]
    uniforms = [torch.rand((n_episodes, n_states, 2), generator=g, dtype=tables.dtype) for g in generators]
    noise = 2 * torch.stack(uniforms) - 1
    shifted = tables[:, None].expand(-1, n_episodes, -1, -1).clone()
    shifted[..., 1:] += dr_scale[:, None, None, None] * noise
    return shifted
