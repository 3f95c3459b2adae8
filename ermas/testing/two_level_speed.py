"""End-to-end training throughput of the Figure 6 agents, this package's economy against the ai-economist
package with the same networks and the same PPO (used by ``benchmarks/two_level_speed.py`` and the book's
two-level chapter).

A unit of work is one environment step with learning included: the agents' network acting for the four
agents, the step, the observations, and the step's share of the PPO update that follows each episode.
Ours plays its environments as one batch; the package steps its environments one at a time (as the AI
Economist's workers do), its observations converted to the same network inputs. Each side first plays
``warmup`` episodes with their updates untimed: the first backward pass and the first batches allocate their
memory, which would otherwise weigh on a short measurement (the rate and its shares count only the episodes
after; the economy alone is measured apart, from a fresh environment). The laptop preset's networks and PPO
settings, on its free-market economy (phase 1) on the given map; the agents' network can be resized on both
sides (``channels``, ``width``) to measure what a cheaper network would change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from ermas.checks import check_int
from ermas.economy import N_AGENTS, Economy, EconomyConfig, observe
from ermas.rl.ppo import Batch, ppo_update
from ermas.testing.economy_reference import make_reference_env, package_agent_flat
from ermas.two_level.networks import AGENT_CHANNELS, agent_inputs
from ermas.two_level.presets import preset
from ermas.two_level.training import Trajectory, TwoLevelTraining, build_networks, play_episode


@dataclass(frozen=True)
class _Rate:
    """Environment steps per second with learning; the shares of the time are the subclasses'."""

    steps_per_second: float

    def seconds_per_step(self, share: float) -> float:
        """The seconds per environment step of a ``share`` of the time (e.g. ``update_share``)."""
        return share / self.steps_per_second


@dataclass(frozen=True)
class Throughput(_Rate):
    """Environment steps per second with learning, and the shares of the time: the PPO update, the
    economy alone (step and observations, measured apart with random actions), and the network's forward
    pass while acting (measured apart on the episode's own inputs, in the acting loop's batches); acting is
    everything but the update and the economy, the forward pass included."""

    update_share: float
    simulator_share: float
    forward_share: float

    @property
    def acting_share(self) -> float:
        return 1.0 - self.update_share - self.simulator_share

    @property
    def network_share(self) -> float:
        """The agents' network's share: the update and the acting forward pass (the rest is the economy,
        and acting's bookkeeping around the forward pass)."""
        return self.update_share + self.forward_share

    def ceiling(self, baseline_steps_per_second: float) -> float:
        """The largest ratio over a baseline with this network: the baseline's seconds per step over this
        run's network time alone (the update, and the acting forward pass), which bounds this run's time per
        step from below; reached only if the economy, sampling and bookkeeping cost nothing."""
        return self._baseline_over(self.network_share, baseline_steps_per_second)

    def ceiling_any_cheaper_network(self, baseline_steps_per_second: float) -> float:
        """The largest ratio over a baseline with a network no costlier than this one on both sides: the
        baseline's seconds per step (which a cheaper network on its side only lowers) over this run's time
        outside the network (the economy, and acting's bookkeeping around the forward pass), which no network
        changes; counting the whole update as the network's makes the bound looser, never wrong."""
        return self._baseline_over(1.0 - self.network_share, baseline_steps_per_second)

    def _baseline_over(self, share: float, baseline_steps_per_second: float) -> float:
        """The baseline's seconds per step over this run's for a ``share`` of its time."""
        return 1.0 / (baseline_steps_per_second * self.seconds_per_step(share))


@dataclass(frozen=True)
class PackageThroughput(_Rate):
    """The package's environment steps per second with learning, and the shares of its time: its
    environments' own steps and resets (with turning the actions into its dicts and recording the rewards),
    turning their observations into the network's inputs, acting (the forward pass and sampling, in batches
    of its few environments' agents), and the PPO update."""

    stepping_share: float
    converting_share: float
    acting_share: float
    update_share: float


