"""The paper's evaluation of a tax policy (Section 5): new agents trained at a test eta, welfare read once
they have converged.

For a learned planner the planner is frozen (it acts, sampling from its policy, and is not updated; no tax
annealing) and new agents learn under it from scratch, or from given agents (the authors' release
fine-tunes). For US Federal and Saez the agents learn under the fixed scheme; Saez is scored only on
episodes whose rates all came from its formula (its buffer full when the episode began). The score is
the mean social welfare over the last ``window`` of the evaluation run; a run whose welfare is still
moving there is reported as not converged (:func:`converged`), never silently averaged.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

import numpy as np
import torch

from ermas.checkpoint import Progress
from ermas.economy import N_AGENTS, Economy, EconomyConfig
from ermas.economy.taxes import SAEZ_BUFFER_SIZE
from ermas.io import atomic_save
from ermas.rl.ppo import masked_categorical
from ermas.two_level.networks import AgentNetwork, PlannerNetwork
from ermas.two_level.training import TwoLevelTraining, build_networks, play_episode, saved_state, train

TEST_ETAS = (0.11, 0.19, 0.23, 0.27, 0.35)  # the paper's Figure 6


def window_length(n_iterations: int, window: float) -> int:
    """How many of a run's last iterations its ``window`` fraction covers (at least 2)."""
    return max(2, int(round(window * n_iterations)))


def converged(curve: np.ndarray, window: float = 0.2, tolerance: float = 0.05) -> bool:
    """Whether ``curve`` (one value per iteration) is flat over its last ``window`` fraction: the least-squares
    trend across that window moves the curve by less than ``tolerance`` of its mean level there."""
    tail = np.asarray(curve, dtype=np.float64)[-window_length(len(curve), window) :]
    slope = np.polyfit(np.arange(len(tail)), tail, 1)[0]
    return bool(abs(slope * (len(tail) - 1)) < tolerance * max(abs(tail.mean()), 1e-12))


@dataclass(frozen=True)
class EvaluationResult:
    """One evaluation run: the welfare score (mean over the scored iterations of the window), whether the
    welfare curve had converged, and how many iterations were scored."""

    welfare: float
    converged: bool
    scored: int


def score(history: dict[str, list[float]], saez: bool, window: float = 0.2) -> EvaluationResult:
    """The evaluation's result from a training run's ``history`` (see :func:`ermas.two_level.training.train`);
    a NaN welfare with nothing scored where no iteration qualifies (Saez's buffer never filled)."""
    welfare = np.asarray(history["social_welfare"])
    last = np.arange(len(welfare)) >= len(welfare) - window_length(len(welfare), window)
    if saez:
        last &= np.asarray(history["saez_formula"]) > 0
    if not last.any():  # Saez whose buffer never filled: nothing to score, and no convergence to claim
        return EvaluationResult(float("nan"), False, 0)
    return EvaluationResult(float(welfare[last].mean()), converged(welfare, window), int(last.sum()))


def evaluation_run(
    economy: EconomyConfig, training: TwoLevelTraining, eta: float
) -> tuple[EconomyConfig, TwoLevelTraining]:
    """The economy and training of an evaluation at ``eta``: no tax annealing, the planner frozen."""
    return replace(economy, tax_annealing=None), replace(training, eta=eta, planner_learns=False)


def evaluate(
    economy: EconomyConfig,
    training: TwoLevelTraining,
    eta: float,
    planner_from: str | os.PathLike | None = None,
    agents_from: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    progress: Progress = True,
    device: str | torch.device = "cpu",
    memory_from: str | os.PathLike | None = None,
) -> EvaluationResult:
    """Train new agents at ``eta`` under ``economy``'s taxes (a frozen planner from ``planner_from`` when its
    tax model is ``"planner"``) and score the welfare they reach. ``memory_from``: a checkpoint whose Saez
    model starts the run (:func:`warm_saez_memory`), so that Saez sets its rates by its formula from the
    first episode."""
    if not 0 < eta <= 1:
        raise ValueError(f"eta must lie in (0, 1]; got {eta!r}")
    if economy.tax_model == "planner" and planner_from is None:
        raise ValueError("evaluating a learned planner needs planner_from, the checkpoint of its training")
    frozen, run = evaluation_run(economy, training, eta)
    state = train(frozen, run, checkpoint, agents_from, planner_from, progress, device, memory_from)
    return score(state.history, saez=economy.tax_model == "saez")


