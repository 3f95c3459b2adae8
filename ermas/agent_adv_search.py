"""ERMAS's inner loop, Agent-Adv-Search(epsilon) (paper Algorithm 2, with its errors corrected).

Agents look for the epsilon-equilibrium that is worst for the robust actor (here the planner):

    min_theta  J_r(theta)  s.t.  R_i(theta) <= epsilon  for every agent i,                  (Eq. 7-8)
    R_i(theta) = max_{KL(pi_i || pi_i') <= rho} J_i(theta_i', theta_-i) - J_i(theta)        (Eq. 10, 13-14)

dualised as ``max_{lambda >= 0} min_theta L``, ``L = J_r + sum_i lambda_i (R_i - epsilon)`` (Eq. 9 with the
sign corrected). Each iteration:

1. sample a batch B_0 with the current policies (mean per-step rewards mu_0);
2. for every agent at once, search for its best local deviation: ``n_inner`` TRPO steps of KL at most
   ``rho / n_inner`` each (and at most ``rho`` from the start), each followed by a fresh batch B_k, or
   the same path computed exactly (``regret_search``, see :data:`REGRET_SEARCHES`);
3. estimate the regret ``R_hat_i = mu_{n_inner, i} - mu_{0, i}``;
4. move every agent along the descent direction of ``L`` (Eq. 11), whose meta-gradient term is one of
   five variants (see :data:`META_VARIANTS` and the book's derivation chapter);
5. after the warm-up, projected dual *ascent* on lambda:
   ``lambda_i <- clip(lambda_i + alpha_lambda (R_hat_i - epsilon), 0, lambda_max)`` (Eq. 12).

The warm-up (the paper's footnote 4) takes ``warmup_iters`` plain policy-gradient steps on
``-J_r + lambda_0 J_i``; at its end lambda is set so that the weight on the agents' own reward does not
jump (``RunSpec.continuity``).

Independent policy-gradient learners (MARL, the non-robust baseline) are the special case in which the
planner's reward is ignored, ``lambda = 1`` is fixed and there is no meta term; they run in the same
batch, and their regret is estimated the same way.

All runs of a batch advance together: tensors carry a leading run dimension ``B``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from ermas.exact import DeviationPath, exact_deviation_paths, exact_returns
from ermas.games.bimatrix import BimatrixGame
from ermas.io import atomic_save
from ermas.optim import adam_update
from ermas.tabular import (
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
from ermas.trpo import trust_region_step

META_VARIANTS = ("paper", "literal", "released", "danskin", "none")
"""How the gradient of the regret's first term, d/dtheta_i J_i(theta_i*(theta), theta_-i), is
approximated. With g_k the policy gradient of J_i at the k-th point of the deviation path
(g_1 at theta_i, g_{M+1} at theta_i*; from the deviation search) and g_0 the standard policy gradient
of J_i on the batch B_0, the agent's ascent direction is