def comparison(theirs: PackageThroughput, mine: Throughput) -> list[str]:
    """The lines that report one comparison (the benchmark's and the book's): the rates, the ratio against
    the 20x goal and the two ceilings, each side's time per step and its split, and the simulators alone (ours
    measured apart with random actions, the package's inside its training loop)."""
    ratio = mine.steps_per_second / theirs.steps_per_second
    simulators = theirs.seconds_per_step(theirs.stepping_share) / mine.seconds_per_step(mine.simulator_share)
    return [
        f"package {theirs.steps_per_second:,.0f} steps/s, this package {mine.steps_per_second:,.0f}: ratio "
        f"{ratio:.1f}x, the 20x goal {'met' if ratio >= 20 else 'not met'}; ceiling with these networks "
        f"{mine.ceiling(theirs.steps_per_second):.0f}x (the package's time per step over our networks' alone), "
        f"with any cheaper network {mine.ceiling_any_cheaper_network(theirs.steps_per_second):.0f}x (over our "
        "time outside the network)",
        f"  package's time per step, {theirs.seconds_per_step(1.0) * 1e6:,.0f} us: {theirs.stepping_share:.0%} its "
        f"own steps, {theirs.converting_share:.0%} its observations into the network's inputs, "
        f"{theirs.acting_share:.0%} acting, {theirs.update_share:.0%} the PPO update",
        f"  our time per step, {mine.seconds_per_step(1.0) * 1e6:,.0f} us: {mine.simulator_share:.0%} the economy, "
        f"{mine.acting_share:.0%} acting ({mine.forward_share:.0%} the network's forward pass), "
        f"{mine.update_share:.0%} the PPO update",
        f"  the simulators alone: the package's own steps take {simulators:.0f}x our economy's time per step",
    ]


def laptop_phase1(width: int | None = None, **changes: int) -> TwoLevelTraining:
    """The laptop preset's phase-1 training, its agents' dense layers ``width`` units wide where given."""
    training = replace(preset("laptop").phase1, **changes)
    return training if width is None else replace(training, agent_width=width)


def free_market(layout: str) -> EconomyConfig:
    """The laptop preset's phase-1 economy on ``layout``."""
    return replace(preset("laptop").free_market(), layout=layout)


def simulator_only(config: EconomyConfig, envs: int, steps: int) -> float:
    """Seconds per environment step of the economy alone: the step and the observations, with uniformly
    random allowed actions (no network)."""
    env = Economy(envs, config, seed=0)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(steps):
        mask = observe(env).agent_mask.flatten(0, 1).double()
        env.step(torch.multinomial(mask, 1, generator=generator).view(envs, -1))
    return (time.perf_counter() - start) / (steps * envs)


def _check_episodes(iterations: int, warmup: int) -> None:
    check_int("iterations", iterations, 1, 10**6)
    check_int("warmup", warmup, 0, 10**6)


def forward_only(network: torch.nn.Module, batch: Batch, rows: int) -> float:
    """Seconds of the network's forward pass over ``batch``'s inputs, ``rows`` at a time (no gradients)."""
    start = time.perf_counter()
    with torch.no_grad():
        for first in range(0, len(batch), rows):
            part = slice(first, first + rows)
            network.evaluate({name: obs[part] for name, obs in batch.observations.items()}, batch.mask[part])
    return time.perf_counter() - start


