"""A plain, one-step-at-a-time Python version of the repeated bimatrix game.

It restates the rules of :mod:`ermas.bimatrix.game` without tensors, lookup tables or batching, so
that tests can check the vectorised game against it and benchmarks can measure the speed-up.
"""

from __future__ import annotations

import random


class PythonBimatrixGame:
    """One game, stepped in pure Python. ``payoffs[k][row][col]`` for k = planner, agent 1, agent 2."""

    def __init__(self, payoffs: list[list[list[float]]], horizon: int, seed: int = 0) -> None:
        self.payoffs = payoffs
        self.size = len(payoffs[0])
        self.horizon = horizon
        self.rng = random.Random(seed)
        self.row = self.col = 0
        self.t = 0

    def reset(self) -> tuple[int, int]:
        """Start in a uniformly random cell."""
        self.row = self.rng.randrange(self.size)
        self.col = self.rng.randrange(self.size)
        self.t = 0
        return self.row, self.col

    def step(self, action_1: int, action_2: int) -> tuple[tuple[int, int], list[float], bool]:
        """Move (0 stay, 1 up = +1, 2 down = -1; clipped), then pay every player at the new cell."""
        delta = {0: 0, 1: 1, 2: -1}
        self.row = min(max(self.row + delta[action_1], 0), self.size - 1)
        self.col = min(max(self.col + delta[action_2], 0), self.size - 1)
        self.t += 1
        rewards = [self.payoffs[k][self.row][self.col] for k in range(3)]
        return (self.row, self.col), rewards, self.t >= self.horizon
