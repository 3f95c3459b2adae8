"""ERMAS for the two-level AI Economist: the robust tax planner, trained against agents that search for
epsilon-equilibria (paper, Algorithms 1 and 2, on neural policies, in the form of the authors' release).

One outer step reads top to bottom in :func:`train_robust`:

1. **Deviation search** (Algorithm 2, lines 4-7): for each agent ``i`` a copy of the shared agent policy
   learns on agent ``i``'s own reward alone, by ``deviation_iterations`` PPO iterations, while the other
   agents keep the shared policy and the planner its own (both frozen). The four searches run in one batch
   of environments cut into four groups; in group ``i`` agent ``i`` acts by its copy.
2. **Regret** (line 8, :func:`ermas.method.regret_estimate`): from two fresh evaluation episodes, agent
   ``i``'s own return (its reward summed over an episode) with its copy acting, minus with the shared
   policy acting. A sampled estimate: there is no exact oracle in the economy.
3. **Dual step** (Eq. 12, sign corrected, :func:`ermas.method.dual_step`): ``lambda_i <- clip(lambda_i +
   dual_lr (regret_i - epsilon), 0, lambda_max)``. Regret and ``epsilon`` are in the same unit: an agent's
   reward summed over one episode.
4. **Meta step** (``meta``, one of :data:`ermas.method.META_VARIANTS`). ``released``
   (:func:`ermas.method.released_pull`): the shared policy moves *away* from each deviation by
   ``min(beta lambda_i, 2)`` times its displacement, averaged over agents. The gradient variants
   (``paper``, ``literal``, ``danskin``) take the policy gradients of agent ``i``'s own reward along its
   deviation path, estimated on the episodes the search plays anyway (:func:`ermas.rl.ppo.policy_gradient`:
   g_1 .. g_M on the search's episodes before each of its updates, g_{M+1} on the regret's episode with the
   copy acting, g_0 on the one with the shared policy acting), and combine them by
   :func:`ermas.method.own_reward_terms`; see :func:`meta_ascent` for how they enter the main iterations.
   ``none`` (the release's setting for the economy) is the default.
5. **Main iterations**: ``main_iterations`` episodes in which the agents learn from
   :func:`ermas.method.normalised_lagrangian_reward` (``(-r_planner + lambda_i r_i) / (1 + lambda_i)``,
   adversarial to the planner within their regret budget) and the planner from its own reward (the change
   in social welfare), each by one PPO update per episode.

The run starts from a phase-2 checkpoint (its agents and planner) with the tax annealing over and the
planner's entropy weight at its floor; its fair control is :func:`continue_marl`, the same checkpoint
continued by plain two-level training for as many planner updates.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import asdict, dataclass, replace

import torch

from ermas.checkpoint import Progress, load_checkpoint, run_resumable
from ermas.economy import Economy, EconomyConfig
from ermas.economy.config import N_AGENTS
from ermas.manifest import sha256
from ermas.method import (
    META_VARIANTS,
    RunSettings,
    RunSpec,
    dual_step,
    normalised_lagrangian_reward,
    own_reward_terms,
    regret_estimate,
    released_pull,
    select_variant,
)
from ermas.rl.ppo import Batch, policy_gradient, ppo_update
from ermas.two_level.training import TrainingState, TwoLevelTraining, build_networks, play_episode, saved_state, train

GRADIENT_META = ("paper", "literal", "danskin")
"""The meta-gradient variants that need the policy gradients along the deviation paths (see
:func:`meta_ascent`)."""


@dataclass(frozen=True)
class RobustTraining:
    """ERMAS's settings on the economy; the defaults are the authors' release's for the AI Economist
    (lambda0 20, lambda clipped to [0, 100], 2 main and 5 deviation iterations per outer step, no meta step);
    ``meta`` and ``beta`` as in :class:`ermas.method.RunSpec`.

    ``epsilon`` and the regret are an agent's own reward summed over one episode (the release's unit; the
    release searched epsilon in [-40, 0] on 1000-step episodes)."""

    outer_steps: int
    epsilon: float = 0.0
    lambda0: float = 20.0
    dual_lr: float = 0.01
    lambda_max: float = 100.0
    main_iterations: int = 2
    deviation_iterations: int = 5
    meta: str = "none"
    beta: float = 0.2

    def __post_init__(self) -> None:
        for name in ("outer_steps", "main_iterations", "deviation_iterations"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if self.meta not in META_VARIANTS:
            raise ValueError(f"meta must be one of {META_VARIANTS}; got {self.meta!r}")
        if not math.isfinite(self.epsilon):
            raise ValueError(f"epsilon must be finite; got {self.epsilon!r}")
        for name in ("lambda0", "dual_lr", "lambda_max", "beta"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
        if self.lambda0 > self.lambda_max:
            raise ValueError(f"lambda0 ({self.lambda0}) must not exceed lambda_max ({self.lambda_max})")

    @property
    def episodes_per_outer_step(self) -> int:
        """How many episodes one outer step plays (the deviation search's, the regret's two, after and
        before, and the main iterations')."""
        return self.deviation_iterations + 2 + self.main_iterations

    @property
    def planner_updates(self) -> int:
        """How many planner updates ERMAS makes (one per main iteration), and so the length of MARL's
        continuation."""
        return self.outer_steps * self.main_iterations

    def settings(self) -> RunSettings:
        """The method module's view of this run: one run of four agents, dual updates from the start."""
        spec = RunSpec(epsilon=self.epsilon, lambda0=self.lambda0, meta=self.meta, beta=self.beta, continuity=False)
        return RunSettings.build([spec], torch.float64, N_AGENTS, self.lambda_max)


def continuation(economy: EconomyConfig, training: TwoLevelTraining) -> tuple[EconomyConfig, TwoLevelTraining]:
    """The economy and training with which a finished phase 2 goes on: no tax annealing (it is over) and the
    planner's entropy weight at its floor from the first iteration."""
    return replace(economy, tax_annealing=None), replace(training, planner_entropy_start=training.planner_entropy_end)


@dataclass
class RobustState(TrainingState):
    """:class:`~ermas.two_level.training.TrainingState` plus the agents' multipliers ``(4,)``, float64."""

    lambdas: torch.Tensor | None = None

    def to_dict(self) -> dict:
        return super().to_dict() | {"lambdas": self.lambdas}

    def load(self, saved: dict) -> None:
        super().load(saved)
        self.lambdas = saved["lambdas"].to(torch.float64)


def _flat(network: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in network.parameters()])


