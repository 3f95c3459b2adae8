"""Agent-Adv-Search(epsilon) for tabular policies on the bimatrix game (paper Algorithm 2, corrected).

ERMAS's rules (the Lagrangian, the meta-gradient variants, the regret estimate, the dual step) live in
:mod:`ermas.method`; this module is how tabular agents carry them out. Each iteration:

1. sample a batch B_0 with the current policies (mean per-step rewards mu_0);
2. for every agent at once, search for its best local deviation: ``n_inner`` TRPO steps of KL at most
   ``rho / n_inner`` each (and at most ``rho`` from the start), each followed by a fresh batch B_k, or
   the same path computed exactly (``regret_search``, see :data:`REGRET_SEARCHES`);
3. estimate the regret ``R_hat_i = mu_{n_inner, i} - mu_{0, i}`` (:func:`ermas.method.regret_estimate`);
4. move every agent along the descent direction of ``L`` (Eq. 11) with one Adam step, its meta-gradient
   term one of :data:`ermas.method.META_VARIANTS`;
5. after the warm-up, projected dual *ascent* on lambda (Eq. 12, :func:`ermas.method.dual_step`).

The warm-up (the paper's footnote 4) takes ``warmup_iters`` plain policy-gradient steps on
``-J_r + lambda_0 J_i``; at its end lambda is set so that the weight on the agents' own reward does not
jump (``RunSpec.continuity``). Independent policy-gradient learners (MARL, the non-robust baseline) are
the special case :func:`ermas.method.marl_run` and run in the same batch.

All runs of a batch advance together: tensors carry a leading run dimension ``B``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch

from ermas import method
from ermas.bimatrix.exact import DeviationPath, exact_deviation_paths, exact_returns
from ermas.bimatrix.game import BimatrixGame
from ermas.bimatrix.tabular import (
    Rollouts,
    deviation_feasibility,
    fisher_vector_product,
    natural_gradient,
    policy_gradients,
    rollout,
    sample_noise,
    surrogate_coefficients,
    surrogate_gradient,
)
from ermas.checkpoint import load_checkpoint, run_resumable
from ermas.method import RunSettings, RunSpec
from ermas.optim import adam_update
from ermas.trpo import trust_region_step

REGRET_SEARCHES = ("sampled", "exact")
"""The two ways the deviation search of step 2 can see the game. ``sampled``: TRPO steps on fresh sampled
batches (the paper). ``exact``: the same trust-region path with exact returns, gradients and Fisher matrices (its limit
of infinitely large batches, :func:`ermas.bimatrix.exact.exact_deviation_paths`)."""


@dataclass(frozen=True)
class SearchConfig:
    """Settings shared by every run of a batch (the paper's Algorithm 2 inputs).

    The defaults are the settings tuned for the bimatrix figures (the one place they are written; the
    figures' parameters and the tests start from them). The paper prints ``n_inner = 2`` sampled steps.
    """

    n_iters: int = 600  # n_train: iterations, each one agent update
    warmup_iters: int = 100  # k: iterations with lambda fixed at lambda0 and no meta term
    n_episodes: int = 32  # episodes per batch and run (B_0)
    lr: float = 0.05  # agents' Adam step size (logits)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    rho: float = 0.2  # trust-region radius (mean KL per decision)
    n_inner: int = 10  # TRPO steps of the deviation search
    regret_search: str = "exact"  # one of REGRET_SEARCHES
    dev_episodes: int = 32  # episodes of each fresh batch B_k of the sampled deviation search
    entropy_coef: float = 0.02  # weight of the agents' policy-entropy bonus (keeps them exploring)
    dual_lr: float = 20.0  # alpha_lambda
    lambda_max: float = 400.0
    init_scale: float = 0.1  # standard deviation of the initial logits
    deviation_search: bool = True  # False: skip it (only for runs with meta="none" and no dual updates)

    def __post_init__(self) -> None:
        positive_ints = ("n_iters", "n_episodes", "n_inner", "dev_episodes")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if self.n_episodes < 2:
            raise ValueError("n_episodes must be at least 2 (the baseline leaves one episode out)")
        if not isinstance(self.warmup_iters, int) or not 0 <= self.warmup_iters <= self.n_iters:
            raise ValueError(f"warmup_iters must be an integer in 0..n_iters={self.n_iters}; got {self.warmup_iters!r}")
        for name in ("lr", "rho", "entropy_coef", "dual_lr", "lambda_max", "init_scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
        if self.rho == 0:
            raise ValueError("rho must be > 0")
        if self.regret_search not in REGRET_SEARCHES:
            raise ValueError(f"regret_search must be one of {REGRET_SEARCHES}; got {self.regret_search!r}")


@dataclass
class SearchHistory:
    """Per-iteration records of a batch of runs (``T`` iterations so far, ``B`` runs, ``N`` agents).

    ``sampled (T, B, 1 + N)`` mean per-step rewards of B_0 (planner, agents); ``exact (T, B, 1 + N)`` the
    same, computed exactly; ``regret_estimate (T, B, N)`` R_hat; ``lambdas (T, B, N)`` after the
    iteration's dual step.
    """

    sampled: list[torch.Tensor] = field(default_factory=list)
    exact: list[torch.Tensor] = field(default_factory=list)
    regret_estimate: list[torch.Tensor] = field(default_factory=list)
    lambdas: list[torch.Tensor] = field(default_factory=list)

    def stacked(self) -> dict[str, torch.Tensor]:
        return {name: torch.stack(values) for name, values in asdict(self).items()}


@dataclass
class SearchState:
    """Everything needed to continue a batch of runs: policies, multipliers, generators, history."""

    iteration: int
    logits: torch.Tensor  # (B, N, S, A)
    lambdas: torch.Tensor  # (B, N)
    generators: list[torch.Generator]
    history: SearchHistory
    adam_m: torch.Tensor  # Adam's first and second moment estimates, like logits
    adam_v: torch.Tensor

    def to_dict(self) -> dict:
        return {
            "iteration": self.iteration,
            "logits": self.logits,
            "lambdas": self.lambdas,
            "generator_states": [g.get_state() for g in self.generators],
            "history": {name: list(values) for name, values in vars(self.history).items()},
            "adam_m": self.adam_m,
            "adam_v": self.adam_v,
        }

    @classmethod
    def from_dict(cls, saved: dict) -> SearchState:
        generators = []
        for state in saved["generator_states"]:
            g = torch.Generator()
            g.set_state(state)
            generators.append(g)
        history = SearchHistory(**saved["history"])
        return cls(
            saved["iteration"], saved["logits"], saved["lambdas"], generators, history, saved["adam_m"], saved["adam_v"]
        )


def initial_state(game: BimatrixGame, runs: Sequence[RunSpec], config: SearchConfig) -> SearchState:
    """Iteration 0: logits drawn from N(0, init_scale^2) with each run's seed, lambda = lambda_0."""
    generators = [torch.Generator().manual_seed(run.seed) for run in runs]
    shape = (game.n_agents, game.n_states, game.n_actions)
    dtype = game.payoffs.dtype  # the game's dtype is the run's
    logits = torch.stack([config.init_scale * torch.randn(shape, generator=g, dtype=dtype) for g in generators])
    lambdas = torch.tensor([[run.lambda0] * game.n_agents for run in runs], dtype=dtype)
    zeros = torch.zeros_like(logits)
    return SearchState(0, logits, lambdas, generators, SearchHistory(), zeros, zeros.clone())


def search_fingerprint(game: BimatrixGame, runs: Sequence[RunSpec], config: SearchConfig) -> dict:
    """What a checkpoint must have been written for, to be resumed."""
    return {
        "runs": [asdict(r) for r in runs],
        "config": asdict(config) | {"adam_betas": list(config.adam_betas)},
        "horizon": game.horizon,
        "payoffs": game.payoffs.tolist(),
    }


def agent_adv_search(
    game: BimatrixGame,
    runs: Sequence[RunSpec],
    config: SearchConfig,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 100,
    progress: bool = True,
) -> SearchState:
    """Train every run in ``runs`` for ``config.n_iters`` iterations, all in one batch.

    With ``checkpoint`` set, the state is written there atomically every ``checkpoint_every``
    iterations, at the end and on Ctrl-C, and a later call with the same arguments resumes from it.
    """
    if not runs:
        raise ValueError("runs must not be empty")
    fingerprint = search_fingerprint(game, runs, config)
    saved = load_checkpoint(checkpoint, fingerprint)
    state = initial_state(game, runs, config) if saved is None else SearchState.from_dict(saved)
    settings = RunSettings.build(runs, state.logits.dtype, game.n_agents, config.lambda_max)
    run_resumable(
        state,
        lambda: recorded_search_step(game, config, settings, state),
        config.n_iters,
        checkpoint,
        fingerprint,
        checkpoint_every,
        progress,
        "Agent-Adv-Search",
    )
    return state


def recorded_search_step(
    game: BimatrixGame,
    config: SearchConfig,
    settings: RunSettings,
    state: SearchState,
    payoffs: torch.Tensor | None = None,
) -> Rollouts:
    """:func:`search_step`, and its record in ``state.history``, with the exact returns of the policies
    it started from (an evaluation, not part of the method). Returns the batch B_0."""
    exact = exact_returns(game, state.logits, per_run_payoffs(payoffs))
    batch0, regret = search_step(game, config, settings, state, payoffs)
    state.history.sampled.append(batch0.mean_rewards())
    state.history.exact.append(exact)
    state.history.regret_estimate.append(regret)
    state.history.lambdas.append(state.lambdas)
    return batch0


def search_step(
    game: BimatrixGame,
    config: SearchConfig,
    settings: RunSettings,
    state: SearchState,
    payoffs: torch.Tensor | None = None,
) -> tuple[Rollouts, torch.Tensor]:
    """One iteration of Algorithm 2 for every run: updates the policies, multipliers, Adam moments and the
    iteration of ``state``.

    ``payoffs`` optionally replaces the game's reward table, per run ``(B, S, 3)`` or per episode
    ``(B, E, S, 3)`` (the robust actor's outer loop sets it). Returns the batch B_0 and the regret
    estimate ``(B, N)`` (NaN where no search ran).
    """
    theta, lambdas = state.logits, state.lambdas
    n_runs, n_agents, n_states, _ = theta.shape
    warm = state.iteration < config.warmup_iters
    if state.iteration == config.warmup_iters and config.warmup_iters > 0:
        lambdas = settings.after_warmup(lambdas)

    # 1. batch B_0 under the current policies
    noise = sample_noise(state.generators, config.n_episodes, game.horizon, n_states, n_agents, theta.dtype)
    batch0 = rollout(game, theta, noise, payoffs)
    grads0 = policy_gradients(batch0, theta)  # (B, K, N, S, A)
    agents = torch.arange(n_agents)
    grad_planner = grads0[:, 0]  # d J_r / d theta_i, (B, N, S, A)
    g_standard = grads0[:, 1 + agents, agents]  # g_0: d J_i / d theta_i on B_0, (B, N, S, A)
    meta = settings.active_meta(warm)

    if not config.deviation_search:
        if bool((settings.meta != method.META_VARIANTS.index("none")).any() or settings.dual.any()):
            raise ValueError("deviation_search=False needs meta='none' and dual=False in every run")
    if not config.deviation_search or warm:  # the warm-up uses neither the meta term nor the regret
        regret_hat = torch.full((n_runs, n_agents), torch.nan, dtype=theta.dtype)
        own_term = lambdas[:, :, None, None] * g_standard
        theta_star = theta
    else:
        # 2.-3. deviation search of every agent at once, and the regret estimate
        path, regret_hat = deviation_regret(game, config, theta, batch0, state.generators, payoffs)
        # 4. the own-reward term of each agent's direction, in the run's meta variant
        g_path = path.grads.view(config.n_inner + 1, n_agents, n_runs, *theta.shape[2:]).transpose(1, 2)
        theta_star = path.logits.view(n_agents, n_runs, *theta.shape[2:]).transpose(0, 1)
        terms = method.own_reward_terms(lambdas, settings.beta, g_standard, g_path, n_agents)
        own_term = method.select_variant(terms, meta)
    direction = method.agent_direction(settings, grad_planner, own_term)
    if config.entropy_coef > 0:
        direction = direction + config.entropy_coef * _entropy_gradient(batch0.state_frequencies(n_states), theta)
    delta, adam_m, adam_v = adam_update(
        state.adam_m, state.adam_v, state.iteration, direction, config.lr, config.adam_betas
    )
    new_theta = theta + delta
    released = (meta == method.META_VARIANTS.index("released"))[:, None, None, None]
    new_theta = torch.where(
        released, new_theta - method.released_pull(settings.beta, lambdas, theta_star - theta), new_theta
    )

    # 5. projected dual ascent on lambda, after the warm-up
    if not warm:
        lambdas = method.dual_step(settings, lambdas, regret_hat, config.dual_lr, config.lambda_max)

    _check_finite(new_theta, lambdas, state.iteration)
    state.logits, state.lambdas, state.adam_m, state.adam_v = new_theta, lambdas, adam_m, adam_v
    state.iteration += 1
    return batch0, regret_hat


def per_run_payoffs(payoffs: torch.Tensor | None) -> torch.Tensor | None:
    """The reward tables the exact evaluator sees: per run ``(B, S, 3)`` as given, per episode
    ``(B, E, S, 3)`` averaged over the batch's episodes (returns are linear in the table)."""
    return payoffs.mean(1) if payoffs is not None and payoffs.ndim == 4 else payoffs


def deviation_regret(
    game: BimatrixGame,
    config: SearchConfig,
    theta: torch.Tensor,
    batch0: Rollouts,
    generators: list[torch.Generator],
    payoffs: torch.Tensor | None = None,
) -> tuple[DeviationPath, torch.Tensor]:
    """Steps 2-3 of Algorithm 2: every agent's deviation path and its regret estimate ``(B, N)``.

    Row ``i * B + b`` of the path deviates agent ``i`` of run ``b``. With ``regret_search="sampled"`` the
    path is the paper's (trust-region steps on fresh sampled batches) and the estimate
    ``R_hat_i = mu_{M, i} - mu_{0, i}`` compares the last batch with B_0; with ``"exact"`` both are exact
    (the limit of infinitely large batches). ``theta`` is ``(B, N, S, A)``.
    """
    n_runs, n_agents = theta.shape[:2]
    if config.regret_search == "exact":
        path = exact_deviation_paths(game, theta, config.rho, config.n_inner, per_run_payoffs(payoffs))
        return path, method.regret_estimate(path.final_value, path.start_value).view(n_agents, n_runs).T
    path = sampled_deviation_paths(game, config, theta, batch0, generators, payoffs)
    return path, method.regret_estimate(path.final_value.view(n_agents, n_runs).T, batch0.mean_rewards()[:, 1:])


def sampled_deviation_paths(
    game: BimatrixGame,
    config: SearchConfig,
    theta: torch.Tensor,
    batch0: Rollouts,
    generators: list[torch.Generator],
    payoffs: torch.Tensor | None,
) -> DeviationPath:
    """``n_inner`` trust-region steps per agent on its own return, the others frozen (Alg. 2 inner loop).

    Step k learns from the batch B_{k-1} (B_0 first) and is followed by a fresh batch B_k of
    ``config.dev_episodes`` episodes, drawn with new randomness from the run's generator. Every step's KL
    (under the states of the batch it learns from) is at most ``rho / n_inner`` and the KL from the
    starting policy (under B_0's states) at most ``rho``. ``final_value`` is B_M's mean own reward.
    """
    n_runs, n_agents, n_states, _ = theta.shape
    agent_of = torch.arange(n_agents).repeat_interleave(n_runs)  # (N*B,)
    rows = torch.arange(n_agents * n_runs)
    joint = theta.repeat(n_agents, 1, 1, 1)  # (N*B, N, S, A)
    start = joint[rows, agent_of]  # (N*B, S, A)
    start_weights = batch0.state_frequencies(n_states).repeat(n_agents, 1)
    batch = Rollouts(
        *(
            x.repeat(n_agents, *[1] * (x.ndim - 1))
            for x in (batch0.states, batch0.actions, batch0.rewards, batch0.arrivals)
        )
    )
    dev_payoffs = None if payoffs is None else payoffs.repeat(n_agents, *[1] * (payoffs.ndim - 1))
    if dev_payoffs is not None and dev_payoffs.ndim == 4 and config.dev_episodes != config.n_episodes:
        raise ValueError("per-episode payoffs need dev_episodes == n_episodes")
    step_kl = config.rho / config.n_inner
    grads = []
    current = start
    for _ in range(config.n_inner):
        coef = surrogate_coefficients(batch, joint, 1 + agent_of)
        grads.append(surrogate_gradient(coef, current))
        weights = batch.state_frequencies(n_states)
        base = (coef * torch.softmax(current, -1)).sum((-1, -2))

        def gain(flat: torch.Tensor, coef=coef, base=base) -> torch.Tensor:
            return (coef * torch.softmax(flat.view_as(coef), -1)).sum((-1, -2)) - base

        result = trust_region_step(
            current.flatten(1),
            grads[-1].flatten(1),
            fvp=lambda v, w=weights, c=current: fisher_vector_product(w, c, v.view_as(c)).flatten(1),
            natural_direction=lambda g, w=weights, c=current: natural_gradient(w, c, g.view_as(c)).flatten(1),
            surrogate_gain=gain,
            is_feasible=deviation_feasibility(start, start_weights, current, weights, config.rho, config.n_inner),
            max_kl=step_kl,
        )
        current = result.params.view_as(current)
        joint = joint.clone()
        joint[rows, agent_of] = current
        fresh = sample_noise(generators, config.dev_episodes, game.horizon, n_states, n_agents, theta.dtype)
        fresh = fresh.repeat(n_agents)
        batch = rollout(game, joint, fresh, dev_payoffs)
    grads.append(surrogate_gradient(surrogate_coefficients(batch, joint, 1 + agent_of), current))
    final = batch.mean_rewards()[rows, 1 + agent_of]
    return DeviationPath(current, torch.stack(grads), torch.full_like(final, torch.nan), final)


def _entropy_gradient(weights: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``(B, N, S, A)`` gradient of ``sum_s w[s] H(pi(. | s))`` with respect to the logits."""
    log_p = torch.log_softmax(logits, dim=-1)
    p = log_p.exp()
    grad = -p * (log_p - (p * log_p).sum(-1, keepdim=True))
    return weights[:, None, :, None] * grad


def _check_finite(theta: torch.Tensor, lambdas: torch.Tensor, iteration: int) -> None:
    bad_theta = ~torch.isfinite(theta).flatten(1).all(1)
    bad_lambda = ~torch.isfinite(lambdas).all(1)
    bad = (bad_theta | bad_lambda).nonzero().flatten().tolist()
    if bad:
        what = "policy logits" if bad_theta.any() else "Lagrange multipliers"
        raise FloatingPointError(
            f"Agent-Adv-Search diverged at iteration {iteration}: {what} of run(s) {bad} are not finite"
        )
