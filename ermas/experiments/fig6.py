"""Figure 6, part 1: the pipeline that trains the AI Economist and its baselines and evaluates them, on Ray.

Per seed: phase 1 (agents in the free market), phase 2 (the learned planner, MARL, with the agents, from
phase 1), then the evaluation of every method (MARL's frozen planner, US Federal, Saez) at every test eta
with new agents. Every run is a Ray task (one torch thread each, as many at once as the cluster has
cores) that checkpoints after every iteration and writes its result atomically; rerunning the pipeline
skips finished runs and resumes interrupted ones. The results table and a manifest (SHA-256 of every
file, the command, versions, steps and wall time of each run) are written as runs finish::

    python -m ermas.experiments.fig6 train --preset laptop --seeds 3          # local: ray.init()
    python -m ermas.experiments.fig6 train --preset laptop --address HOST:PORT  # join a Ray cluster

``--scale tiny`` shrinks every run to a few iterations on two environments (the tests and CI use it).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import socket
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from ermas.allocator import keep_freed_memory
from ermas.io import atomic_write_text
from ermas.manifest import file_hashes, versions
from ermas.two_level.evaluation import TEST_ETAS
from ermas.two_level.presets import PRESETS, Preset, preset

METHODS = ("MARL", "US Federal", "Saez")
SCALES = ("full", "tiny")
EVALUATION_SHARE = 1.0  # an evaluation trains its new agents for as many iterations as phase 1


@dataclass(frozen=True)
class Run:
    """One Ray task: a training phase or one evaluation. ``name`` is its files' stem in the output folder."""

    kind: str  # "phase1", "phase2" or "evaluate"
    seed: int
    method: str = ""
    eta: float = 0.0

    @property
    def name(self) -> str:
        if self.kind != "evaluate":
            return f"seed{self.seed}_{self.kind}"
        return f"seed{self.seed}_{self.method.lower().replace(' ', '_')}_eta{self.eta:g}"


def plan(seeds: list[int], etas: tuple[float, ...] = TEST_ETAS) -> list[Run]:
    """Every run of the pipeline, each after the runs it needs."""
    runs = []
    for seed in seeds:
        runs += [Run("phase1", seed), Run("phase2", seed)]
        runs += [Run("evaluate", seed, method, eta) for method in METHODS for eta in etas]
    return runs