def ours(
    config: EconomyConfig,
    envs: int,
    iterations: int,
    channels: tuple[int, int] = AGENT_CHANNELS,
    width: int | None = None,
    warmup: int = 1,
) -> Throughput:
    """This package's throughput on ``envs`` environments in one batch over ``iterations`` episodes after
    ``warmup`` untimed ones, the agents' network with convolutions of ``channels`` and dense layers ``width``
    wide (the preset's)."""
    _check_episodes(iterations, warmup)
    training = laptop_phase1(width, iterations=iterations, n_envs=envs)
    env = Economy(envs, config, seed=0)
    network, _ = build_networks(config, training, channels)
    optimizer = torch.optim.Adam(network.parameters(), lr=training.agent_ppo.lr)
    generator = torch.Generator().manual_seed(0)
    playing = updating = forward = 0.0
    for _ in range(warmup):
        batch = play_episode(env, network, None, generator, training).agents
        ppo_update(network, optimizer, batch, training.agent_ppo, training.agent_entropy, generator)
    for _ in range(iterations):
        start = time.perf_counter()
        batch = play_episode(env, network, None, generator, training).agents
        middle = time.perf_counter()
        ppo_update(network, optimizer, batch, training.agent_ppo, training.agent_entropy, generator)
        playing, updating = playing + middle - start, updating + time.perf_counter() - middle
        forward += forward_only(network, batch, envs * N_AGENTS)
    total = playing + updating
    rate = iterations * envs * env.config.episode_length / total
    simulator = simulator_only(config, envs, min(100, config.episode_length))
    return Throughput(rate, updating / total, simulator * rate, forward / total)


def package(
    config: EconomyConfig,
    envs: int,
    iterations: int,
    channels: tuple[int, int] = AGENT_CHANNELS,
    width: int | None = None,
    warmup: int = 1,
) -> PackageThroughput:
    """The package's throughput with learning over ``iterations`` episodes after ``warmup`` untimed ones, its
    ``envs`` environments stepped one by one, the agents' network sized as in :func:`ours`."""
    _check_episodes(iterations, warmup)
    training = laptop_phase1(width)
    ppo = training.agent_ppo
    np.random.seed(0)  # noqa: NPY002 -- the package draws from the legacy global generator
    worlds = [make_reference_env(config) for _ in range(envs)]
    network, _ = build_networks(config, training, channels)
    optimizer = torch.optim.Adam(network.parameters(), lr=ppo.lr)
    generator = torch.Generator().manual_seed(0)
    stepping = converting = acting = updating = 0.0
    for episode in range(warmup + iterations):
        if episode == warmup:  # the warm-up's time is not counted
            stepping = converting = acting = updating = 0.0
        start = time.perf_counter()
        observations = [world.reset() for world in worlds]
        stepping += time.perf_counter() - start
        steps = Trajectory(config.episode_length)
        for _ in range(config.episode_length):
            start = time.perf_counter()
            view = np.stack(
                [
                    np.concatenate([o[str(i)]["world-map"], o[str(i)]["world-idx_map"]])
                    for o in observations
                    for i in range(4)
                ]
            )
            flat = np.stack([package_agent_flat(o, i) for o in observations for i in range(4)])
            mask = np.stack([o[str(i)]["action_mask"] for o in observations for i in range(4)])
            inputs = agent_inputs(torch.from_numpy(view.astype(np.uint8)), torch.from_numpy(flat.astype(np.float32)))
            converted = time.perf_counter()
            actions = steps.act(network, inputs, torch.from_numpy(mask > 0)[:, None], generator).view(envs, 4)
            acted = time.perf_counter()
            rewards = []
            for k, world in enumerate(worlds):
                observations[k], reward, _, _ = world.step({str(i): int(actions[k, i]) for i in range(4)})
                rewards.append([reward[str(i)] for i in range(4)])
            steps.reward(torch.tensor(rewards))
            converting += converted - start
            acting += acted - converted
            stepping += time.perf_counter() - acted
        start = time.perf_counter()
        ppo_update(network, optimizer, steps.batch(ppo), ppo, training.agent_entropy, generator)
        updating += time.perf_counter() - start
    total = stepping + converting + acting + updating
    rate = iterations * envs * config.episode_length / total
    return PackageThroughput(rate, stepping / total, converting / total, acting / total, updating / total)
