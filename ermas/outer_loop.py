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
:meth:`ermas.games.augmented.AugmentedGame.choice_values`) and ``u`` is the identity, or a concave
utility for the risk-robust baseline. The same loop with the planner frozen trains test agents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from ermas.agent_adv_search import RunSpec, RunTensors, SearchConfig, SearchState, initial_state, search_iteration
from ermas.games.augmented import AugmentedGame
from ermas.games.bimatrix import N_AGENTS
from ermas.optim import adam_update


@dataclass(frozen=True)
class PlannerRun:
    """One run of the outer loop.

    Attributes:
        agents: how the agents learn (an ERMAS :class:`RunSpec`, or :func:`marl_run` for the baselines).
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
class OuterResult:
    """Final planner policies ``(B, C)``, the agents' search state, and the planner's reward per iteration."""

    planner_logits: torch.Tensor
    search: SearchState
    planner_reward: list[torch.Tensor] = field(default_factory=list)  # exact per-step, (B,) per iteration

    def final_planner_reward(self, last_iters: int) -> torch.Tensor:
        """``(B,)`` exact per-step planner reward averaged over the last iterations."""
        return torch.stack(self.planner_reward[-last_iters:]).mean(0)


def outer_loop(
    game: AugmentedGame,
    runs: Sequence[PlannerRun],
    config: OuterConfig,
    planner_logits: torch.Tensor | None = None,
    progress: bool = False,
) -> OuterResult:
    """Run Algorithm 1 for every run in one batch; ``planner_logits (B, C)`` start the planners (zeros)."""
    if not runs:
        raise ValueError("runs must not be empty")
    base = game.base
    search = initial_state(base, [r.agents for r in runs], config.search)
    settings = RunTensors.build([r.agents for r in runs], search.logits.dtype, N_AGENTS, config.search.lambda_max)
    n_runs = len(runs)
    if planner_logits is None:
        planner_logits = torch.zeros(n_runs, game.n_choices, dtype=search.logits.dtype)
    if planner_logits.shape != (n_runs, game.n_choices):
        raise ValueError(
            f"planner_logits must have shape {(n_runs, game.n_choices)}; got {tuple(planner_logits.shape)}"
        )
    planner_logits = planner_logits.clone().to(search.logits.dtype)
    q = torch.tensor([r.q for r in runs], dtype=planner_logits.dtype)
    dr_scale = torch.tensor([r.dr_scale for r in runs], dtype=planner_logits.dtype)
    eta = torch.tensor([r.risk_aversion for r in runs], dtype=planner_logits.dtype)
    learns = torch.tensor([r.planner_learns for r in runs])
    m, v = torch.zeros_like(planner_logits), torch.zeros_like(planner_logits)
    result = OuterResult(planner_logits, search)
    for it in tqdm(range(config.search.n_iters), disable=not progress, desc="Outer loop"):
        probs = torch.softmax(planner_logits, -1)
        tables = game.reward_tables(probs, q)  # (B, S, 3)
        payoffs = randomise_agent_rewards(tables, dr_scale, search.generators, config.search.n_episodes)
        batch = search_iteration(base, config.search, settings, search, payoffs)
        search.iteration += 1
        result.planner_reward.append(search.history.exact[-1][:, 0])

        # the planner's step: exact expectation over its own choice, batch average over episodes
        episode_base = base.state_payoffs[:, 0][batch.arrivals].mean(-1)  # (B, E) per-step base payoff
        values = game.choice_values(episode_base)  # (B, E, C)
        utility = torch.where(
            eta[:, None, None] > 0,
            (1 - torch.exp(-eta[:, None, None] * values)) / eta.clamp_min(1e-12)[:, None, None],
            values,
        ).mean(1)  # (B, C)
        grad = probs * (utility - (probs * utility).sum(-1, keepdim=True))
        delta, m, v = adam_update(m, v, it, grad, config.planner_lr)
        planner_logits = torch.where(learns[:, None], planner_logits + delta, planner_logits)
        if not torch.isfinite(planner_logits).all():
            bad = (~torch.isfinite(planner_logits).all(1)).nonzero().flatten().tolist()
            raise FloatingPointError(f"outer loop diverged at iteration {it}: planner logits of run(s) {bad}")
        result.planner_logits = planner_logits
    return result


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