def sized(name: str, seed: int, scale: str) -> Preset:
    """The preset, shrunk to a few iterations on two small environments for ``scale="tiny"``."""
    p = preset(name, seed)
    if scale == "full":
        return p
    small = dict(n_envs=2, agent_width=16, planner_width=16, planner_entropy_iters=2)
    economy = replace(p.economy, episode_length=2 * p.economy.tax_period // 10, tax_period=p.economy.tax_period // 10)
    return Preset(p.name, economy, replace(p.phase1, iterations=2, **small), replace(p.phase2, iterations=2, **small))


def execute(run: Run, preset_name: str, scale: str, out: Path) -> dict:
    """Carry out ``run`` (resuming its checkpoint) and write its result; returns the result."""
    import torch

    from ermas.two_level.evaluation import evaluate
    from ermas.two_level.training import train

    torch.set_num_threads(1)  # one thread per worker process: processes in parallel, not threads
    keep_freed_memory()  # a worker process of its own: keep freed memory for the next step's tensors
    result_path = out / f"{run.name}.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    p = sized(preset_name, run.seed, scale)
    checkpoint = out / f"{run.name}.pt"
    start = time.perf_counter()
    if run.kind == "phase1":
        state = train(p.free_market(), p.phase1, checkpoint=checkpoint, progress=False)
        outcome = {"social_welfare": state.history["social_welfare"][-1], "iterations": state.iteration}
        iterations, n_envs, economy = state.iteration, p.phase1.n_envs, p.free_market()
    elif run.kind == "phase2":
        phase1 = out / f"{Run('phase1', run.seed).name}.pt"
        state = train(p.economy, p.phase2, checkpoint=checkpoint, agents_from=phase1, progress=False)
        outcome = {"social_welfare": state.history["social_welfare"][-1], "iterations": state.iteration}
        iterations, n_envs, economy = state.iteration, p.phase2.n_envs, p.economy
    else:
        training = replace(p.phase1, iterations=max(2, round(EVALUATION_SHARE * p.phase1.iterations)))
        economy = p.economy if run.method == "MARL" else p.fixed_scheme(run.method.lower().replace(" ", "_"))
        planner = out / f"{Run('phase2', run.seed).name}.pt" if run.method == "MARL" else None
        scored = evaluate(economy, training, run.eta, planner_from=planner, checkpoint=checkpoint, progress=False)
        outcome = dataclasses.asdict(scored)
        iterations, n_envs = training.iterations, training.n_envs
    result = dataclasses.asdict(run) | {
        "name": run.name,
        **outcome,
        "env_steps": iterations * n_envs * economy.episode_length,
        "seconds": round(time.perf_counter() - start, 1),
    }
    atomic_write_text(json.dumps(result, indent=1) + "\n", result_path)
    return result


def run_pipeline(
    preset_name: str, seeds: list[int], out: Path, scale: str = "full", address: str | None = None, command: str = ""
) -> pd.DataFrame:
    """Run every run of :func:`plan` not yet finished in ``out``, on Ray; returns the evaluation table."""
    import ray

    if preset_name not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}; got {preset_name!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}; got {scale!r}")
    if address is not None:
        _check_reachable(address)
    out.mkdir(parents=True, exist_ok=True)
    try:
        if address is None:
            ray.init(include_dashboard=False, configure_logging=False, log_to_driver=False)
        else:
            ray.init(address=address, include_dashboard=False, configure_logging=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ConnectionError(f"cannot reach the Ray cluster at {address!r}: {error}") from error
    task = ray.remote(num_cpus=1, max_retries=0)(_execute_after)
    try:
        refs: dict[str, ray.ObjectRef] = {}
        for run in plan(seeds):
            needs = []
            if run.kind == "phase2":
                needs = [refs[Run("phase1", run.seed).name]]
            elif run.kind == "evaluate" and run.method == "MARL":
                needs = [refs[Run("phase2", run.seed).name]]
            refs[run.name] = task.remote(run, preset_name, scale, str(out), *needs)
        pending, results = list(refs.values()), []
        with tqdm(total=len(pending), desc=f"Figure 6 ({preset_name})") as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                results.append(ray.get(done[0]))
                bar.update()
                write_results(out, results, preset_name, seeds, scale, command)
    finally:
        ray.shutdown()
    return evaluation_table(results)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once, naming the address, when nothing answers there (Ray itself would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"address must be HOST:PORT of a Ray cluster's head; got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise ConnectionError(f"cannot reach the Ray cluster at {address!r}: {error}") from error


def _execute_after(run: Run, preset_name: str, scale: str, out: str, *needed: dict) -> dict:
    """:func:`execute` in a Ray worker, once the results it ``needed`` are in."""
    return execute(run, preset_name, scale, Path(out))


def evaluation_table(results: list[dict]) -> pd.DataFrame:
    """One row per evaluation: seed, method, eta, welfare, converged, and the run's size and time."""
    rows = [r for r in results if r["kind"] == "evaluate"]
    columns = ["seed", "method", "eta", "welfare", "converged", "scored", "env_steps", "seconds"]
    return pd.DataFrame(rows, columns=columns).sort_values(["seed", "method", "eta"]).reset_index(drop=True)


def write_results(out: Path, results: list[dict], preset_name: str, seeds: list[int], scale: str, command: str) -> None:
    """The table of finished runs and the manifest of every file, both written atomically."""
    table = pd.DataFrame(results).sort_values("name").reset_index(drop=True)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    atomic_write_text(buffer.getvalue(), out / "runs.csv")
    files = sorted(p.name for p in out.iterdir() if p.suffix in (".pt", ".json", ".csv") and p.name != "manifest.json")
    manifest = {
        "command": command,
        "preset": preset_name,
        "scale": scale,
        "seeds": seeds,
        "versions": versions(),
        "runs": {r["name"]: {"env_steps": r["env_steps"], "seconds": r["seconds"]} for r in results},
        "sha256": file_hashes(out, files),
    }
    atomic_write_text(json.dumps(manifest, indent=1) + "\n", out / "manifest.json")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["train"])
    parser.add_argument("--preset", default="laptop", choices=PRESETS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default results/fig6/PRESET)")
    parser.add_argument("--scale", default="full", choices=SCALES)
    parser.add_argument("--address", default=None, help="a Ray cluster to join (default: this machine)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    out = args.out or Path("results") / "fig6" / f"{args.preset}{'-tiny' if args.scale == 'tiny' else ''}"
    command = "python -m ermas.experiments.fig6 " + " ".join(sys.argv[1:] if argv is None else argv)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    table = run_pipeline(args.preset, seeds, out, args.scale, args.address, command.strip())
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
