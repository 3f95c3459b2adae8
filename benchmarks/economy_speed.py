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
import dataclasses
import time
import tracemalloc

import numpy as np
import torch

from ermas.allocator import keep_freed_memory
from ermas.economy import Economy, EconomyConfig, observe
from ermas.economy.reference import make_reference_env

CONFIG = EconomyConfig(tax_model="us_federal")


def package_steps_per_second(seconds: float) -> tuple[float, float]:
    """(steps per second, memory per environment in MiB measured by tracemalloc while building and stepping)."""
    rng = np.random.default_rng(0)
    np.random.seed(0)  # noqa: NPY002 -- the package draws from the legacy global generator
    make_reference_env(CONFIG)  # import the package first: its modules are not the environment's memory
    tracemalloc.start()
    env = make_reference_env(CONFIG)
    obs = env.reset()
    for _ in range(50):
        obs, _, _, _ = env.step({str(i): int(rng.choice(np.flatnonzero(obs[str(i)]["action_mask"]))) for i in range(4)})
    memory = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    steps, timed = 0, 0.0
    while timed < seconds:
        actions = {str(i): int(rng.choice(np.flatnonzero(obs[str(i)]["action_mask"]))) for i in range(4)}
        start = time.perf_counter()
        obs, _, done, _ = env.step(actions)
        if done["__all__"]:
            obs = env.reset()
        timed += time.perf_counter() - start
        steps += 1
    return steps / timed, memory


def tensor_bytes(obj: object) -> int:
    """Bytes held by the tensors of an object and of its dataclass / attribute members (one level)."""
    total = 0
    members = (
        vars(obj).values()
        if not dataclasses.is_dataclass(obj)
        else [getattr(obj, f.name) for f in dataclasses.fields(obj)]
    )
    for value in members:
        if isinstance(value, torch.Tensor):
            total += value.numel() * value.element_size()
        elif dataclasses.is_dataclass(value):
            total += tensor_bytes(value)
    return total


def our_steps_per_second(batch: int, seconds: float) -> tuple[float, float]:
    """(environment steps per second, KiB per environment of state plus observations)."""
    env = Economy(batch, CONFIG, seed=0)
    generator = torch.Generator().manual_seed(0)
    mask = observe(env).agent_mask
    steps, timed = 0, 0.0
    while timed < seconds or steps < 20:
        actions = torch.multinomial(mask.view(-1, 50).to(torch.float32), 1, generator=generator).view(batch, 4)
        start = time.perf_counter()
        result = env.step(actions)
        obs = observe(env)
        if result.done:
            env.reset()
            obs = observe(env)
        timed += time.perf_counter() - start
        mask = obs.agent_mask
        steps += 1
    memory = tensor_bytes(env) + tensor_bytes(obs)
    return batch * steps / timed, memory / batch / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per measurement")
    args = parser.parse_args()

    torch.set_num_threads(1)
    base, base_memory = package_steps_per_second(args.seconds)
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
            rate, memory = our_steps_per_second(batch, args.seconds)
            print(f"{batch:>7} {rate:>13,.0f} {rate / base:>10.1f} {memory:>9.1f}")


if __name__ == "__main__":
    main()
