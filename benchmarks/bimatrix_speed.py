"""Speed of the repeated bimatrix game and of the default runs of Figures 3, 4 and 5.

Prints, from one run of this script:
- environment throughput in agent-steps per second of the plain Python game (the baseline) and of the
  vectorised game at several batch sizes, with the ratio to the baseline (goal: >= 100x);
- the wall time of one run of each figure with its notebook's default parameters (goals: Figure 3 at
  most 3 minutes, Figures 4 and 5 at most 5 minutes, on 2 cores).

    .venv/bin/python benchmarks/bimatrix_speed.py [--skip-figures]
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from ermas.bimatrix.game import BimatrixGame
from ermas.bimatrix.payoffs import load_payoffs
from ermas.testing.bimatrix_twin import PythonBimatrixGame

AGENTS = 2


def python_agent_steps_per_second(payoffs, seconds: float = 2.0) -> float:
    game = PythonBimatrixGame(payoffs.tolist(), horizon=100, seed=0)
    rng = random.Random(0)
    game.reset()
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            _, _, done = game.step(rng.randrange(3), rng.randrange(3))
            if done:
                game.reset()
        steps += 1000
    return AGENTS * steps / (time.perf_counter() - start)


def torch_agent_steps_per_second(payoffs, batch: int, seconds: float = 2.0) -> float:
    game = BimatrixGame(torch.tensor(payoffs), horizon=100)
    gen = torch.Generator().manual_seed(0)
    states = torch.randint(16, (batch,), generator=gen)
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            actions = torch.randint(3, (batch, AGENTS), generator=gen)
            states, _ = game.step(states, actions, validate=False)
        steps += 100 * batch
    return AGENTS * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-figures", action="store_true", help="only measure environment throughput")
    args = parser.parse_args()
    torch.set_default_dtype(torch.float64)
    payoffs = load_payoffs("default")
    baseline = python_agent_steps_per_second(payoffs)
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'implementation':<28}{'agent-steps/s':>16}{'vs Python':>12}")
    print(f"{'plain Python, 1 env':<28}{baseline:>16,.0f}{1.0:>11.1f}x")
    for batch in (1, 64, 1024, 16384):
        rate = torch_agent_steps_per_second(payoffs, batch)
        print(f"{f'vectorised, {batch} envs':<28}{rate:>16,.0f}{rate / baseline:>11.1f}x")
    if not args.skip_figures:
        from ermas.experiments.fig3 import Fig3Params, run_fig3
        from ermas.experiments.fig4 import Fig4Params, run_fig4
        from ermas.experiments.fig5 import Fig5Params, run_fig5

        fig3 = run_fig3(Fig3Params())
        print(f"default Figure 3 ({len(fig3.runs)} runs in one batch): {fig3.seconds:.1f} s")
        fig4 = run_fig4(Fig4Params())
        print(f"default Figure 4 ({len(fig4.runs)} runs in one batch): {fig4.seconds:.1f} s")
        fig5 = run_fig5(Fig5Params())
        print(f"default Figure 5 ({len(fig5.planners)} planners, {len(fig5.tests)} evaluations): {fig5.seconds:.1f} s")


if __name__ == "__main__":
    main()