def meta_ascent(
    settings: RunSettings, lambdas: torch.Tensor, g_standard: torch.Tensor, path_grads: torch.Tensor
) -> torch.Tensor:
    """``(P,)`` float64: the direction a gradient meta variant adds to every minibatch of the agents' main PPO
    updates (:func:`ermas.rl.ppo.ppo_update`'s ``ascent``), in the advantages' units: each main update
    divides it by the spread of its episode's advantages, as PPO divides theirs.

    The main iterations already ascend the release's form: the normalised Lagrangian reward carries agent
    ``i``'s own reward, so its PPO step holds ``(-grad J_r + lambda_i g_0) / (1 + lambda_i)``. A variant whose
    own-reward term ``lambda_i d_i`` (:func:`ermas.method.own_reward_terms`) differs from ``lambda_i g_0``
    adds the difference, normalised the same way and averaged over the four agents that share the network::

        ascent = (1 / N) sum_i lambda_i (d_i - g_0,i) / (1 + lambda_i)

    an approximation of replacing the step's own-reward part by the variant's (Eq. 11 with Eq. 15-16 for
    ``paper``): the g's are estimated on other episodes than the main step's, and the vector is fixed for
    the whole update, outside PPO's ratio clipping (inside its gradient-norm clipping; see the book's
    two-level chapter). Zero for ``none`` and
    ``released``. ``lambdas (N,)``, ``g_standard (N, P)`` (g_0 per agent), ``path_grads (M + 1, N, P)``
    (g_1 .. g_{M+1}), all gradients from :func:`ermas.rl.ppo.policy_gradient` (advantages centred, unscaled).
    """
    terms = own_reward_terms(lambdas[None], settings.beta, g_standard[None], path_grads[:, None], len(lambdas))
    chosen = select_variant(terms, settings.meta)[0]
    standard = terms[META_VARIANTS.index("none"), 0]
    return ((chosen - standard) / (1 + lambdas[:, None])).mean(0)


