"""Speed and memory of the vectorised economy against the original AI Economist simulator.

In one run: the ai-economist package's environment steps per second (one core, random valid actions,
the paper's configuration with US federal taxes), then ours at several batch sizes on ``--threads``
cores, with the ratio to the package and the memory per environment. A step is the same unit of work
in both: every agent acts, the world advances, and every observation and action mask is produced.
Sampling the random actions is not timed in either. Goal: >= 100x at batch 1024 on 2 cores.

Ours is measured twice: with the C library's default memory allocator settings, then after
``ermas.allocator.keep_freed_memory()`` (which keeps freed blocks for reuse instead of paging them in
anew every step). The package's baseline is measured first, with the defaults.

    .venv/bin/python benchmarks/economy_speed.py [--batches 1 64 1024] [--threads 2]
"""

from __future__ import annotations

import argparse

import torch

from ermas.allocator import keep_freed_memory
from ermas.economy import EconomyConfig
from ermas.testing.economy_speed import economy_steps_per_second, package_steps_per_second

CONFIG = EconomyConfig(tax_model="us_federal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per measurement")
    args = parser.parse_args()

    torch.set_num_threads(1)
    base, base_memory = package_steps_per_second(CONFIG, args.seconds)
    print(f"ai-economist 1.7.1, 1 core: {base:,.0f} env-steps/s, {base_memory:.1f} MiB per environment (tracemalloc)")
    torch.set_num_threads(args.threads)
    for tuned in (False, True):
        if tuned and not keep_freed_memory():
            print("\n(keep_freed_memory does not apply here: not Linux with glibc)")
            break
        allocator = "freed memory kept for reuse" if tuned else "default allocator"
        print(f"\nermas.economy on {torch.get_num_threads()} threads, {allocator} (state + observations)")
        print(f"{'batch':>7} {'env-steps/s':>13} {'x package':>10} {'KiB/env':>9}")
        for batch in args.batches:
            rate, memory = economy_steps_per_second(batch, CONFIG, args.seconds)
            print(f"{batch:>7} {rate:>13,.0f} {rate / base:>10.1f} {memory:>9.1f}")


if __name__ == "__main__":
    main()
