"""End-to-end training throughput of the Figure 6 agents: this package's economy against the ai-economist
package, with the same networks and the same PPO, in one run (see ``ermas.testing.two_level_speed``).

On the paper's 25x25 map (the only map the package ships; the laptop preset's own 11x11 map is measured
for ours too), one torch thread. Prints the rates, the ratio on the same map, and where our time goes.
Goal: at least 20x.

    .venv/bin/python benchmarks/two_level_speed.py [--envs 128] [--package-envs 4] [--iterations 2]
"""

from __future__ import annotations

import argparse

import torch

from ermas.allocator import keep_freed_memory
from ermas.economy import PAPER_LAYOUT, SMALL_LAYOUT
from ermas.testing.two_level_speed import free_market, ours, package


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
    mine = ours(paper_map, args.envs, args.iterations)
    small = ours(free_market(SMALL_LAYOUT), args.envs, args.iterations)
    print(f"25x25 map, ai-economist package, {args.package_envs} environments one by one: {theirs:,.0f} steps/s")
    print(f"25x25 map, this package, {args.envs} environments in one batch: {mine.steps_per_second:,.0f} steps/s")
    print(f"  ratio: {mine.steps_per_second / theirs:.1f}x (goal: 20x)")
    print(
        f"  ceiling with these networks: {mine.ceiling(theirs):.0f}x (the package's time per step over our "
        "networks' alone, the PPO update and the acting forward pass, which both sides pay per step)"
    )
    print(
        f"  where our time goes: {mine.simulator_share:.0%} the economy (step and observations), "
        f"{mine.acting_share:.0%} acting ({mine.forward_share:.0%} the network's forward pass, the rest sampling "
        "and batch assembly), "
        f"{mine.update_share:.0%} the PPO update"
    )
    print(
        f"11x11 map (the laptop preset), this package: {small.steps_per_second:,.0f} steps/s, "
        f"{small.update_share:.0%} in the update"
    )


if __name__ == "__main__":
    main()