@dataclass(frozen=True)
class PlannerDiagnostics:
    """A learned planner's sanity checks from one evaluation episode in each of ``n_envs`` environments.

    Attributes:
        entropy_ratio: the planner's mean entropy per bracket at the steps where it sets rates, divided by
            that of a uniform choice among the allowed rates (1: it has learned nothing; 0: deterministic).
        last_rates: ``(7,)`` the rates in force in the episode's last tax period, mean over environments.
        reward_sum: the planner's rewards summed over the episode, mean over environments.
        welfare_change: social welfare at the episode's end minus at its start, mean over environments
            (equal to ``reward_sum``: the planner's reward is the change in welfare of each step).
        periods_by_bracket: ``(7,)`` the agents' tax periods whose income reached each bracket (its highest),
            summed over environments: whether the brackets' cutoffs are within the incomes' reach.
    """

    entropy_ratio: float
    last_rates: tuple[float, ...]
    reward_sum: float
    welfare_change: float
    periods_by_bracket: tuple[int, ...]


def _frozen_policies(
    economy: EconomyConfig,
    training: TwoLevelTraining,
    eta: float,
    agents_state: dict[str, torch.Tensor],
    planner_state: dict[str, torch.Tensor] | None,
) -> tuple[EconomyConfig, TwoLevelTraining, AgentNetwork, PlannerNetwork | None]:
    """The economy and training of an evaluation at ``eta`` (:func:`evaluation_run`) and networks holding
    the given states."""
    frozen, run = evaluation_run(economy, training, eta)
    agents, planner = build_networks(frozen, run)
    agents.load_state_dict(agents_state)
    if (planner is None) != (planner_state is None):
        raise ValueError("a planner's state goes with an economy whose tax_model is 'planner', and only there")
    if planner is not None:
        planner.load_state_dict(planner_state)
    return frozen, run, agents, planner


def planner_diagnostics(
    economy: EconomyConfig,
    training: TwoLevelTraining,
    networks: dict[str, dict[str, torch.Tensor]],
    eta: float,
    n_envs: int = 16,
    seed: int = 0,
) -> PlannerDiagnostics:
    """Play one episode with the stored ``networks`` (``agents`` and ``planner`` state dicts) at ``eta``, the
    planner frozen and unannealed, and measure :class:`PlannerDiagnostics`."""
    if economy.tax_model != "planner":
        raise ValueError("planner diagnostics need an economy whose tax_model is 'planner'")
    frozen, run, agents, planner = _frozen_policies(economy, training, eta, networks["agents"], networks["planner"])
    env = Economy(n_envs, frozen, eta=eta, seed=seed)
    welfare_at_start = env.summary().social_welfare.mean().item()
    episode = play_episode(env, agents, planner, torch.Generator().manual_seed(seed), run)
    steps, stats = episode.planner, episode.stats
    deciding = steps.mask.sum(-1).gt(1).all(-1)  # the steps at which the planner sets rates
    with torch.no_grad():
        logits, _ = planner.evaluate({k: v[deciding] for k, v in steps.observations.items()}, steps.mask[deciding])
    mask = steps.mask[deciding]
    entropy = masked_categorical(logits, mask).entropy().mean().item()
    uniform = mask.sum(-1).double().log().mean().item()
    summary = env.summary()
    return PlannerDiagnostics(
        entropy_ratio=entropy / uniform,
        last_rates=tuple(round(float(r), 4) for r in env.rates.mean(0)),
        reward_sum=stats["planner_return"],
        welfare_change=summary.social_welfare.mean().item() - welfare_at_start,
        periods_by_bracket=tuple(int(n) for n in summary.periods_by_bracket.sum(0)),
    )


