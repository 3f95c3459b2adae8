"""Training the two-level AI Economist by PPO: the agents alone (phase 1), then the agents and the tax planner
together (phase 2).

One iteration plays one whole episode in each of ``n_envs`` environments, then takes one PPO update of
the agents' shared network on the ``n_envs x 4 x episode_length`` agent-steps, and, when the economy's
tax model is ``"planner"``, one of the planner's network on its ``n_envs x episode_length`` steps (the
planner acts every step; outside a tax period's first step its mask allows only "keep", which carries no
gradient). Episodes end every environment at once, so an iteration starts from a reset and the state
between iterations is the networks, the optimisers, the generators and the economy's cross-episode
memory: :func:`train` checkpoints it and resumes bit for bit.

Phase 1 is ``tax_model="none"`` (the free market); the baselines' agents train under ``"us_federal"`` or
``"saez"``; phase 2 is ``"planner"`` with tax annealing, starting from phase 1's agents
(``agents_from``), the planner's entropy weight falling linearly over ``planner_entropy_iters``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ermas.checkpoint import Progress, load_checkpoint, run_resumable
from ermas.economy import Economy, EconomyConfig, observe
from ermas.manifest import sha256
from ermas.rl.ppo import Batch, PPOConfig, gae, masked_categorical, ppo_update, sample_actions, take_rows
from ermas.two_level.networks import AGENT_CHANNELS, AgentNetwork, PlannerNetwork, agent_inputs_from_codes


@dataclass(frozen=True)
class TwoLevelTraining:
    """What one training run does (everything but the economy's rules). The PPO defaults are the
    authors' release's settings: agents at lr 3e-4 with entropy 0.025, the planner at lr 1e-4."""

    iterations: int
    n_envs: int = 64
    eta: float = 0.23  # the agents' isoelastic utility parameter
    seed: int = 0
    agent_ppo: PPOConfig = field(default_factory=PPOConfig)
    planner_ppo: PPOConfig = field(default_factory=lambda: PPOConfig(lr=1e-4))
    agent_entropy: float = 0.025
    planner_entropy_start: float = 2.0
    planner_entropy_end: float = 0.125
    planner_entropy_iters: int = 1000  # episodes over which the planner's entropy weight falls
    agent_width: int = 128
    agent_shared_trunk: bool = False  # the agents' value head on the policy's tower (see AgentNetwork)
    planner_width: int = 256
    planner_learns: bool = True  # False: the planner acts but is not updated (evaluation of a frozen planner)

    def __post_init__(self) -> None:
        for name in ("iterations", "n_envs", "agent_width", "planner_width", "planner_entropy_iters"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if not 0 < self.eta <= 1:
            raise ValueError(f"eta must lie in (0, 1]; got {self.eta!r}")
        for name in ("agent_entropy", "planner_entropy_start", "planner_entropy_end"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")

    def planner_entropy(self, iteration: int) -> float:
        """The planner's entropy weight in ``iteration`` (0-based): linear from start to end, then flat."""
        progress = min(iteration / self.planner_entropy_iters, 1.0)
        return self.planner_entropy_start + progress * (self.planner_entropy_end - self.planner_entropy_start)


def saved_state(path: str | os.PathLike) -> dict:
    """The state in a checkpoint written by :func:`train` (tensors and plain containers only: no code runs)."""
    return torch.load(path, weights_only=True, map_location="cpu")["state"]


class Trajectory:
    """One learner's steps of an episode in every environment, turned into a PPO batch at its end.

    Each recorded quantity (what the learner saw, its mask, action, log-probability, value and reward) goes
    into a ``(T, N, ...)`` buffer allocated at the first step, so the episode's batch is a view of the
    buffers, not a copy of them. A producer may write a step's observation into its row itself
    (:meth:`next_row`), which then is not copied again."""

    def __init__(self, length: int) -> None:
        self.length = length  # steps in the episode
        self.steps = 0  # steps acted in so far
        self.rewarded = 0  # steps whose rewards are recorded
        self.observations: dict[str, torch.Tensor] = {}  # the network's inputs, by name
        self.buffers: dict[str, torch.Tensor] = {}  # mask, action, log_prob, value and reward

    def next_row(self, name: str) -> torch.Tensor | None:
        """Where the coming step's observation ``name`` will be recorded (``None`` before the first step, and
        once every step of the episode has been played)."""
        buffer = self.observations.get(name)
        return None if buffer is None or self.steps == self.length else buffer[self.steps]

    def _record(self, buffers: dict[str, torch.Tensor], name: str, value: torch.Tensor, step: int) -> None:
        """``value`` into row ``step`` of ``buffers[name]``, a ``(T, *value.shape)`` buffer made at the first
        step; every later step's value must have the first one's shape."""
        if name not in buffers:
            buffers[name] = torch.empty(self.length, *value.shape, dtype=value.dtype, device=value.device)
        row = buffers[name][step]
        if value.shape != row.shape:
            raise ValueError(
                f"{name} of step {step} has shape {tuple(value.shape)}; the episode's is {tuple(row.shape)}"
            )
        if (row.data_ptr(), row.stride()) != (value.data_ptr(), value.stride()):  # not written in place
            row.copy_(value)

    def act(self, network: torch.nn.Module, inputs: dict, mask: torch.Tensor, generator: torch.Generator):
        """Sample the learner's actions ``(N, K)`` for one step and record what it saw and did."""
        if self.steps == self.length:
            raise ValueError(f"the episode has {self.length} steps; a step more was played")
        with torch.no_grad():
            logits, value = network.evaluate(inputs, mask)
            dist = masked_categorical(logits, mask)
            action = sample_actions(dist, generator)
        recorded = {"mask": mask, "action": action, "log_prob": dist.log_prob(action).sum(-1), "value": value}
        for buffers, values in ((self.observations, inputs), (self.buffers, recorded)):
            for name, value in values.items():
                self._record(buffers, name, value, self.steps)
        self.steps += 1
        return action

    def reward(self, reward: torch.Tensor) -> None:
        """The rewards of the step last acted in (once per step)."""
        if self.rewarded != self.steps - 1:
            raise ValueError(f"rewards for step {self.rewarded} come after acting in it, once; {self.steps} acted in")
        self._record(self.buffers, "reward", reward.reshape(-1).float(), self.rewarded)
        self.rewarded += 1

    def batch(self, ppo: PPOConfig) -> Batch:
        """The episode's samples with GAE advantages, cut at the episode's end."""
        if self.rewarded != self.length:
            raise ValueError(f"the episode has {self.length} steps; {self.rewarded} were played and rewarded")
        rewards, values = self.buffers["reward"], self.buffers["value"]
        dones = torch.zeros_like(rewards, dtype=torch.bool)
        dones[-1] = True
        advantages = gae(rewards, values, dones, torch.zeros_like(values[0]), ppo.gamma, ppo.gae_lambda)
        return Batch(
            {name: obs.flatten(0, 1) for name, obs in self.observations.items()},
            self.buffers["mask"].flatten(0, 1),
            self.buffers["action"].flatten(0, 1),
            self.buffers["log_prob"].flatten(0, 1),
            values.flatten(),
            advantages.flatten(),
            (advantages + values).flatten(),
        )

    def mean_return(self) -> float:
        """Summed reward of the episode, averaged over the learner's copies (agents x environments)."""
        return self.buffers["reward"].sum(0).mean().item()


@dataclass
class Episode:
    """What :func:`play_episode` returns.

    Attributes:
        agents: the agents' PPO batch (their rewards as given to them), ``B x 4 x T`` samples.
        planner: the planner's batch, ``B x T`` samples (``None`` without a planner).
        stats: means over environments: productivity, equality, social welfare, the agents' (and planner's)
            mean episode return.
        own_returns: ``(B, 4)`` each agent's own reward (its utility's change) summed over the episode,
            whatever reward it learned from.
        deviations: with deviating policies, one batch per deviation ``i``: agent ``i``'s samples in the
            ``i``-th group of environments, rewarded by its own reward.
    """

    agents: Batch
    planner: Batch | None
    stats: dict[str, float]
    own_returns: torch.Tensor
    deviations: list[Batch]


def play_episode(
    env: Economy,
    agents: AgentNetwork,
    planner: PlannerNetwork | None,
    generator: torch.Generator,
    training: TwoLevelTraining,
    agent_reward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    deviations: Sequence[AgentNetwork] = (),
) -> Episode:
    """One episode in every environment, from a reset.

    ``agent_reward(rewards (B, 4), planner_reward (B,)) -> (B, 4)``: what the agents learn from in place of
    their own rewards (ERMAS's mixed reward). ``deviations``: one policy per agent ``i`` (four at most); the
    environments are cut into as many equal groups, and in group ``i`` agent ``i`` acts by ``deviations[i]``
    instead of the shared policy (ERMAS's deviation search; the environments must divide evenly).
    """
    env.reset()
    if env.batch % max(1, len(deviations)):
        raise ValueError(f"{env.batch} environments do not split into {len(deviations)} equal groups")
    groups = torch.arange(env.batch, device=env.device).view(max(1, len(deviations)), -1)
    length = env.config.episode_length
    agent_steps, planner_steps = Trajectory(length), Trajectory(length)
    deviation_steps = [Trajectory(length) for _ in deviations]
    own: list[torch.Tensor] = []
    done = False
    while not done:
        obs = observe(env)
        b, a = obs.agent_mask.shape[:2]
        spatial = agent_steps.next_row("spatial")  # written in place, where the record keeps it
        inputs = agent_inputs_from_codes(obs.agent_codes.flatten(0, 1), obs.agent_flat.flatten(0, 1), spatial)
        actions = agent_steps.act(agents, inputs, obs.agent_mask.reshape(b * a, 1, -1), generator).view(b, a)
        rates = None
        if planner is not None:
            rates = planner_steps.act(planner, {"flat": obs.planner_flat}, obs.planner_mask, generator)
        if deviations:
            actions = actions.clone()  # the shared policy's record keeps its own draws
        for i, (deviation, steps) in enumerate(zip(deviations, deviation_steps, strict=True)):
            rows = groups[i] * a + i  # agent i's samples in group i
            seen = {name: take_rows(value, rows) for name, value in inputs.items()}
            actions[groups[i], i] = steps.act(deviation, seen, obs.agent_mask[groups[i], i, None], generator)[:, 0]
        result = env.step(actions, rates)
        own.append(result.rewards)
        for i, steps in enumerate(deviation_steps):
            steps.reward(result.rewards[groups[i], i])
        rewards = result.rewards if agent_reward is None else agent_reward(result.rewards, result.planner_reward)
        agent_steps.reward(rewards)
        if planner is not None:
            planner_steps.reward(result.planner_reward)
        done = result.done
    summary = env.summary()
    stats = {
        "productivity": summary.productivity.mean().item(),
        "equality": summary.equality.mean().item(),
        "social_welfare": summary.social_welfare.mean().item(),
        "agent_return": agent_steps.mean_return(),
    }
    planner_batch = None
    if planner is not None:
        stats["planner_return"] = planner_steps.mean_return()
        planner_batch = planner_steps.batch(training.planner_ppo)
    return Episode(
        agent_steps.batch(training.agent_ppo),
        planner_batch,
        stats,
        torch.stack(own).sum(0),
        [steps.batch(training.agent_ppo) for steps in deviation_steps],
    )


@dataclass
class TrainingState:
    """Everything needed to continue training after ``iteration`` finished iterations."""

    iteration: int
    agents: AgentNetwork
    agent_optimizer: torch.optim.Optimizer
    planner: PlannerNetwork | None
    planner_optimizer: torch.optim.Optimizer | None
    env: Economy
    generator: torch.Generator
    history: dict[str, list[float]]

    def to_dict(self) -> dict:
        saved = {
            "iteration": self.iteration,
            "agents": self.agents.state_dict(),
            "agent_optimizer": self.agent_optimizer.state_dict(),
            "economy": self.env.memory(),
            "generator": self.generator.get_state(),
            "history": self.history,
        }
        if self.planner is not None:
            saved |= {"planner": self.planner.state_dict(), "planner_optimizer": self.planner_optimizer.state_dict()}
        return saved

    def load(self, saved: dict) -> None:
        self.iteration = saved["iteration"]
        self.agents.load_state_dict(saved["agents"])
        self.agent_optimizer.load_state_dict(saved["agent_optimizer"])
        if self.planner is not None:
            self.planner.load_state_dict(saved["planner"])
            self.planner_optimizer.load_state_dict(saved["planner_optimizer"])
        self.env.load_memory(saved["economy"])
        self.generator.set_state(saved["generator"])
        self.history = saved["history"]


def build_networks(
    economy: EconomyConfig, training: TwoLevelTraining, agent_channels: tuple[int, int] = AGENT_CHANNELS
) -> tuple[AgentNetwork, PlannerNetwork | None]:
    """The run's agent network and (where the economy's tax model is ``"planner"``) planner network, their
    initial weights drawn from the run's seed without touching torch's global generator. ``agent_channels``:
    the agents' convolutions (the recipe's in every run; other sizes for speed measurements)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(training.seed)
        agents = AgentNetwork(
            view_side=2 * economy.observation_range + 1,
            width=training.agent_width,
            shared_trunk=training.agent_shared_trunk,
            channels=agent_channels,
        )
        planner = PlannerNetwork(width=training.planner_width) if economy.tax_model == "planner" else None
    return agents, planner


def train(
    economy: EconomyConfig,
    training: TwoLevelTraining,
    checkpoint: str | os.PathLike | None = None,
    agents_from: str | os.PathLike | None = None,
    planner_from: str | os.PathLike | None = None,
    progress: Progress = True,
    device: str | torch.device = "cpu",
    memory_from: str | os.PathLike | None = None,
) -> TrainingState:
    """Train for ``training.iterations`` episodes per environment under ``economy``'s rules, on ``device``
    (the economy, the networks and the random generator; a checkpoint resumes on the device it was
    written on).

    ``agents_from``: a finished run's checkpoint whose agents start this run (phase 2 from phase 1);
    ``planner_from``: one whose planner starts it (with ``planner_learns=False``, the frozen planner of an
    evaluation); ``memory_from``: one whose Saez model (its buffer of incomes and its estimates) starts it
    (see :func:`ermas.two_level.evaluation.warm_saez_memory`).
    With ``checkpoint`` set, the state is written there atomically after every iteration and on Ctrl-C,
    and a later call with the same arguments resumes from it (the same bits as a run without
    interruption), or extends it when it asks for more iterations. ``history`` holds per iteration:
    productivity, equality, social welfare, the agents' (and planner's) mean episode return, and the PPO
    statistics of the last minibatch; ``saez_formula`` is 1 where the episode's Saez rates all came from
    the formula (its buffer was full when the episode began).
    """
    env = Economy(training.n_envs, economy, eta=training.eta, seed=training.seed, device=device)  # checks the device
    agents, planner = build_networks(economy, training)
    agents.to(env.device)
    if planner is not None:
        planner.to(env.device)
    # the starting networks' files are part of what a checkpoint was written for
    start = {
        name: None if path is None else sha256(Path(path))
        for name, path in (("agents_from", agents_from), ("planner_from", planner_from))
    }
    if agents_from is not None:
        agents.load_state_dict(saved_state(agents_from)["agents"])
    if planner_from is not None:
        if planner is None:
            raise ValueError("planner_from needs an economy whose tax_model is 'planner'")
        planner.load_state_dict(saved_state(planner_from)["planner"])
    if memory_from is not None:
        memory = env.memory()
        memory["saez"] = saved_state(memory_from)["economy"]["saez"]
        env.load_memory(memory)
        start["memory_from"] = sha256(Path(memory_from))
    agent_optimizer = torch.optim.Adam(agents.parameters(), lr=training.agent_ppo.lr)
    planner_optimizer = None if planner is None else torch.optim.Adam(planner.parameters(), lr=training.planner_ppo.lr)
    generator = torch.Generator(device=env.device).manual_seed(training.seed + 1)
    state = TrainingState(0, agents, agent_optimizer, planner, planner_optimizer, env, generator, {})
    # everything but the length: a finished run is extended by asking for more iterations
    settings = {name: value for name, value in asdict(training).items() if name != "iterations"}
    fingerprint = {"economy": asdict(economy), "training": settings} | start
    if env.device.type != "cpu":  # a generator's state is the device's own: resume where it was written
        fingerprint["device"] = env.device.type
    saved = load_checkpoint(checkpoint, fingerprint)
    if saved is not None:
        state.load(saved)

    def step() -> None:
        # with a full buffer at the episode's start, every period of it takes Saez's formula, not random rates
        saez_formula = float(env.saez.full.all())
        episode = play_episode(env, agents, planner, generator, training)
        agent_batch, planner_batch, stats = episode.agents, episode.planner, episode.stats
        stats["saez_formula"] = saez_formula
        agent_stats = ppo_update(
            agents, agent_optimizer, agent_batch, training.agent_ppo, training.agent_entropy, generator
        )
        stats |= {f"agent_{name}": value for name, value in agent_stats.items()}
        if training.planner_learns and planner is not None:
            entropy = training.planner_entropy(state.iteration)
            planner_stats = ppo_update(
                planner, planner_optimizer, planner_batch, training.planner_ppo, entropy, generator
            )
            stats |= {f"planner_{name}": value for name, value in planner_stats.items()}
        for name, value in stats.items():
            if not math.isfinite(value):
                raise FloatingPointError(f"training diverged in iteration {state.iteration}: {name} = {value}")
            state.history.setdefault(name, []).append(value)
        state.iteration += 1

    run_resumable(state, step, training.iterations, checkpoint, fingerprint, 1, progress, "two-level training")
    return state
