"""Tabular softmax policies for Markov games with few states, and everything learned from rollouts.

Shapes used throughout (``B`` runs in a batch, ``N`` agents, ``S`` states, ``A`` actions per agent,
``E`` episodes per batch, ``H`` steps per episode, ``K = N + 1`` players, the planner first):

- ``logits``: ``(B, N, S, A)``, one softmax policy per agent and run.
- :class:`Rollouts`: ``states (B, E, H)``, ``actions (B, E, H, N)``, ``rewards (B, E, H, K)``.

Returns are per-step averages ``J_k = E[sum_t r_{k,t}] / H``, so every reward, regret and epsilon in
this package is in the same units as one step's payoff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ermas.bimatrix.game import BimatrixGame


@dataclass(frozen=True)
class RolloutNoise:
    """The randomness of one batch of episodes: ``starts (B, E)`` cells, ``uniforms (B, E, H, N)``.

    Rollouts of different policies that share one noise draw are coupled (common random numbers):
    where two policies agree, so do their sampled actions.
    """

    starts: torch.Tensor
    uniforms: torch.Tensor

    def repeat(self, times: int) -> RolloutNoise:
        """Stack ``times`` copies along the run dimension (for deviation searches)."""
        return RolloutNoise(self.starts.repeat(times, 1), self.uniforms.repeat(times, 1, 1, 1))


def sample_noise(
    generators: list[torch.Generator],
    n_episodes: int,
    horizon: int,
    n_states: int,
    n_agents: int,
    dtype: torch.dtype = torch.float64,
) -> RolloutNoise:
    """Draw each run's noise from its own generator, so a run does not depend on its batch-mates.

    The uniforms that pick actions are drawn in ``dtype`` (that of the policies' probabilities).
    """
    starts = [torch.randint(n_states, (n_episodes,), generator=g) for g in generators]
    uniforms = [torch.rand((n_episodes, horizon, n_agents), generator=g, dtype=dtype) for g in generators]
    return RolloutNoise(torch.stack(starts), torch.stack(uniforms))


@dataclass(frozen=True)
class Rollouts:
    """A batch of sampled episodes; see the module docstring for shapes.

    ``arrivals (B, E, H)`` are the cells reached by each step, where its rewards are paid.
    """

    states: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    arrivals: torch.Tensor

    def mean_rewards(self) -> torch.Tensor:
        """``(B, K)`` average per-step reward of each player."""
        return self.rewards.mean(dim=(1, 2))

    def state_frequencies(self, n_states: int) -> torch.Tensor:
        """``(B, S)`` fraction of decisions taken in each state."""
        flat = self.states.reshape(self.states.shape[0], -1)
        counts = torch.zeros(flat.shape[0], n_states, dtype=self.rewards.dtype)
        counts.scatter_add_(1, flat, torch.ones_like(flat, dtype=counts.dtype))
        return counts / flat.shape[1]


def rollout(
    game: BimatrixGame, logits: torch.Tensor, noise: RolloutNoise, payoffs: torch.Tensor | None = None
) -> Rollouts:
    """Play ``E`` episodes of ``game`` for each of ``B`` runs, all in one batch.

    Actions are drawn by inverse-CDF from ``noise.uniforms``, so the same noise and policies always
    give the same episodes. ``payoffs`` optionally replaces the game's reward table per run
    (``(B, S, 3)``) or per episode (``(B, E, S, 3)``).
    """
    n_runs, n_agents = logits.shape[:2]
    cdf = torch.softmax(logits, dim=-1).cumsum(dim=-1)  # (B, N, S, A)
    run_index = torch.arange(n_runs)[:, None]
    states = noise.starts
    all_states, all_actions, all_rewards = [], [], []
    for t in range(game.horizon):
        cdf_here = cdf[run_index, :, states]  # (B, E, N, A)
        u = noise.uniforms[:, :, t, :, None]
        actions = (u > cdf_here).sum(dim=-1).clamp(max=cdf.shape[-1] - 1)  # (B, E, N)
        next_states, rewards = game.step(states, actions, validate=False, payoffs=payoffs)
        all_states.append(states)
        all_actions.append(actions)
        all_rewards.append(rewards)
        states = next_states
    stacked = [torch.stack(x, 2) for x in (all_states, all_actions, all_rewards)]
    arrivals = torch.cat([stacked[0][:, :, 1:], states[:, :, None]], dim=2)
    return Rollouts(*stacked, arrivals)


def policy_gradients(rollouts: Rollouts, logits: torch.Tensor) -> torch.Tensor:
    """REINFORCE estimates of ``dJ_k / dlogits_n`` for every player ``k`` and agent ``n``.

    Uses rewards-to-go and a leave-one-out baseline (the mean return-to-go of the batch's other
    episodes at the same step), which keeps the estimate unbiased.

    Returns:
        ``(B, K, N, S, A)`` gradients of the per-step average return.
    """
    n_runs, n_agents, n_states, n_actions = logits.shape
    n_episodes, horizon = rollouts.states.shape[1:]
    if n_episodes < 2:
        raise ValueError("policy gradients need at least 2 episodes per batch (leave-one-out baseline)")
    to_go = rollouts.rewards.flip(2).cumsum(2).flip(2) / horizon  # (B, E, H, K)
    baseline = (to_go.sum(dim=1, keepdim=True) - to_go) / (n_episodes - 1)
    advantages = to_go - baseline
    probs = torch.softmax(logits, dim=-1)
    run_index = torch.arange(n_runs)[:, None, None]
    probs_here = probs[run_index, :, rollouts.states]  # (B, E, H, N, A)
    score = torch.nn.functional.one_hot(rollouts.actions, n_actions).to(probs.dtype) - probs_here
    terms = score[..., None] * advantages[..., None, None, :]  # (B, E, H, N, A, K)
    n_players = advantages.shape[-1]
    width = n_agents * n_actions * n_players
    index = rollouts.states.reshape(n_runs, -1, 1).expand(-1, -1, width)
    summed = torch.zeros(n_runs, n_states, width, dtype=probs.dtype)
    summed.scatter_add_(1, index, terms.reshape(n_runs, -1, width))
    summed = summed.view(n_runs, n_states, n_agents, n_actions, n_players)
    return summed.permute(0, 4, 2, 1, 3) / n_episodes


def surrogate_coefficients(rollouts: Rollouts, logits: torch.Tensor, player: torch.Tensor) -> torch.Tensor:
    """Coefficients ``c`` of TRPO's importance-sampled surrogate, for the agent that deviates.

    For run ``b`` whose agent ``n = player[b] - 1`` deviates to ``logits'``, the surrogate is
    ``L(logits') = sum_{s,a} c[b, s, a] * pi'(a | s)``; its gradient at ``logits' = logits`` is the
    policy gradient of ``J_player`` for that agent.

    Args:
        rollouts: a batch sampled with ``logits``.
        logits: ``(B, N, S, A)``.
        player: ``(B,)`` long, the reward index ``k`` (``1..N``) of each run's deviating agent.

    Returns:
        ``(B, S, A)``.
    """
    n_runs, _, n_states, n_actions = logits.shape
    n_episodes, horizon = rollouts.states.shape[1:]
    own = rollouts.rewards[torch.arange(n_runs), :, :, player]  # (B, E, H)
    to_go = own.flip(2).cumsum(2).flip(2) / horizon
    advantages = to_go - (to_go.sum(dim=1, keepdim=True) - to_go) / (n_episodes - 1)
    agent = player - 1
    agent_actions = rollouts.actions[torch.arange(n_runs), :, :, agent]  # (B, E, H)
    probs = torch.softmax(logits[torch.arange(n_runs), agent], dim=-1)  # (B, S, A)
    pi_taken = probs[torch.arange(n_runs)[:, None, None], rollouts.states, agent_actions]
    index = rollouts.states * n_actions + agent_actions
    coef = torch.zeros(n_runs, n_states * n_actions, dtype=probs.dtype)
    coef.scatter_add_(1, index.reshape(n_runs, -1), (advantages / pi_taken).reshape(n_runs, -1))
    return coef.reshape(n_runs, n_states, n_actions) / n_episodes


def surrogate_gradient(coef: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``(B, S, A)`` gradient of ``sum_{s,a} coef[s, a] pi(a | s)`` at ``logits``.

    With the coefficients of :func:`surrogate_coefficients` this is the deviating agent's policy
    gradient, at a fraction of the cost of :func:`policy_gradients`.
    """
    probs = torch.softmax(logits, dim=-1)
    return probs * (coef - (probs * coef).sum(dim=-1, keepdim=True))


def mean_kl(weights: torch.Tensor, logits_old: torch.Tensor, logits_new: torch.Tensor) -> torch.Tensor:
    """State-weighted ``KL(pi_old || pi_new)``: ``sum_s w[s] KL(pi_old(.|s) || pi_new(.|s))``.

    Args:
        weights: ``(..., S)`` non-negative state weights summing to one.
        logits_old, logits_new: ``(..., S, A)``.

    Returns:
        ``(...)``.
    """
    log_old = torch.log_softmax(logits_old, dim=-1)
    log_new = torch.log_softmax(logits_new, dim=-1)
    per_state = (log_old.exp() * (log_old - log_new)).sum(dim=-1)
    return (weights * per_state).sum(dim=-1)


def fisher_vector_product(weights: torch.Tensor, logits: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """Exact product of the Hessian of :func:`mean_kl` (the Fisher matrix) with ``vector``.

    Per state the softmax Fisher is ``diag(pi) - pi pi^T``; it is weighted by the state weights.
    Shapes: ``weights (B, S)``, ``logits`` and ``vector`` ``(B, S, A)``.
    """
    probs = torch.softmax(logits, dim=-1)
    per_state = probs * vector - probs * (probs * vector).sum(dim=-1, keepdim=True)
    return weights[..., None] * per_state


def natural_gradient(weights: torch.Tensor, logits: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Exact ``F^+ g`` for a tabular softmax policy: ``g(s, a) / (w(s) pi(a | s))`` in visited states.

    Valid for policy gradients, whose entries sum to zero in every state: then ``x = g / pi`` solves
    ``(diag(pi) - pi pi^T) x = g``. Unvisited states (``w = 0``) have ``g = 0`` and do not move.
    Shapes as in :func:`fisher_vector_product`.
    """
    scale = weights[..., None] * torch.softmax(logits, dim=-1)
    return torch.where(scale > 0, grad / scale.clamp_min(1e-300), torch.zeros_like(grad))


def deviation_feasibility(
    start: torch.Tensor,
    start_weights: torch.Tensor,
    current: torch.Tensor,
    weights: torch.Tensor,
    rho: float,
    n_inner: int,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The line search's test for a deviation step from ``current`` (flat candidates ``(B, S*A)``).

    A candidate passes when its KL from ``current`` (under ``weights``) is at most ``rho / n_inner`` and
    its KL from the search's ``start`` (under ``start_weights``) at most ``rho``. Leading dimensions
    before ``B`` (several candidates per run) broadcast.
    """

    def feasible(flat: torch.Tensor) -> torch.Tensor:
        candidate = flat.view(*flat.shape[:-1], *current.shape[1:])
        within_step = mean_kl(weights, current, candidate) <= rho / n_inner * (1 + 1e-9)
        within_region = mean_kl(start_weights, start, candidate) <= rho * (1 + 1e-9)
        return within_step & within_region

    return feasible