def replay_welfare(
    economy: EconomyConfig,
    training: TwoLevelTraining,
    agents_state: dict[str, torch.Tensor],
    planner_state: dict[str, torch.Tensor] | None,
    eta: float,
    n_envs: int,
    seed: int,
) -> float:
    """Social welfare at the end of one episode in each of ``n_envs`` environments at ``eta`` (mean over
    them), the agents and the planner (``None`` under a fixed scheme) acting by the given states and
    learning nothing: an evaluation's score replayed from its stored policies. Saez needs its model's
    buffer of incomes as well, which this does not take: its rates would be random until the buffer fills."""
    if economy.tax_model == "saez":
        raise ValueError("replaying Saez needs its buffer of incomes; replay_welfare takes policies only")
    if not 0 < eta <= 1:
        raise ValueError(f"eta must lie in (0, 1]; got {eta!r}")
    frozen, run, agents, planner = _frozen_policies(economy, training, eta, agents_state, planner_state)
    env = Economy(n_envs, frozen, eta=eta, seed=seed)
    play_episode(env, agents, planner, torch.Generator().manual_seed(seed), run)
    return env.summary().social_welfare.mean().item()


def uniform_planner(training: TwoLevelTraining) -> dict[str, torch.Tensor]:
    """The state dict of a planner that picks uniformly among the allowed choices of every bracket (its
    logits layer zero): the random-rate planner that a learned one must beat."""
    _, planner = build_networks(replace(EconomyConfig(), tax_model="planner"), training)
    with torch.no_grad():
        planner.logits.weight.zero_(), planner.logits.bias.zero_()
    return planner.state_dict()


def saez_warmup_episodes(economy: EconomyConfig) -> int:
    """The episodes :func:`warm_saez_memory` plays under ``economy``: every closed tax period adds one pair per
    agent to each environment's buffer, until it holds its 500."""
    pairs_per_episode = N_AGENTS * (economy.episode_length // economy.tax_period)
    return math.ceil(SAEZ_BUFFER_SIZE / pairs_per_episode)


def warm_saez_memory(
    economy: EconomyConfig, training: TwoLevelTraining, agents_from: str | os.PathLike, checkpoint: str | os.PathLike
) -> int:
    """Fill the Saez model's buffer of every environment: play the agents of ``agents_from`` (frozen) under
    ``economy`` (tax model ``"saez"``) for :func:`saez_warmup_episodes`, after which each buffer holds its 500
    (income, rate) pairs (checked), then write the economy's memory to ``checkpoint`` for :func:`evaluate`'s
    ``memory_from``. Returns the episodes played.

    Without it a short evaluation never reaches the formula (its random rates are not Saez's policy): with
    4 agents and 4 tax periods per episode a buffer fills in 32 episodes."""
    if economy.tax_model != "saez":
        raise ValueError(f"warming the Saez memory needs tax_model='saez'; got {economy.tax_model!r}")
    env = Economy(training.n_envs, economy, eta=training.eta, seed=training.seed)
    agents, _ = build_networks(economy, training)
    agents.load_state_dict(saved_state(agents_from)["agents"])
    generator = torch.Generator().manual_seed(training.seed + 3)
    episodes = saez_warmup_episodes(economy)
    for _ in range(episodes):
        play_episode(env, agents, None, generator, training)
    if not bool(env.saez.full.all()):
        raise RuntimeError(f"the Saez buffers are not full after {episodes} episodes: saez_warmup_episodes is wrong")
    atomic_save({"state": {"economy": env.memory()}, "episodes": episodes}, checkpoint)
    return episodes
