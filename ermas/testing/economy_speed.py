"""Steps per second of the economy and of the original package, with the same unit of work.

One step is every agent acting, the world advancing, and every observation and action mask being
produced (the package does all of that in ``env.step``). Actions are drawn uniformly among the allowed
ones. Used by ``benchmarks/economy_speed.py`` and the book's economy chapter.
"""

from __future__ import annotations

import dataclasses
import time
import tracemalloc

import numpy as np
import torch

from ermas.economy.config import EconomyConfig
from ermas.economy.env import Economy
from ermas.economy.observations import observe
from ermas.testing.economy_reference import make_reference_env


def package_steps_per_second(config: EconomyConfig, seconds: float) -> tuple[float, float]:
    """The ai-economist package on one environment: (steps per second, MiB per environment, measured by
    tracemalloc while building and stepping it). Random valid actions; their sampling is not timed."""
    rng = np.random.default_rng(0)
    np.random.seed(0)  # noqa: NPY002 -- the package draws from the legacy global generator
    make_reference_env(config)  # import the package first: its modules are not the environment's memory
    tracemalloc.start()
    env = make_reference_env(config)
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


def economy_steps_per_second(batch: int, config: EconomyConfig, seconds: float) -> tuple[float, float]:
    """:class:`Economy` on ``batch`` environments: (environment steps per second, KiB per environment of state
    plus observations). A step includes every observation and mask; sampling the actions is not timed."""
    env = Economy(batch, config, seed=0)
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
        views = obs.agent_spatial  # decoded, as the package's step builds its map arrays
        timed += time.perf_counter() - start
        mask = obs.agent_mask
        steps += 1
    memory = tensor_bytes(env) + tensor_bytes(obs) + views.numel() * views.element_size()
    return batch * steps / timed, memory / batch / 1024
