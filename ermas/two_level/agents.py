"""Training the economy's agents by PPO under a fixed tax scheme (phase 1 of the two-level AI Economist).

One iteration plays one whole episode in each of ``n_envs`` environments with the agents' shared network,
then takes one PPO update on the ``n_envs x 4 x episode_length`` agent-steps it collected. Episodes end
every environment at once, so an iteration starts from a reset and its state is only the networks, the
optimiser and the generators: :func:`train_agents` checkpoints it and resumes bit for bit.

The tax scheme is the economy's own (``"none"`` for phase 1's free market, ``"us_federal"`` or
``"saez"`` for the baselines' agents); the learned planner joins in phase 2.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field

import torch

from ermas.checkpoint import load_checkpoint, run_resumable
from ermas.economy import Economy, EconomyConfig, observe
from ermas.rl.ppo import Batch, PPOConfig, gae, masked_categorical, ppo_update, sample_actions
from ermas.two_level.networks import AgentNetwork


@dataclass(frozen=True)
class AgentTraining:
    """What one run of agent training does (everything but the economy's rules)."""

    iterations: int
    n_envs: int = 64
    eta: float = 0.23  # the agents' isoelastic utility parameter
    seed: int = 0
    ppo: PPOConfig = field(default_factory=PPOConfig)
    entropy_coef: float = 0.025
    width: int = 128

    def __post_init__(self) -> None:
        for name in ("iterations", "n_envs", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if not 0 < self.eta <= 1:
            raise ValueError(f"eta must lie in (0, 1]; got {self.eta!r}")
        if not (math.isfinite(self.entropy_coef) and self.entropy_coef >= 0):
            raise ValueError(f"entropy_coef must be a finite number >= 0; got {self.entropy_coef!r}")


@dataclass
class AgentState:
    """Everything needed to continue agent training after ``iteration`` finished iterations (each one a
    whole episode, so the economy's state between them is its cross-episode memory only)."""

    iteration: int
    network: AgentNetwork
    optimizer: torch.optim.Optimizer
    env: Economy
    sample_generator: torch.Generator
    history: dict[str, list[float]]

    def to_dict(self) -> dict:
        return {
            "iteration": self.iteration,
            "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "economy": self.env.memory(),
            "sample_generator": self.sample_generator.get_state(),
            "history": self.history,
        }

    def load(self, saved: dict) -> None:
        self.iteration = saved["iteration"]
        self.network.load_state_dict(saved["network"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.env.load_memory(saved["economy"])
        self.sample_generator.set_state(saved["sample_generator"])
        self.history = saved["history"]


def agent_inputs(env: Economy) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The agents' observations ``{"view": (B*4, 9, w, w), "flat": (B*4, 135)}`` and masks ``(B*4, 1, 50)``."""
    obs = observe(env)
    b, a = obs.agent_mask.shape[:2]
    view = obs.agent_spatial.reshape(b * a, *obs.agent_spatial.shape[2:])
    return {"view": view, "flat": obs.agent_flat.reshape(b * a, -1)}, obs.agent_mask.reshape(b * a, 1, -1)


def play_episode(
    env: Economy, network: AgentNetwork, generator: torch.Generator, ppo: PPOConfig
) -> tuple[Batch, dict[str, float]]:
    """One episode in every environment (from a reset); returns the agents' PPO batch and its statistics.

    Rewards are the change in each agent's utility per step; the episode's end cuts the advantages.
    """
    env.reset()
    views, flats, masks, actions, log_probs, values, rewards = [], [], [], [], [], [], []
    done = False
    while not done:
        inputs, mask = agent_inputs(env)
        with torch.no_grad():
            logits, value = network.evaluate(inputs, mask)
            dist = masked_categorical(logits, mask)
            action = sample_actions(dist, generator)
            log_probs.append(dist.log_prob(action).sum(-1))
        result = env.step(action.view(env.batch, -1))
        done = result.done
        views.append(inputs["view"]), flats.append(inputs["flat"]), masks.append(mask)
        actions.append(action), values.append(value), rewards.append(result.rewards.reshape(-1).float())
    steps = len(rewards)
    rewards_t, values_t = torch.stack(rewards), torch.stack(values)
    dones = torch.zeros(steps, rewards_t.shape[1], dtype=torch.bool)
    dones[-1] = True
    advantages = gae(rewards_t, values_t, dones, torch.zeros_like(values_t[0]), ppo.gamma, ppo.gae_lambda)
    batch = Batch(
        {"view": torch.cat(views), "flat": torch.cat(flats)},
        torch.cat(masks),
        torch.cat(actions),
        torch.cat(log_probs),
        values_t.flatten(),
        advantages.flatten(),
        (advantages + values_t).flatten(),
    )
    summary = env.summary()
    stats = {
        "productivity": summary.productivity.mean().item(),
        "equality": summary.equality.mean().item(),
        "social_welfare": summary.social_welfare.mean().item(),
        "agent_return": rewards_t.sum(0).mean().item(),
    }
    return batch, stats


def train_agents(
    economy: EconomyConfig,
    training: AgentTraining,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
) -> AgentState:
    """Train the agents' shared network for ``training.iterations`` episodes under ``economy``'s taxes.

    With ``checkpoint`` set, the state is written there atomically after every iteration and on Ctrl-C, and
    a later call with the same arguments resumes from it (the same bits as a run without interruption).
    Statistics per iteration are in ``history``: productivity, equality, social welfare, agent return
    (means over environments), and the PPO losses.
    """
    with torch.random.fork_rng(devices=[]):  # the initial weights from the run's seed; the global RNG untouched
        torch.manual_seed(training.seed)
        network = AgentNetwork(view_side=2 * economy.observation_range + 1, width=training.width)
    optimizer = torch.optim.Adam(network.parameters(), lr=training.ppo.lr)
    env = Economy(training.n_envs, economy, eta=training.eta, seed=training.seed)
    sampler = torch.Generator().manual_seed(training.seed + 1)
    state = AgentState(0, network, optimizer, env, sampler, {})
    fingerprint = {"economy": asdict(economy), "training": asdict(training)}
    saved = load_checkpoint(checkpoint, fingerprint)
    if saved is not None:
        state.load(saved)

    def step() -> None:
        batch, stats = play_episode(env, network, sampler, training.ppo)
        stats |= ppo_update(network, optimizer, batch, training.ppo, training.entropy_coef, sampler)
        for name, value in stats.items():
            state.history.setdefault(name, []).append(value)
        state.iteration += 1

    run_resumable(state, step, training.iterations, checkpoint, fingerprint, 1, progress, "agents")
    return state
