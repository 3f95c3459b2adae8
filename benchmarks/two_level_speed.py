"""End-to-end training throughput of the Figure 6 agents: this package's economy against the ai-economist
package, with the same networks and the same PPO, in one run (see ``ermas.testing.two_level_speed``).

On the paper's 25x25 map (the only map the package ships; the laptop preset's own 11x11 map is measured
for ours too), one torch thread. Prints the rates, the ratio on the same map, and where each side's time
goes. Goal: at least 20x. ``--channels`` and ``--width`` resize the agents' network on both sides (the
recipe's 16 and 32 channels and the preset's width by default), to measure what a cheaper network changes.

    .venv/bin/python benchmarks/two_level_speed.py [--envs 128] [--package-envs 4] [--iterations 2]
        [--channels 16 32] [--width 128]
"""

from __future__ import annotations

import argparse

import torch

from ermas.allocator import keep_freed_memory
from ermas.economy import PAPER_LAYOUT, SMALL_LAYOUT
from ermas.testing.two_level_speed import comparison, free_market, laptop_phase1, ours, package
from ermas.two_level.networks import AGENT_CHANNELS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=128)
    parser.add_argument("--package-envs", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument(
        "--channels", type=int, nargs=2, default=list(AGENT_CHANNELS), help="the agents' two convolutions' channels"
    )
    parser.add_argument("--width", type=int, default=None, help="the agents' dense layers (default: the preset's)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    keep_freed_memory()  # as the pipeline's workers do (see ermas.allocator)
    size = dict(channels=tuple(args.channels), width=args.width)
    paper_map = free_market(PAPER_LAYOUT)
    theirs = package(paper_map, args.package_envs, 1, **size)
    mine = ours(paper_map, args.envs, args.iterations, **size)
    small = ours(free_market(SMALL_LAYOUT), args.envs, args.iterations, **size)
    first, second = args.channels
    width = laptop_phase1(args.width).agent_width
    print(f"agents' network: convolutions of {first} and {second} channels, dense layers {width} wide")
    print(f"25x25 map: the package's {args.package_envs} environments one by one, ours {args.envs} in one batch")
    print("\n".join(comparison(theirs, mine)))
    print(
        f"11x11 map (the laptop preset), this package: {small.steps_per_second:,.0f} steps/s, "
        f"{small.update_share:.0%} in the update"
    )


if __name__ == "__main__":
    main()
