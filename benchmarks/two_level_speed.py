"""End-to-end training throughput of the Figure 6 agents: this package's economy against the ai-economist
package, with the same networks and the same PPO, in one run.

A unit of work is one environment step with learning included: the agents' network acting for the four
agents, the step, the observations, and the step's share of the PPO update that follows each episode.
Ours plays ``--envs`` environments as one batch; the package steps its environments one at a time (as
the AI Economist's workers do), its observations converted to the same network inputs. The laptop
preset's free-market economy (phase 1) on the paper's 25x25 map (the only map the package ships; the
laptop's own 11x11 map is measured for ours too), one torch thread. Prints the rates, the ratio on the same
map, and where our time goes (the economy alone, measured apart with random actions; acting; the update).

    .venv/bin/python benchmarks/two_level_speed.py [--envs 128] [--package-envs 4] [--iterations 2]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from ermas.allocator import keep_freed_memory
from ermas.economy import PAPER_LAYOUT, SMALL_LAYOUT, Economy, EconomyConfig, observe
from ermas.rl.ppo import ppo_update
from ermas.testing.economy_reference import make_reference_env, package_agent_flat
from ermas.two_level.networks import agent_inputs
from ermas.two_level.presets import preset
from ermas.two_level.training import Trajectory, build_networks, play_episode


def free_market(layout: str) -> EconomyConfig:
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


def ours(config: EconomyConfig, envs: int, iterations: int) -> tuple[float, float]:
    """(environment steps per second with learning, share of the time in the PPO update)."""
    training = replace(preset("laptop").phase1, iterations=iterations, n_envs=envs)
    env = Economy(envs, config, seed=0)
    network, _ = build_networks(config, training)
    optimizer = torch.optim.Adam(network.parameters(), lr=training.agent_ppo.lr)
    generator = torch.Generator().manual_seed(0)
    playing = updating = 0.0
    for _ in range(iterations):
        start = time.perf_counter()
        batch = play_episode(env, network, None, generator, training).agents
        middle = time.perf_counter()
        ppo_update(network, optimizer, batch, training.agent_ppo, training.agent_entropy, generator)
        playing, updating = playing + middle - start, updating + time.perf_counter() - middle
    steps = iterations * envs * env.config.episode_length
    return steps / (playing + updating), updating / (playing + updating)


def package(config: EconomyConfig, envs: int, iterations: int) -> float:
    """Environment steps per second with learning, the package's environments stepped one by one."""
    p = preset("laptop")
    np.random.seed(0)  # noqa: NPY002 -- the package draws from the legacy global generator
    worlds = [make_reference_env(config) for _ in range(envs)]
    network, _ = build_networks(config, p.phase1)
    optimizer = torch.optim.Adam(network.parameters(), lr=p.phase1.agent_ppo.lr)
    generator = torch.Generator().manual_seed(0)
    elapsed = 0.0
    for _ in range(iterations):
        start = time.perf_counter()
        observations = [world.reset() for world in worlds]
        steps = Trajectory()
        for _ in range(config.episode_length):
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
            actions = steps.act(network, inputs, torch.from_numpy(mask > 0)[:, None], generator).view(envs, 4)
            rewards = []
            for k, world in enumerate(worlds):
                observations[k], reward, _, _ = world.step({str(i): int(actions[k, i]) for i in range(4)})
                rewards.append([reward[str(i)] for i in range(4)])
            steps.reward(torch.tensor(rewards))
        ppo_update(
            network, optimizer, steps.batch(p.phase1.agent_ppo), p.phase1.agent_ppo, p.phase1.agent_entropy, generator
        )
        elapsed += time.perf_counter() - start
    return iterations * envs * config.episode_length / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=128)
    parser.add_argument("--package-envs", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    keep_freed_memory()  # as the pipeline's workers do (see ermas.allocator)
    paper_map = free_market(PAPER_LAYOUT)
    theirs = package(paper_map, args.package_envs, 1)
    mine, update_share = ours(paper_map, args.envs, args.iterations)
    small, small_update_share = ours(free_market(SMALL_LAYOUT), args.envs, args.iterations)
    simulator = simulator_only(paper_map, args.envs, 100)
    print(f"25x25 map, ai-economist package, {args.package_envs} environments one by one: {theirs:,.0f} steps/s")
    print(f"25x25 map, this package, {args.envs} environments in one batch: {mine:,.0f} steps/s")
    print(f"  ratio: {mine / theirs:.1f}x")
    simulator_share = simulator * mine
    acting_share = 1 - update_share - simulator_share
    print(
        f"  where our time goes: {simulator_share:.0%} the economy (step and observations), "
        f"{acting_share:.0%} acting (network forward, sampling, batch assembly), {update_share:.0%} the PPO update"
    )
    print(f"11x11 map (the laptop preset), this package: {small:,.0f} steps/s, {small_update_share:.0%} in the update")


if __name__ == "__main__":
    main()