def _agent_rows(batch: Batch, agent: int) -> Batch:
    """Agent ``agent``'s samples of a shared-policy batch (rows ordered step, environment, agent)."""
    return batch.take(torch.arange(agent, len(batch), N_AGENTS, device=batch.actions.device))


def train_robust(
    economy: EconomyConfig,
    training: TwoLevelTraining,
    robust: RobustTraining,
    start_from: str | os.PathLike,
    checkpoint: str | os.PathLike | None = None,
    progress: Progress = True,
    device: str | torch.device = "cpu",
) -> RobustState:
    """The ERMAS planner: ``robust.outer_steps`` outer steps (see the module docstring) from the agents and
    planner of the phase-2 checkpoint ``start_from``, under ``economy``'s rules (its tax model must be
    ``"planner"``) with ``training``'s PPO settings.

    With ``checkpoint`` set, the state is written atomically after every outer step and on Ctrl-C, and the
    same call resumes from it. ``history`` holds per outer step: ``lambda_i`` and ``regret_i`` of every agent
    (the multiplier after the step's dual update, the regret it used), the main iterations' mean
    productivity, equality, social welfare, agent and planner returns, and with a gradient meta variant
    ``meta_ascent_norm``, the length of the correction added to each main minibatch step (mean over the
    main iterations).
    """
    if economy.tax_model != "planner":
        raise ValueError(f"ERMAS trains a planner: economy.tax_model must be 'planner'; got {economy.tax_model!r}")
    economy, training = continuation(economy, training)
    env = Economy(training.n_envs, economy, eta=training.eta, seed=training.seed, device=device)
    if env.batch % N_AGENTS:
        raise ValueError(f"n_envs must be a multiple of {N_AGENTS} (one group of environments per agent's search)")
    agents, planner = build_networks(economy, training)
    start = saved_state(start_from)
    agents.load_state_dict(start["agents"]), planner.load_state_dict(start["planner"])
    agents.to(env.device), planner.to(env.device)
    agent_optimizer = torch.optim.Adam(agents.parameters(), lr=training.agent_ppo.lr)
    planner_optimizer = torch.optim.Adam(planner.parameters(), lr=training.planner_ppo.lr)
    generator = torch.Generator(device=env.device).manual_seed(training.seed + 2)
    settings = robust.settings()
    lambdas = torch.full((N_AGENTS,), robust.lambda0, dtype=torch.float64)
    state = RobustState(0, agents, agent_optimizer, planner, planner_optimizer, env, generator, {}, lambdas)
    run = {name: value for name, value in asdict(robust).items() if name != "outer_steps"}
    train_settings = {name: value for name, value in asdict(training).items() if name != "iterations"}
    fingerprint = {"economy": asdict(economy), "training": train_settings, "robust": run, "start": sha256(start_from)}
    saved = load_checkpoint(checkpoint, fingerprint)
    if saved is not None:
        state.load(saved)
    groups = torch.arange(env.batch).view(N_AGENTS, -1)
    gradient_meta = robust.meta in GRADIENT_META

    def outer_step() -> None:
        history = state.history
        # 1. deviation search: each agent's copy of the shared policy learns on its own reward alone
        deviations = [copy.deepcopy(agents) for _ in range(N_AGENTS)]
        optimizers = [torch.optim.Adam(d.parameters(), lr=training.agent_ppo.lr) for d in deviations]
        chunk_rows = training.agent_ppo.minibatch_size  # per pass of the policy gradients: a minibatch's memory

        def along_paths(batches: list[Batch]) -> torch.Tensor:  # (N, P): each deviation's own-reward gradient
            return torch.stack([policy_gradient(d, b, chunk_rows) for d, b in zip(deviations, batches, strict=True)])

        path: list[torch.Tensor] = []  # with a gradient variant: (N, P) policy gradients at each point of the paths
        for _ in range(robust.deviation_iterations):
            episode = play_episode(env, agents, planner, generator, training, deviations=deviations)
            if gradient_meta:
                path.append(along_paths(episode.deviations))
            for deviation, optimizer, batch in zip(deviations, optimizers, episode.deviations, strict=True):
                ppo_update(deviation, optimizer, batch, training.agent_ppo, training.agent_entropy, generator)
        # 2. regret from fresh episodes: own return with the copy acting minus with the shared policy acting
        # (with a gradient variant, the copies' gradients at the paths' ends g_{M+1} and the shared policy's g_0)
        after = play_episode(env, agents, planner, generator, training, deviations=deviations)
        own_after = torch.stack([after.own_returns[groups[i], i].mean() for i in range(N_AGENTS)]).cpu().double()
        if gradient_meta:
            path.append(along_paths(after.deviations))
        del after  # its batches are large; the main iterations play their own
        before = play_episode(env, agents, planner, generator, training)
        if gradient_meta:
            g_standard = torch.stack(
                [policy_gradient(agents, _agent_rows(before.agents, i), chunk_rows) for i in range(N_AGENTS)]
            )
        regret = regret_estimate(own_after, before.own_returns.mean(0).cpu().double())
        del before
        # 3. projected dual ascent on the multipliers
        state.lambdas = dual_step(settings, state.lambdas[None], regret[None], robust.dual_lr, robust.lambda_max)[0]
        # 4. the meta step: the release's pull away from each deviation, averaged over the agents sharing the
        # policy, or a gradient variant's correction to the main iterations' direction
        if robust.meta == "released":
            displacement = torch.stack([_flat(d) - _flat(agents) for d in deviations]).double()[None]
            pull = released_pull(settings.beta, state.lambdas[None], displacement)[0].mean(0)
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(_flat(agents) - pull.to(_flat(agents)), agents.parameters())
        ascent = None
        if gradient_meta:
            ascent = meta_ascent(settings, state.lambdas, g_standard.cpu().double(), torch.stack(path).cpu().double())
            ascent = ascent.to(device=env.device, dtype=torch.float32)
        # 5. main iterations: agents on the normalised Lagrangian reward, the planner on its own
        lam = state.lambdas.to(env.device, torch.float32)

        def mixed(own: torch.Tensor, planner_reward: torch.Tensor) -> torch.Tensor:
            return normalised_lagrangian_reward(own.float(), planner_reward.float(), lam)

        stats_sum: dict[str, float] = {}
        agent_ppo, agent_entropy = training.agent_ppo, training.agent_entropy
        for _ in range(robust.main_iterations):
            episode = play_episode(env, agents, planner, generator, training, agent_reward=mixed)
            step_ascent = None
            if ascent is not None:  # in this step's units: PPO divides the advantages by their spread
                step_ascent = ascent / (episode.agents.advantages.std() + 1e-8)
                episode.stats["meta_ascent_norm"] = float(step_ascent.norm())
            ppo_update(agents, agent_optimizer, episode.agents, agent_ppo, agent_entropy, generator, step_ascent)
            entropy = training.planner_entropy_end
            ppo_update(planner, planner_optimizer, episode.planner, training.planner_ppo, entropy, generator)
            for name, value in episode.stats.items():
                stats_sum[name] = stats_sum.get(name, 0.0) + value / robust.main_iterations
        for i in range(N_AGENTS):
            stats_sum[f"lambda_{i}"], stats_sum[f"regret_{i}"] = float(state.lambdas[i]), float(regret[i])
        for name, value in stats_sum.items():
            if not math.isfinite(value):
                raise FloatingPointError(f"ERMAS diverged in outer step {state.iteration}: {name} = {value}")
            history.setdefault(name, []).append(value)
        state.iteration += 1

    run_resumable(state, outer_step, robust.outer_steps, checkpoint, fingerprint, 1, progress, "ERMAS")
    return state


def continue_marl(
    economy: EconomyConfig,
    training: TwoLevelTraining,
    robust: RobustTraining,
    start_from: str | os.PathLike,
    checkpoint: str | os.PathLike | None = None,
    progress: Progress = True,
    device: str | torch.device = "cpu",
) -> TrainingState:
    """MARL's fair control for ERMAS: the same phase-2 checkpoint continued by plain two-level training for as
    many planner updates as ``robust`` makes (``outer_steps x main_iterations``)."""
    economy, training = continuation(economy, training)
    return train(
        economy,
        replace(training, iterations=robust.planner_updates),
        checkpoint,
        agents_from=start_from,
        planner_from=start_from,
        progress=progress,
        device=device,
    )