- ``paper``    (Eq. 11 with 15-16, the g_1 terms cancel): -grad J_r + lambda_i (beta / M) sum_{k<=M} g_k
- ``literal``  (Algorithm 2 as printed, the standard step then the meta displacement subtracted, with one
  policy shared by the N agents as in the authors' release): -grad J_r + lambda_i (g_0 - N (beta / M) sum_{k<=M} g_k)
- ``released`` (authors' code):     -grad J_r + lambda_i g_0, then theta_i -= min(beta lambda_i, 2)(theta_i* - theta_i)
- ``danskin``  (FOMAML; not first-order exact for a KL ball): -grad J_r + lambda_i (g_1 - g_{M+1})
- ``none``     (no meta term):      -grad J_r + lambda_i g_0
"""

REGRET_SEARCHES = ("sampled", "exact")
"""How the deviation search of step 2 sees the game: ``sampled``, TRPO steps on fresh sampled batches (the
paper); ``exact``, the same trust-region path with exact returns, gradients and Fisher matrices (its limit
of infinitely large batches, :func:`ermas.exact.exact_deviation_paths`)."""


def own_reward_weight(meta: str, beta: float, n_agents: int) -> float:
    """The weight on the agent's own policy gradient per unit of lambda, at the start of a deviation path.

    Where the path has not moved (all g_k equal) every variant's own-reward term is this weight times
    lambda_i g: ``beta`` for ``paper``, ``1 - N beta`` for ``literal``, 1 for the others. The warm-up
    weights the own reward by lambda_0 (Algorithm 2, line 1); continuity at the end of the warm-up sets
    lambda to lambda_0 / weight (see :class:`RunSpec`).
    """
    if meta == "paper":
        return beta
    if meta == "literal":
        return 1.0 - n_agents * beta
    return 1.0


@dataclass(frozen=True)
class RunSpec:
    """The settings of one training run. Runs that differ only in these fields share one batch.

    Attributes:
        epsilon: allowed per-step regret.
        lambda0: Lagrange multiplier of the warm-up (both agents; Algorithm 2's input lambda).
        dual: update lambda after the warm-up (``False``: lambda stays at ``lambda0``, Figure 4 left).
        continuity: with dual updates, start them from ``lambda0 / own_reward_weight`` (capped at
            ``lambda_max``) so that the weight on the agents' own reward does not jump at the end of the
            warm-up; where that weight is not positive no multiplier can match, and lambda stays.
        adversarial: agents descend the planner's reward (``False``: independent learners, MARL).
        meta: one of :data:`META_VARIANTS`.
        beta: weight of the paper's meta term (Eq. 15).
        seed: seeds the run's initial policies and all its sampling.
    """

    epsilon: float = 0.0
    lambda0: float = 8.0
    dual: bool = True
    adversarial: bool = True
    meta: str = "paper"
    beta: float = 0.2
    seed: int = 0
    continuity: bool = True

    def __post_init__(self) -> None:
        if self.meta not in META_VARIANTS:
            raise ValueError(f"meta must be one of {META_VARIANTS}; got {self.meta!r}")
        if not math.isfinite(self.epsilon):
            raise ValueError(f"epsilon must be finite; got {self.epsilon}")
        if not (self.lambda0 >= 0 and math.isfinite(self.lambda0)):
            raise ValueError(f"lambda0 must be a finite number >= 0; got {self.lambda0}")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise ValueError(f"beta must be a finite number >= 0; got {self.beta}")


def marl_run(seed: int) -> RunSpec:
    """Independent policy-gradient learners on their own rewards (the paper's MARL baseline)."""
    return RunSpec(lambda0=1.0, dual=False, adversarial=False, meta="none", seed=seed, continuity=False)


@dataclass(frozen=True)
class SearchConfig:
    """Settings shared by every run of a batch (the paper's Algorithm 2 inputs)."""

    n_iters: int = 600  # n_train: iterations, each one agent update
    warmup_iters: int = 100  # k: iterations with lambda fixed at lambda0 and no meta term
    n_episodes: int = 32  # episodes per batch and run (B_0)
    lr: float = 0.05  # agents' Adam step size (logits)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    rho: float = 0.05  # trust-region radius (mean KL per decision)
    n_inner: int = 2  # TRPO steps of the deviation search
    regret_search: str = "sampled"  # one of REGRET_SEARCHES
    dev_episodes: int = 32  # episodes of each fresh batch B_k of the sampled deviation search
    entropy_coef: float = 0.0  # weight of the agents' policy-entropy bonus (keeps them exploring)
    dual_lr: float = 0.5  # alpha_lambda
    lambda_max: float = 100.0
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
    """Per-iteration records of a batch of runs (``T`` iterations so far, ``B`` runs).

    ``sampled (T, B, 3)`` mean per-step rewards of B_0 (planner, agent 1, agent 2); ``exact (T, B, 3)``
    the same, computed exactly; ``regret_estimate (T, B, 2)`` R_hat; ``lambdas (T, B, 2)`` after the
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
    logits: torch.Tensor  # (B, 2, S, A)
    lambdas: torch.Tensor  # (B, 2)
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
            "history": asdict(self.history),
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
    generators = [torch.Generator().manual_seed(run.seed) for run in runs]
    shape = (2, game.n_states, 3)
    dtype = game.payoffs.dtype  # the game's dtype is the run's
    logits = torch.stack([config.init_scale * torch.randn(shape, generator=g, dtype=dtype) for g in generators])
    lambdas = torch.tensor([[run.lambda0] * 2 for run in runs], dtype=logits.dtype)
    zeros = torch.zeros_like(logits)
    return SearchState(0, logits, lambdas, generators, SearchHistory(), zeros, zeros.clone())


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
    iterations and on Ctrl-C, and a later call with the same arguments resumes from it.
    """
    if not runs:
        raise ValueError("runs must not be empty")
    state = initial_state(game, runs, config)
    fingerprint = {
        "runs": [asdict(r) for r in runs],
        "config": asdict(config) | {"adam_betas": list(config.adam_betas)},
        "horizon": game.horizon,
        "payoffs": game.payoffs.tolist(),
    }
    if checkpoint is not None and Path(checkpoint).exists():
        saved = torch.load(checkpoint, weights_only=True)  # tensors and plain containers only: no code runs
        if saved["fingerprint"] != fingerprint:
            raise ValueError(f"checkpoint {checkpoint} was written for other settings; delete it or pick another path")
        state = SearchState.from_dict(saved["state"])

    def save() -> None:
        if checkpoint is not None:
            atomic_save({"fingerprint": fingerprint, "state": state.to_dict()}, checkpoint)

    settings = RunTensors.build(runs, state.logits.dtype, state.logits.shape[1], config.lambda_max)
    bar = tqdm(total=config.n_iters, initial=state.iteration, disable=not progress, desc="Agent-Adv-Search")
    try:
        while state.iteration < config.n_iters:
            search_iteration(game, config, settings, state)
            state.iteration += 1
            bar.update()
            if checkpoint is not None and state.iteration % checkpoint_every == 0:
                save()
    except KeyboardInterrupt:
        save()
        raise
    finally:
        bar.close()
    save()
    return state


@dataclass(frozen=True)
class RunTensors:
    """Per-run settings as ``(B,)`` tensors (build them with :meth:`build`)."""

    epsilon: torch.Tensor
    dual: torch.Tensor
    planner_weight: torch.Tensor
    beta: torch.Tensor
    meta: torch.Tensor  # index into META_VARIANTS
    lambda_after_warmup: torch.Tensor  # lambda at the first dual step

    @classmethod
    def build(cls, runs: Sequence[RunSpec], dtype: torch.dtype, n_agents: int, lambda_max: float) -> RunTensors:
        def first_lambda(run: RunSpec) -> float:
            weight = own_reward_weight(run.meta, run.beta, n_agents)
            if run.dual and run.continuity and weight > 0:
                return min(run.lambda0 / weight, lambda_max)
            return run.lambda0

        return cls(
            torch.tensor([r.epsilon for r in runs], dtype=dtype),
            torch.tensor([r.dual for r in runs]),
            torch.tensor([1.0 if r.adversarial else 0.0 for r in runs], dtype=dtype),
            torch.tensor([r.beta for r in runs], dtype=dtype),
            torch.tensor([META_VARIANTS.index(r.meta) for r in runs]),
            torch.tensor([first_lambda(r) for r in runs], dtype=dtype),
        )


def search_iteration(
    game: BimatrixGame,
    config: SearchConfig,
    runs: RunTensors,
    state: SearchState,
    payoffs: torch.Tensor | None = None,
) -> Rollouts:
    """One iteration of Algorithm 2 for every run; updates ``state`` in place.

    ``payoffs`` optionally replaces the game's reward table, per run ``(B, S, 3)`` or per episode
    ``(B, E, S, 3)`` (the robust actor's outer loop sets it). Returns the batch B_0.
    """
    theta, lambdas = state.logits, state.lambdas
    n_runs, n_agents, n_states, n_actions = theta.shape
    warm = state.iteration < config.warmup_iters
    if state.iteration == config.warmup_iters and config.warmup_iters > 0:
        lambdas = torch.where(runs.dual[:, None], runs.lambda_after_warmup[:, None].expand_as(lambdas), lambdas)

    # 1. batch B_0 under the current policies
    noise = sample_noise(state.generators, config.n_episodes, game.horizon, n_states, n_agents, theta.dtype)
    batch0 = rollout(game, theta, noise, payoffs)
    mu0 = batch0.mean_rewards()  # (B, 3)
    grads0 = policy_gradients(batch0, theta)  # (B, K, N, S, A)
    agents = torch.arange(n_agents)
    grad_planner = grads0[:, 0]  # d J_r / d theta_i, (B, N, S, A)
    g_standard = grads0[:, 1 + agents, agents]  # g_0: d J_i / d theta_i on B_0, (B, N, S, A)
    lam = lambdas[:, :, None, None]
    none = META_VARIANTS.index("none")
    meta = torch.where(torch.tensor(warm), torch.full_like(runs.meta, none), runs.meta)

    if not config.deviation_search:
        if bool((runs.meta != none).any() or runs.dual.any()):
            raise ValueError("deviation_search=False needs meta='none' and dual=False in every run")
    if not config.deviation_search or warm:  # the warm-up uses neither the meta term nor the regret
        regret_hat = torch.full((n_runs, n_agents), torch.nan, dtype=theta.dtype)
        own_term = lam * g_standard
        theta_star = theta
    else:
        # 2.-3. deviation search of every agent at once, and the regret estimate
        path, regret_hat = deviation_regret(game, config, theta, batch0, state.generators, payoffs)

        # 4. descent direction of L for each agent (Eq. 11), ascent form; see META_VARIANTS
        g_path = path.grads.view(config.n_inner + 1, n_agents, n_runs, n_states, n_actions).transpose(1, 2)
        theta_star = path.logits.view(n_agents, n_runs, n_states, n_actions).transpose(0, 1)
        beta = runs.beta[:, None, None, None]
        # (1 / M) sum_{k<=M} g_k along the deviation path (g_1 is B_0's gradient in the sampled search and
        # the exact gradient at theta_i in the exact one)
        path_mean = g_path[: config.n_inner].mean(0)
        meta_terms = torch.stack(
            [
                lam * beta * path_mean,  # paper
                lam * (g_standard - n_agents * beta * path_mean),  # literal (shared policy)
                lam * g_standard,  # released (its displacement term is added below)
                lam * (g_path[0] - g_path[config.n_inner]),  # danskin
                lam * g_standard,  # none
            ]
        )  # (V, B, N, S, A)
        own_term = meta_terms[meta, torch.arange(n_runs)]
    direction = -runs.planner_weight[:, None, None, None] * grad_planner + own_term
    if config.entropy_coef > 0:
        direction = direction + config.entropy_coef * _entropy_gradient(batch0.state_frequencies(n_states), theta)
    new_theta = theta + _adam_step(state, direction, config)
    released = (meta == META_VARIANTS.index("released"))[:, None, None, None]
    pull = torch.clamp(runs.beta[:, None, None, None] * lam, max=2.0) * (theta_star - theta)
    new_theta = torch.where(released, new_theta - pull, new_theta)

    # 5. projected dual ascent on lambda (Eq. 12, sign corrected), after the warm-up
    if not warm:
        stepped = (lambdas + config.dual_lr * (regret_hat - runs.epsilon[:, None])).clamp(0.0, config.lambda_max)
        lambdas = torch.where(runs.dual[:, None], stepped, lambdas)

    _check_finite(new_theta, lambdas, state.iteration)
    state.logits, state.lambdas = new_theta, lambdas
    state.history.sampled.append(mu0)
    state.history.exact.append(exact_returns(game, theta, per_run_payoffs(payoffs)))
    state.history.regret_estimate.append(regret_hat)
    state.history.lambdas.append(lambdas)
    return batch0


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
        return path, (path.final_value - path.start_value).view(n_agents, n_runs).T
    path = _sampled_deviation_paths(game, config, theta, batch0, generators, payoffs)
    return path, path.final_value.view(n_agents, n_runs).T - batch0.mean_rewards()[:, 1:]


def _sampled_deviation_paths(
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


def _adam_step(state: SearchState, direction: torch.Tensor, config: SearchConfig) -> torch.Tensor:
    delta, state.adam_m, state.adam_v = adam_update(
        state.adam_m, state.adam_v, state.iteration, direction, config.lr, config.adam_betas
    )
    return delta


def _check_finite(theta: torch.Tensor, lambdas: torch.Tensor, iteration: int) -> None:
    bad_theta = ~torch.isfinite(theta).flatten(1).all(1)
    bad_lambda = ~torch.isfinite(lambdas).all(1)
    bad = (bad_theta | bad_lambda).nonzero().flatten().tolist()
    if bad:
        what = "policy logits" if bad_theta.any() else "Lagrange multipliers"
        raise FloatingPointError(
            f"Agent-Adv-Search diverged at iteration {iteration}: {what} of run(s) {bad} are not finite"
        )
