"""How accurate, and how costly, the sampled deviation search of Agent-Adv-Search is, against the exact one.

Figure 3 needs the regret that ERMAS's multipliers react to to be close to the true trust-region regret
of the agents' policies. This script trains Figure 3's runs for a short while (exact search), then, on
those fixed policies, compares the regret estimate of a sampled search over the same trust-region steps
(Figure 3's ten), for several numbers of episodes per fresh batch (the paper's 32 and more), with the
same trust-region path computed exactly (the limit of infinitely large batches). It prints, per batch
size: the mean sampled estimate over repeats, its ratio to the exact path's regret, and the time of one
search of all of Figure 3's runs, as a ratio to the exact search measured in the same run. The issue's
bar: within 10% of the exact path, inside Figure 3's budget of 3 minutes (about 120 ms per iteration at
1500 iterations). With ``--out FOLDER`` it also writes the table as ``regret_search.csv`` and a manifest
(command, settings, versions, the SHA-256 of the table) as ``regret_search.json`` there, atomically; the
book's derivation shows the stored copy in ``data/bimatrix/``.

    .venv/bin/python benchmarks/regret_search.py [--train-iters 1500] [--repeats 5] [--out data/bimatrix]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from ermas.bimatrix.agent_adv_search import agent_adv_search, deviation_regret
from ermas.bimatrix.tabular import rollout, sample_noise
from ermas.experiments.fig3 import Fig3Params
from ermas.manifest import store_table, versions


def search_seconds_and_regret(params: Fig3Params, theta, generators, repeats: int) -> tuple[float, torch.Tensor]:
    """Mean wall time of one search of all runs and the mean regret estimate ``(B, N)`` over ``repeats``."""
    game = params.game()
    config = params.search_config(params.n_iters, params.warmup_iters)
    estimates, seconds = [], 0.0
    for _ in range(repeats):
        noise = sample_noise(generators, config.n_episodes, game.horizon, theta.shape[2], theta.shape[1], theta.dtype)
        batch0 = rollout(game, theta, noise)
        start = time.perf_counter()
        _, regret = deviation_regret(game, config, theta, batch0, generators)
        seconds += time.perf_counter() - start
        estimates.append(regret)
    return seconds / repeats, torch.stack(estimates).mean(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-iters", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--episodes", type=int, nargs="+", default=[32, 128, 512, 2048])
    parser.add_argument("--out", type=Path, default=None, help="also write the table and its manifest here")
    args = parser.parse_args()
    args.episodes = sorted(set(args.episodes))
    if args.out is not None and not args.out.is_dir():
        parser.error(f"--out must be an existing folder; got {args.out}")
    ran_on = versions()  # before the run: the code it starts with
    torch.set_default_dtype(torch.float64)  # as the figures train
    base = Fig3Params(n_iters=args.train_iters, last_iters=10)
    runs = base.runs()
    state = agent_adv_search(base.game(), runs, base.search_config(base.n_iters, base.warmup_iters), progress=False)
    theta, generators = state.logits, state.generators
    ermas = torch.tensor([r.dual for r in runs])  # the ERMAS runs (MARL sits at the equilibrium)

    exact_seconds, exact = search_seconds_and_regret(base, theta, generators, 1)
    exact_mean = exact[ermas].mean().item()
    print(
        f"policies after {args.train_iters} iterations of Figure 3 ({len(runs)} runs, {base.n_inner} steps of KL "
        f"{base.rho}/{base.n_inner}); exact trust-region path: regret {exact_mean:.4f}, {1e3 * exact_seconds:.0f} ms"
    )
    print(f"{'episodes':>9} {'estimate':>9} {'/ exact':>8} {'|error| per run':>16} {'ms':>7} {'time / exact':>13}")
    rows = [
        {"episodes": "exact", "estimate": exact_mean, "/ exact": 1.0, "|error| per run": 0.0, "ms": 1e3 * exact_seconds}
    ]
    for episodes in args.episodes:
        params = dataclasses.replace(base, regret_search="sampled", dev_episodes=episodes, n_episodes=episodes)
        seconds, sampled = search_seconds_and_regret(params, theta, generators, args.repeats)
        error = (sampled[ermas] - exact[ermas]).abs().mean().item()
        estimate = sampled[ermas].mean().item()
        row = {"episodes": episodes, "estimate": estimate, "/ exact": estimate / exact_mean}
        rows.append(row | {"|error| per run": error, "ms": 1e3 * seconds})
        print(
            f"{episodes:>9} {estimate:>9.4f} {estimate / exact_mean:>8.2f} "
            f"{error:>16.4f} {1e3 * seconds:>7.0f} {seconds / exact_seconds:>13.1f}"
        )
    if args.out is not None:
        table = pd.DataFrame(rows)
        table["time / exact"] = table["ms"] / table["ms"].iloc[0]
        rounded = table.round({"estimate": 6, "/ exact": 2, "|error| per run": 6, "ms": 0, "time / exact": 1})
        manifest = {
            "command": " ".join(["python", "benchmarks/regret_search.py", *sys.argv[1:]]),
            "settings": {"train_iters": args.train_iters, "repeats": args.repeats, "episodes": args.episodes},
            "base": dataclasses.asdict(base),  # Figure 3's settings: the runs, and the search of the exact row
            "policies": "Figure 3's runs (base) after train_iters iterations of the exact search",
            "versions": ran_on,
        }
        store_table(args.out, "regret_search", rounded, manifest)


if __name__ == "__main__":
    main()
