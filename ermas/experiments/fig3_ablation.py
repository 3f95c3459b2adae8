"""What it takes to reproduce Figure 3: the default run with each ingredient switched off in turn.

Each row of the table is a full Figure 3 run (MARL and ERMAS at every epsilon, ``seeds`` seeds) with one
setting changed from the notebook's defaults, and the verdicts of the five claims it gives. The table and
a manifest (command, settings, package versions, CPU kernels, the table's SHA-256) are written to
``data/bimatrix/`` after every row, atomically; rerunning the command skips the rows already there
(resume), and Ctrl-C loses at most the row in progress. :func:`stored_ablations` checks the hash before
reading. About 3 minutes per row on 2 cores.

    .venv/bin/python -m ermas.experiments.fig3_ablation [--seeds 10] [--first-seed 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from ermas.experiments.fig3 import Fig3Params, claims, run_fig3, summary
from ermas.manifest import store_table, stored_table, versions

DATA = Path(__file__).resolve().parents[2] / "data" / "bimatrix"
TABLE = DATA / "fig3_ablation.csv"

ABLATIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "the paper's sampled search (2 steps, 32 episodes)": {"regret_search": "sampled", "n_inner": 2},
    "sampled search, 10 steps of 32 episodes": {"regret_search": "sampled"},
    "no continuity at the end of the warm-up": {"continuity": False},
    "warm-up multiplier 8 instead of 40": {"lambda0": 8.0},
    "dual step 2 instead of 20": {"dual_lr": 2.0},
    "750 iterations instead of 1500": {"n_iters": 750},
}
"""Each ablation's name and the parameters it changes from :class:`Fig3Params`'s defaults."""

SHORT_NAMES = {
    "Vanilla MARL converges to the Nash equilibrium of the stage game": "MARL at Nash",
    "For small epsilon, ERMAS also finds the Nash equilibrium": "Nash at smallest eps",
    "For small epsilon, ERMAS also finds the Nash equilibrium (at epsilon = 0)": "Nash at eps 0",
    "Larger epsilon lets the agents lower the planner's reward further": "planner falls",
    "The agents' average per-step regret grows with epsilon": "regret grows",
    "Agent-Adv-Search keeps the agents inside the epsilon-equilibria": "regret bounded",
}
"""Column names for the claims of :func:`ermas.experiments.fig3.claims`."""


def ablation_row(name: str, changes: dict[str, Any], base: Fig3Params) -> dict[str, Any]:
    """Run Figure 3 with ``changes`` to ``base`` and return the verdicts and key numbers."""
    result = run_fig3(dataclasses.replace(base, **changes))
    ermas = summary(result).drop(index="MARL")
    return {
        "ablation": name,
        "changes": json.dumps(changes),
        **{SHORT_NAMES.get(c.statement, c.statement): c.verdict for c in claims(result)},
        "planner per epsilon": " ".join(f"{x:.3f}" for x in ermas.planner_mean),
        "trust-region regret per epsilon": " ".join(f"{x:.3f}" for x in ermas.regret_trust_region_mean),
        "seconds": round(result.seconds),
    }


def stored_ablations() -> pd.DataFrame:
    """The stored table, one row per ablation, the claims' verdicts and the numbers behind them (checked
    against the SHA-256 in its manifest first)."""
    table, _ = stored_table(DATA, TABLE.stem)
    return table.drop(columns="changes").set_index("ablation")


def run_ablations(base: Fig3Params, ablations: dict[str, dict[str, Any]], table: Path, command: str) -> pd.DataFrame:
    """Run every ablation not yet in ``table`` (``NAME.csv``), writing the table and its manifest (``NAME.json``
    beside it) after each, atomically."""
    done = pd.read_csv(table) if table.exists() else pd.DataFrame()
    manifest_path = table.with_suffix(".json")
    manifest = {
        "command": command,
        "base": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(base).items()},
        "ablations": ablations,
        "versions": versions(),
    }
    if not done.empty:
        if not manifest_path.exists() or json.loads(manifest_path.read_text())["base"] != manifest["base"]:
            raise SystemExit(f"{table} was written with other settings; delete it and {manifest_path} to start again")
    order = {name: k for k, name in enumerate(ablations)}
    for name in tqdm([n for n in ablations if done.empty or n not in set(done.ablation)], desc="Figure 3 ablations"):
        row = ablation_row(name, ablations[name], base)
        done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
        done = done.sort_values("ablation", key=lambda s: s.map(order)).reset_index(drop=True)
        store_table(table.parent, table.stem, done, manifest)
    return done


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args(argv)
    base = Fig3Params(seeds=args.seeds, first_seed=args.first_seed)  # checks both before anything runs
    command = "python -m ermas.experiments.fig3_ablation " + " ".join(sys.argv[1:] if argv is None else argv)
    run_ablations(base, ABLATIONS, TABLE, command.strip())


if __name__ == "__main__":
    main()
