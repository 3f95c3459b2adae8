"""Exact evaluation of tabular policies in the repeated bimatrix game (no sampling).

Everything is differentiable with autograd and batched over runs. It is the oracle for tests and
reports the true regret next to ERMAS's sampled estimate.

- :func:`exact_returns`: every player's per-step average return ``J_k``.
- :func:`best_response_value`: the best any policy of one agent can do against the others
  (backward induction over the horizon; the optimum over all, even time-dependent, policies).
- :func:`regret`: ``best_response_value - J_i`` (the epsilon of the paper's Eq. 6).
- :func:`trust_region_best_response`: the best deviation within ``KL(pi_i || pi_i') <= rho``
  (the paper's Eq. 13-14), found by exact-gradient optimisation of the Lagrangian, and
  :func:`trust_region_regret`, whose gradient follows from the envelope theorem.

Shapes: ``logits (B, N, S, A)``; returns ``(B, K)`` with ``K = N + 1`` players, planner first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ermas.bimatrix.game import BimatrixGame
from ermas.bimatrix.tabular import deviation_feasibility, fisher_vector_product, mean_kl, natural_gradient
from ermas.trpo import trust_region_step

Tensor = torch.Tensor


def joint_transition(game: BimatrixGame, probs: Tensor) -> Tensor:
    """``(B, S, S)`` state-transition matrix when both agents play ``probs (B, 2, S, A)``."""
    joint = probs[:, 0, :, :, None] * probs[:, 1, :, None, :]  # (B, S, A1, A2)
    n_runs, n_states = probs.shape[0], probs.shape[2]
    target = game.next_state.reshape(1, n_states, -1).expand(n_runs, -1, -1)
    out = torch.zeros(n_runs, n_states, n_states, dtype=probs.dtype)
    return out.scatter_add(2, target, joint.reshape(n_runs, n_states, -1))


def state_distributions(game: BimatrixGame, probs: Tensor) -> Tensor:
    """``(B, H + 1, S)`` distribution of the state at steps ``0..H``, starting uniformly."""
    transition = joint_transition(game, probs)
    d = torch.full((probs.shape[0], game.n_states), 1.0 / game.n_states, dtype=probs.dtype)
    out = [d]
    for _ in range(game.horizon):
        d = torch.einsum("bs,bst->bt", d, transition)
        out.append(d)
    return torch.stack(out, dim=1)


def exact_returns(game: BimatrixGame, logits: Tensor, payoffs: Tensor | None = None) -> Tensor:
    """``(B, 3)`` per-step average return of (planner, agent 1, agent 2); rewards are paid on arrival.

    ``payoffs (B, S, 3)`` optionally replaces the game's reward table per run.
    """
    arrivals = state_distributions(game, torch.softmax(logits, dim=-1))[:, 1:].mean(dim=1)  # (B, S)
    if payoffs is None:
        return arrivals @ game.state_payoffs
    return torch.einsum("bs,bsk->bk", arrivals, payoffs)


def visitation(game: BimatrixGame, logits: Tensor) -> Tensor:
    """``(B, S)`` fraction of decisions taken in each state (the exact counterpart of a batch's)."""
    return state_distributions(game, torch.softmax(logits, dim=-1))[:, :-1].mean(dim=1)


def best_response_value(game: BimatrixGame, logits: Tensor, agent: int) -> Tensor:
    """``(B,)`` per-step return of ``agent``'s (0 or 1) best response to the other agent's policy."""
    probs = torch.softmax(logits, dim=-1)
    other = probs[:, 1 - agent]  # (B, S, A)
    reward = game.state_payoffs[:, 1 + agent]  # (S,)
    next_state = game.next_state if agent == 0 else game.next_state.transpose(1, 2)  # (S, own, other)
    value = torch.zeros(probs.shape[0], game.n_states, dtype=probs.dtype)
    for _ in range(game.horizon):
        arrive = reward[next_state] + value[:, next_state]  # (B, S, own, other)
        q = (arrive * other[:, :, None, :]).sum(-1)  # (B, S, own)
        value = q.max(dim=-1).values
    return value.mean(dim=-1) / game.horizon


def regret(game: BimatrixGame, logits: Tensor) -> Tensor:
    """``(B, 2)`` each agent's unrestricted per-step regret (gain of its best unilateral deviation)."""
    returns = exact_returns(game, logits)
    best = torch.stack([best_response_value(game, logits, i) for i in range(game.n_agents)], dim=1)
    return best - returns[:, 1:]


@dataclass(frozen=True)
class TrustRegionBestResponse:
    """The best deviation of one agent inside its trust region, for each run.

    ``value (B,)`` its per-step return, ``logits (B, S, A)`` the deviating policy, ``multiplier (B,)``
    the KL multiplier ``nu`` of the Lagrangian it maximises, ``kl (B,)`` its weighted KL from the
    current policy, ``weights (B, S)`` the state weights of that KL (the current visitation).
    """

    value: Tensor
    logits: Tensor
    multiplier: Tensor
    kl: Tensor
    weights: Tensor


def _with_agent(logits: Tensor, agent: int, own: Tensor) -> Tensor:
    """Broadcast ``logits (B, N, S, A)`` against ``own (B, G, S, A)`` and put ``own`` in slot ``agent``."""
    expanded = logits[:, None].expand(-1, own.shape[1], -1, -1, -1)
    parts = [own if n == agent else expanded[:, :, n] for n in range(logits.shape[1])]
    return torch.stack(parts, dim=2)


def trust_region_best_response(
    game: BimatrixGame,
    logits: Tensor,
    agent: int,
    rho: float,
    steps: int = 150,
    grid: int = 16,
    refinements: int = 1,
) -> TrustRegionBestResponse:
    """Maximise ``J_agent(pi', pi_-agent)`` subject to ``KL_w(pi_agent || pi') <= rho``.

    For a grid of multipliers ``nu`` (searched in parallel) the Lagrangian ``J - nu * KL`` is
    maximised from the current policy by Adam on exact gradients; the best point that meets the
    bound is kept, then a second, finer grid between the two multipliers that bracket the bound
    sharpens it. ``w`` is the current joint policy's state visitation, held fixed. The returns are
    not concave in the policy, so this is the best deviation reachable from the current policy.
    """
    logits = logits.detach()
    n_runs = logits.shape[0]
    weights = visitation(game, logits)
    own = logits[:, agent]
    log_nu = torch.linspace(-3.0, 5.0, grid, dtype=logits.dtype).expand(n_runs, -1)
    best = _feasible_optimum(game, logits, agent, rho, weights, log_nu, own, steps)
    for _ in range(refinements):
        lower = (best.log_nu - 8.0 / (grid - 1)).clamp_min(-6.0)
        frac = torch.linspace(0.0, 1.0, grid, dtype=logits.dtype)
        log_nu = lower[:, None] + frac[None, :] * (best.log_nu - lower)[:, None]
        refined = _feasible_optimum(game, logits, agent, rho, weights, log_nu, best.logits, steps)
        better = refined.value > best.value
        best = _Candidate(
            torch.where(better, refined.value, best.value),
            torch.where(better[:, None, None], refined.logits, best.logits),
            torch.where(better, refined.log_nu, best.log_nu),
            torch.where(better, refined.kl, best.kl),
        )
    multiplier = torch.where(best.kl > 0, best.log_nu.exp(), torch.zeros_like(best.kl))
    return TrustRegionBestResponse(best.value, best.logits, multiplier, best.kl, weights)


@dataclass(frozen=True)
class _Candidate:
    value: Tensor
    logits: Tensor
    log_nu: Tensor
    kl: Tensor


def _agent_mdp(game: BimatrixGame, logits: Tensor, agent: int) -> Tensor:
    """``(B, S, A, S)``: where ``agent``'s own action leads while the other agent plays its policy."""
    other = torch.softmax(logits[:, 1 - agent], dim=-1)  # (B, S, A_other)
    next_state = game.next_state if agent == 0 else game.next_state.transpose(1, 2)  # (S, own, other)
    onehot = torch.nn.functional.one_hot(next_state, game.n_states).to(other.dtype)  # (S, own, other, S')
    return torch.einsum("bso,saot->bsat", other, onehot)


def _agent_reward(game: BimatrixGame, agent: int, n_runs: int, payoffs: Tensor | None) -> Tensor:
    """``(B, S)`` reward ``agent`` is paid on arriving in each cell (the game's, or ``payoffs (B, S, 3)``)."""
    if payoffs is None:
        return game.state_payoffs[:, 1 + agent].expand(n_runs, -1)
    return payoffs[..., 1 + agent]


@dataclass(frozen=True)
class _DeviationEvaluation:
    value: Tensor  # (B, G) per-step return
    grad: Tensor | None  # (B, G, S, A) its gradient with respect to the deviating logits
    visitation: Tensor  # (B, G, S) fraction of decisions taken in each state


def _evaluate_deviation(
    mdp: Tensor, reward: Tensor, dev_logits: Tensor, horizon: int, with_grad: bool = True
) -> _DeviationEvaluation:
    """Return, its exact gradient and the state visitation of ``dev_logits (B, G, S, A)``, without autograd.

    ``mdp (B, S, A, S)`` is the deviating agent's MDP, ``reward (B, S)`` its reward on arrival. Forward:
    state distributions ``d_t`` from a uniform start. Backward: ``Q_t(s, a) = sum_s' P(s' | s, a) (r(s') +
    V_{t+1}(s'))``. Then ``dJ / dpi(a | s) = sum_t d_t(s) Q_t(s, a) / H`` (policy gradient theorem for a
    stationary policy over a finite horizon), chained through the softmax.
    """
    n_runs, n_group, n_states, n_actions = dev_logits.shape
    rows = n_runs * n_group
    probs = torch.softmax(dev_logits, dim=-1)
    step = torch.einsum("bgsa,bsat->bgst", probs, mdp).reshape(rows, n_states, n_states)
    d = torch.full((rows, 1, n_states), 1.0 / n_states, dtype=probs.dtype)
    dists = []
    for _ in range(horizon):
        dists.append(d)
        d = torch.bmm(d, step)
    arrivals = torch.cat(dists[1:] + [d], 1).mean(1).view(n_runs, n_group, n_states)
    value = (arrivals * reward[:, None]).sum(-1)
    visits = torch.cat(dists, 1).mean(1).view(n_runs, n_group, n_states)
    if not with_grad:
        return _DeviationEvaluation(value, None, visits)
    # Q_t = r_arrive + P V_{t+1}, one batched product per step; the model is shared by a run's G rows
    flat_mdp = mdp.reshape(n_runs, 1, n_states * n_actions, n_states).expand(-1, n_group, -1, -1)
    flat_mdp = flat_mdp.reshape(rows, n_states * n_actions, n_states)
    arrive_reward = torch.einsum("bsat,bt->bsa", mdp, reward)[:, None].expand(-1, n_group, -1, -1)
    arrive_reward = arrive_reward.reshape(rows, n_states, n_actions)
    flat_probs = probs.reshape(rows, n_states, n_actions)
    v_next = torch.zeros(rows, n_states, 1, dtype=probs.dtype)
    grad_probs = torch.zeros_like(flat_probs)
    for t in reversed(range(horizon)):
        q = arrive_reward + torch.bmm(flat_mdp, v_next).view(rows, n_states, n_actions)
        grad_probs = grad_probs + dists[t].view(rows, n_states, 1) * q
        v_next = (flat_probs * q).sum(-1, keepdim=True)
    grad_probs = (grad_probs / horizon).view_as(probs)
    grad_logits = probs * (grad_probs - (probs * grad_probs).sum(-1, keepdim=True))
    return _DeviationEvaluation(value, grad_logits, visits)


def _deviation_returns(game: BimatrixGame, mdp: Tensor, dev_logits: Tensor, agent: int) -> Tensor:
    """``(B, G)`` per-step return of ``agent`` playing ``dev_logits (B, G, S, A)`` in its ``mdp``."""
    reward = _agent_reward(game, agent, mdp.shape[0], None)
    return _evaluate_deviation(mdp, reward, dev_logits, game.horizon, with_grad=False).value


def _deviation_gradient(game: BimatrixGame, mdp: Tensor, dev_logits: Tensor, agent: int) -> Tensor:
    """``(B, G, S, A)`` exact gradient of ``agent``'s return at ``dev_logits`` (see :func:`_evaluate_deviation`)."""
    reward = _agent_reward(game, agent, mdp.shape[0], None)
    return _evaluate_deviation(mdp, reward, dev_logits, game.horizon).grad


@dataclass(frozen=True)
class DeviationPath:
    """Every agent's deviation search, one row per (agent, run): row ``i * B + b`` is agent ``i`` of run ``b``.

    ``logits (N*B, S, A)`` the final deviating policies theta_i*; ``grads (M + 1, N*B, S, A)`` the policy
    gradients ``g_1 .. g_{M+1}`` of the agent's own return along the path (``g_1`` at theta_i, ``g_{M+1}``
    at theta_i*); ``start_value`` and ``final_value (N*B,)`` its per-step return before and after.
    """

    logits: Tensor
    grads: Tensor
    start_value: Tensor
    final_value: Tensor


def exact_deviation_paths(
    game: BimatrixGame, logits: Tensor, rho: float, n_inner: int, payoffs: Tensor | None = None
) -> DeviationPath:
    """The deviation search of Agent-Adv-Search with exact returns, gradients and Fisher matrices.

    For every agent of every run at once: ``n_inner`` TRPO steps on the agent's own return, the other
    agent frozen, each of KL at most ``rho / n_inner`` under the current visitation and at most ``rho``
    from the start under the starting visitation. It is the sampled search's limit of infinitely large
    batches: what remains is the trust-region path itself. ``payoffs (B, S, 3)`` optionally replaces
    the game's reward table per run.
    """
    logits = logits.detach()
    n_runs, n_agents = logits.shape[:2]
    mdps = torch.cat([_agent_mdp(game, logits, i) for i in range(n_agents)])  # (N*B, S, A, S)
    rewards = torch.cat([_agent_reward(game, i, n_runs, payoffs) for i in range(n_agents)])  # (N*B, S)
    start = torch.cat([logits[:, i] for i in range(n_agents)])  # (N*B, S, A)

    def evaluate(dev: Tensor, with_grad: bool = True) -> _DeviationEvaluation:
        return _evaluate_deviation(mdps, rewards, dev[:, None], game.horizon, with_grad)

    here = evaluate(start)
    start_value, start_weights = here.value[:, 0], here.visitation[:, 0]
    current, grads = start, [here.grad[:, 0]]
    for _ in range(n_inner):
        weights, before = here.visitation[:, 0], here.value[:, 0]
        step = trust_region_step(
            current.flatten(1),
            grads[-1].flatten(1),
            fvp=lambda v, w=weights, c=current: fisher_vector_product(w, c, v.view_as(c)).flatten(1),
            natural_direction=lambda g, w=weights, c=current: natural_gradient(w, c, g.view_as(c)).flatten(1),
            surrogate_gain=lambda flat, b=before: evaluate(flat.view_as(start), with_grad=False).value[:, 0] - b,
            is_feasible=deviation_feasibility(start, start_weights, current, weights, rho, n_inner),
            max_kl=rho / n_inner,
        )
        current = step.params.view_as(start)
        here = evaluate(current)
        grads.append(here.grad[:, 0])
    return DeviationPath(current, torch.stack(grads), start_value, here.value[:, 0])


def _feasible_optimum(
    game: BimatrixGame,
    logits: Tensor,
    agent: int,
    rho: float,
    weights: Tensor,
    log_nu: Tensor,
    start: Tensor,
    steps: int,
) -> _Candidate:
    n_runs, n_grid = log_nu.shape
    nu = log_nu.exp()
    mdp = _agent_mdp(game, logits, agent)
    current = logits[:, agent][:, None]
    dev = start[:, None].expand(-1, n_grid, -1, -1).clone()
    dev.grad = torch.zeros_like(dev)
    opt = torch.optim.Adam([dev], lr=0.1, maximize=True)
    current_probs = torch.softmax(current, dim=-1)
    for _ in range(steps):
        grad = _deviation_gradient(game, mdp, dev, agent)
        # d KL_w(pi || pi') / d logits' = w(s) (pi' - pi)
        grad_kl = weights[:, None, :, None] * (torch.softmax(dev, dim=-1) - current_probs)
        dev.grad = grad - nu[..., None, None] * grad_kl
        opt.step()
    with torch.no_grad():
        value = _deviation_returns(game, mdp, dev, agent)
        kl = mean_kl(weights[:, None], current, dev)
        masked = torch.where(kl <= rho, value, torch.full_like(value, -torch.inf))
        pick = masked.argmax(dim=1)
        rows = torch.arange(n_runs)
        chosen_value = masked[rows, pick]
        # the current policy (KL = 0) is always feasible: never report less than it
        at_start = _deviation_returns(game, mdp, current, agent)[:, 0]
        keep_start = ~(chosen_value > at_start)
        return _Candidate(
            torch.where(keep_start, at_start, chosen_value),
            torch.where(keep_start[:, None, None], logits[:, agent], dev[rows, pick].detach()),
            torch.where(keep_start, log_nu[:, -1], log_nu[rows, pick]),
            torch.where(keep_start, torch.zeros_like(chosen_value), kl[rows, pick]),
        )


def trust_region_regret(
    game: BimatrixGame, logits: Tensor, rho: float, steps: int = 150, moving_weights: bool = False
) -> Tensor:
    """``(B, 2)`` each agent's regret inside its KL trust region of radius ``rho`` (paper Eq. 13-14).

    The value is exact up to the optimiser's tolerance. Its gradient with respect to ``logits`` is
    the envelope-theorem gradient of the constrained maximum: at the optimum ``pi'*`` with multiplier
    ``nu*``, ``d/dtheta max = d/dtheta [J_i(pi'*, pi_-i) - nu* KL_w(pi_i || pi'*)]`` with ``pi'*`` and
    ``nu*`` held fixed. The KL's state weights ``w`` are the current visitation; by default they are held
    fixed too (the ball's weights frozen at theta), with ``moving_weights=True`` they move with theta, as
    the paper's definition of the ball (weights at the current joint policy) implies; the extra term is
    ``-nu* sum_s (d w(s) / d theta) KL_s(pi_i || pi'*)``.
    """
    returns = exact_returns(game, logits)
    out = []
    for agent in range(game.n_agents):
        br = trust_region_best_response(game, logits, agent, rho, steps=steps)
        deviated = _with_agent(logits, agent, br.logits[:, None])[:, 0]
        dev_value = exact_returns(game, deviated)[:, 1 + agent]
        weights = visitation(game, logits) if moving_weights else br.weights
        penalty = br.multiplier * (mean_kl(weights, logits[:, agent], br.logits) - rho)
        # the penalty adds its gradient (the envelope term) but not its value
        out.append(dev_value - returns[:, 1 + agent] - (penalty - penalty.detach()))
    return torch.stack(out, dim=1)
