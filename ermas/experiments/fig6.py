"""Figure 6: the pipeline that trains the AI Economist, its robust version and the baselines and evaluates
them, on Ray.

Per seed, part 1: phase 1 (agents in the free market), phase 2 (the learned planner, MARL, with the
agents, from phase 1), then the evaluation of MARL's frozen planner, US Federal and Saez at every test eta
with new agents (and of a uniform random-rate planner at the training eta, a sanity check). Part 2: ERMAS
from phase 2 (:func:`ermas.two_level.robust.train_robust`) and its fair control, MARL continued from
phase 2 for as many planner updates, each evaluated at every test eta. With ``--budget-check``, each
method's evaluation at the training eta (``--budget-check all``: at every test eta) is also carried on to
twice its iterations (``budget_check`` runs: the same bits as an evaluation that long from the start), to
check that the methods' ranking there holds with more training.

Every run is a Ray task (one torch thread each, as many at once as the cluster has cores) that
checkpoints after every iteration and writes its result atomically; rerunning the pipeline skips finished
runs and resumes interrupted ones. Ctrl-C, or ``kill`` (SIGTERM), stops it keeping every finished run and
the time spent by the runs in progress up to their last iteration. The progress bar counts environment steps
over every run, each run's as its worker reports them after each iteration. The results table and a manifest
(SHA-256 of every file, the command, versions, steps and wall time of each run) are written as runs finish::

    python -m ermas.experiments.fig6 train --preset laptop --seeds 3          # local: ray.init()
    python -m ermas.experiments.fig6 train --preset laptop --part 1           # part 1 only
    python -m ermas.experiments.fig6 train --preset laptop --budget-check all # and the budget checks
    python -m ermas.experiments.fig6 train --preset laptop --address HOST:PORT  # join a Ray cluster
    python -m ermas.experiments.fig6 train --preset paper --device cuda          # a run per GPU
    python -m ermas.experiments.fig6 store --preset laptop                       # into data/fig6/laptop

``--scale tiny`` shrinks every run to a few iterations on four environments (the tests and CI use it).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from tqdm import tqdm

from ermas.allocator import keep_freed_memory
from ermas.checkpoint import differences, resumable
from ermas.economy import EconomyConfig, present_device
from ermas.io import atomic_copy, atomic_save, atomic_write_text
from ermas.manifest import file_hashes, versions
from ermas.two_level.evaluation import TEST_ETAS, saez_warmup_episodes
from ermas.two_level.presets import PRESETS, Preset, preset
from ermas.two_level.training import TwoLevelTraining

if TYPE_CHECKING:
    from ray.actor import ActorHandle

METHODS = ("MARL", "US Federal", "Saez")  # part 1
ROBUST_METHODS = ("ERMAS", "MARL continued")  # part 2
RANDOM = "Random planner"  # a sanity check at the training eta only: uniform random rates
TRAINED = {"MARL": "phase2", "ERMAS": "ermas", "MARL continued": "marl_continued"}
"""The run whose planner (and, fine-tuning, whose agents) each learned method's evaluation starts from."""
TRAINING_ETA = 0.23
SCALES = ("full", "tiny")
BUDGET_FACTOR = 2
"""A budget check's iterations, in evaluations' iterations."""
BUDGET_CHECKS = {None: (), "training-eta": (TRAINING_ETA,), "all": TEST_ETAS}
"""The test etas whose evaluations each value of ``--budget-check`` carries on (none without it)."""


@dataclass(frozen=True)
class Run:
    """One Ray task: a training phase, one evaluation, or a budget check (an evaluation carried on).
    ``name`` is its files' stem in the output folder."""

    kind: str  # "phase1", "phase2", "saez_warmup", "ermas", "marl_continued", "evaluate" or "budget_check"
    seed: int
    method: str = ""
    eta: float = 0.0

    @property
    def name(self) -> str:
        if self.kind not in ("evaluate", "budget_check"):
            return f"seed{self.seed}_{self.kind}"
        name = f"seed{self.seed}_{self.method.lower().replace(' ', '_')}_eta{self.eta:g}"
        return name if self.kind == "evaluate" else f"{name}_x{BUDGET_FACTOR}"

    def evaluation(self) -> Run:
        """The evaluation a ``budget_check`` run carries on."""
        if self.kind != "budget_check":
            raise ValueError(f"only a budget check carries an evaluation on; this run is a {self.kind!r}")
        return replace(self, kind="evaluate")


def plan(
    seeds: list[int],
    etas: tuple[float, ...] = TEST_ETAS,
    parts: tuple[int, ...] = (1, 2),
    budget_etas: tuple[float, ...] = (),
) -> list[Run]:
    """Every run of the pipeline's ``parts``, each after the runs it needs (part 2 needs part 1's phases),
    and each evaluation at the ``budget_etas`` carried on to :data:`BUDGET_FACTOR` times its iterations."""
    runs = []
    for seed in seeds:
        runs += [Run("phase1", seed), Run("phase2", seed)]
        if 1 in parts:
            runs.append(Run("saez_warmup", seed))
            runs += [Run("evaluate", seed, method, eta) for method in METHODS for eta in etas]
            runs.append(Run("evaluate", seed, RANDOM, TRAINING_ETA))
        if 2 in parts:
            runs += [Run("ermas", seed), Run("marl_continued", seed)]
            runs += [Run("evaluate", seed, method, eta) for method in ROBUST_METHODS for eta in etas]
    checked = [run for run in runs if run.kind == "evaluate" and run.eta in budget_etas]
    return runs + [replace(run, kind="budget_check") for run in checked]


def sized(name: str, seed: int, scale: str) -> Preset:
    """The preset, shrunk to a few iterations on four small environments for ``scale="tiny"``."""
    p = preset(name, seed)
    if scale == "full":
        return p
    small = dict(iterations=2, n_envs=4, agent_width=16, planner_width=16, planner_entropy_iters=2)
    economy = replace(p.economy, episode_length=2 * p.economy.tax_period // 10, tax_period=p.economy.tax_period // 10)
    return replace(
        p,
        economy=economy,
        phase1=replace(p.phase1, **small),
        phase2=replace(p.phase2, **small),
        evaluation=replace(p.evaluation, **small),
        robust=replace(p.robust, outer_steps=1, main_iterations=1, deviation_iterations=1),
    )


def needs(run: Run, fine_tune: bool) -> list[Run]:
    """The runs whose checkpoints ``run`` starts from."""
    if run.kind == "budget_check":  # the evaluation it carries on, and what that started from
        return [*needs(run.evaluation(), fine_tune), run.evaluation()]
    if run.kind in ("phase2", "saez_warmup"):
        return [Run("phase1", run.seed)]
    if run.kind in ("ermas", "marl_continued"):
        return [Run("phase2", run.seed)]
    if run.kind == "evaluate" and run.method in TRAINED:
        return [Run(TRAINED[run.method], run.seed)]  # its planner, and with fine-tuning its agents
    if run.kind == "evaluate" and run.method == "Saez":  # Saez's model starts from a full buffer
        return [Run("phase1", run.seed), Run("saez_warmup", run.seed)] if fine_tune else [Run("saez_warmup", run.seed)]
    if run.kind == "evaluate" and fine_tune:
        return [Run("phase1", run.seed)]  # under a fixed or random scheme agents start from the free market's
    return []


@dataclass(frozen=True)
class RunInputs:
    """What a run is computed from: the economy, the training, and the checkpoints its agents, planner and
    Saez memory start from (``None``: fresh)."""

    economy: EconomyConfig
    training: TwoLevelTraining
    agents_from: Path | None = None
    planner_from: Path | None = None
    memory_from: Path | None = None


def run_inputs(run: Run, p: Preset, out: Path) -> RunInputs:
    """The inputs of ``run`` under preset ``p``, its checkpoints in ``out``."""
    if run.kind == "budget_check":
        inputs = run_inputs(run.evaluation(), p, out)
        return replace(inputs, training=replace(inputs.training, iterations=BUDGET_FACTOR * inputs.training.iterations))
    checkpoint = {r.kind: out / f"{r.name}.pt" for r in needs(run, p.fine_tune)}
    if run.kind == "phase1":
        return RunInputs(p.free_market(), p.phase1)
    if run.kind == "phase2":
        return RunInputs(p.economy, p.phase2, checkpoint["phase1"])
    if run.kind == "saez_warmup":  # the phase-1 agents (frozen) fill the Saez buffer at the training eta
        return RunInputs(p.fixed_scheme("saez"), p.evaluation, checkpoint["phase1"])
    if run.kind in ("ermas", "marl_continued"):  # agents and planner from phase 2
        return RunInputs(p.economy, p.phase2, checkpoint["phase2"], checkpoint["phase2"])
    if run.method in TRAINED:
        trained = checkpoint[TRAINED[run.method]]
        return RunInputs(p.economy, p.evaluation, trained if p.fine_tune else None, trained)
    if run.method == RANDOM:
        planner = out / f"seed{run.seed}_uniform_planner.pt"
        return RunInputs(p.economy, p.evaluation, checkpoint.get("phase1"), planner)
    economy = p.fixed_scheme(run.method.lower().replace(" ", "_"))
    return RunInputs(economy, p.evaluation, checkpoint.get("phase1"), None, checkpoint.get("saez_warmup"))


def run_size(run: Run, p: Preset) -> tuple[int, int]:
    """``run``'s length under preset ``p``: its iterations (ERMAS's outer steps, the Saez warm-up's episodes)
    and the environment steps of each."""
    inputs = run_inputs(run, p, Path())
    episode = inputs.training.n_envs * inputs.economy.episode_length
    if run.kind == "ermas":
        return p.robust.outer_steps, p.robust.episodes_per_outer_step * episode
    if run.kind == "marl_continued":
        return p.robust.planner_updates, episode
    if run.kind == "saez_warmup":
        return saez_warmup_episodes(inputs.economy), episode
    return inputs.training.iterations, episode


def run_settings(run: Run, preset_name: str, scale: str, out: Path) -> dict:
    """What a run's result was computed from: stored in the result and compared on a rerun."""
    inputs = run_inputs(run, sized(preset_name, run.seed, scale), out)
    settings = {
        "preset": preset_name,
        "scale": scale,
        "economy": dataclasses.asdict(inputs.economy),
        "training": dataclasses.asdict(inputs.training),
        "agents_from": None if inputs.agents_from is None else inputs.agents_from.name,
        "planner_from": None if inputs.planner_from is None else inputs.planner_from.name,
    }
    if inputs.memory_from is not None:
        settings["memory_from"] = inputs.memory_from.name
    if run.kind in ("ermas", "marl_continued"):
        settings["robust"] = dataclasses.asdict(sized(preset_name, run.seed, scale).robust)
    return json.loads(json.dumps(settings))  # as read back from a result (tuples become lists)


def execute(
    run: Run,
    preset_name: str,
    scale: str,
    out: Path,
    device: str = "cpu",
    report: Callable[[int], None] | None = None,
) -> dict:
    """Carry out ``run`` (resuming its checkpoint) and write its result; returns the result. A finished
    result is returned as it is, unless it was computed from other settings: then an error. The result's
    ``seconds`` count every launch of the run: the time spent so far is kept in ``NAME.elapsed``, written as
    the run starts, after each iteration and when it ends by an exception (Ctrl-C, an error), so that a
    launch killed outright (the pipeline's workers when it stops, ``kill -9``) loses only the time since its
    last iteration. ``report``: called with the run's environment steps done so far (earlier launches'
    included) as it starts and after each iteration (the Saez warm-up: once, at its end)."""
    import torch

    from ermas.two_level.evaluation import evaluate, uniform_planner, warm_saez_memory
    from ermas.two_level.robust import continue_marl, train_robust
    from ermas.two_level.training import train

    torch.set_num_threads(1)  # one thread per worker process: processes in parallel, not threads
    keep_freed_memory()  # a worker process of its own: keep freed memory for the next step's tensors
    settings = run_settings(run, preset_name, scale, out)
    result_path = out / f"{run.name}.json"
    elapsed = out / f"{run.name}.elapsed"  # the run's seconds over every launch so far, kept as it goes
    if result_path.exists():
        result = json.loads(result_path.read_text())
        if result.get("settings") != settings:
            differing = ", ".join(differences(result.get("settings"), settings))
            raise ValueError(
                f"{result_path} was computed with other settings (differing: {differing}); "
                "move it away or write to another --out"
            )
        elapsed.unlink(missing_ok=True)  # left by a kill between writing the result and removing it
        return result
    p = sized(preset_name, run.seed, scale)
    inputs = run_inputs(run, p, out)
    economy, training, agents_from, planner_from = (
        inputs.economy,
        inputs.training,
        inputs.agents_from,
        inputs.planner_from,
    )
    checkpoint = out / f"{run.name}.pt"
    steps_per_iteration = run_size(run, p)[1]
    earlier = float(elapsed.read_text()) if elapsed.exists() else 0.0
    start = time.perf_counter()

    def spent() -> None:  # the seconds of every launch so far, kept for the next launch
        atomic_write_text(f"{earlier + time.perf_counter() - start:.1f}\n", elapsed)

    def progress(iteration: int) -> None:  # the training loops report finished iterations
        spent()
        if report is not None:
            report(iteration * steps_per_iteration)

    def compute() -> tuple[dict, int]:  # the outcome and the iterations done
        if run.method == RANDOM and not planner_from.exists():
            atomic_save({"state": {"planner": uniform_planner(training)}}, planner_from)
        if run.kind == "budget_check" and not checkpoint.exists():
            evaluated = out / f"{run.evaluation().name}.pt"
            if resumable(evaluated):  # carry the finished evaluation on (else play it from the start)
                atomic_copy(evaluated, checkpoint)
        if run.kind in ("evaluate", "budget_check"):
            scored = evaluate(
                economy,
                training,
                run.eta,
                planner_from=planner_from,
                agents_from=agents_from,
                checkpoint=checkpoint,
                progress=progress,
                device=device,
                memory_from=inputs.memory_from,
            )
            return dataclasses.asdict(scored), training.iterations
        if run.kind == "saez_warmup":
            episodes = warm_saez_memory(economy, training, agents_from, checkpoint)
            progress(episodes)
            return {}, episodes
        if run.kind in ("ermas", "marl_continued"):  # iterations: ERMAS's outer steps, MARL's continuation's
            robust_run = train_robust if run.kind == "ermas" else continue_marl
            state = robust_run(economy, training, p.robust, agents_from, checkpoint, progress=progress, device=device)
        else:
            state = train(economy, training, checkpoint, agents_from, progress=progress, device=device)
        return {"social_welfare": state.history["social_welfare"][-1]}, state.iteration

    spent()  # before this launch writes any checkpoint: a run with a checkpoint has its time kept
    try:
        outcome, iterations = compute()
    except BaseException:  # Ctrl-C or an error: the time spent counts towards the run's total
        spent()
        raise
    result = dataclasses.asdict(run) | {
        "name": run.name,
        **outcome,
        "iterations": iterations,
        "env_steps": iterations * steps_per_iteration,
        "seconds": round(earlier + time.perf_counter() - start, 1),  # over every launch of the run
        "device": device,
        "settings": settings,
    }
    atomic_write_text(json.dumps(result, indent=1) + "\n", result_path)
    elapsed.unlink(missing_ok=True)
    return result


def run_pipeline(
    preset_name: str,
    seeds: list[int],
    out: Path,
    scale: str = "full",
    address: str | None = None,
    command: str = "",
    workers: int | None = None,
    device: str = "cpu",
    parts: tuple[int, ...] = (1, 2),
    etas: tuple[float, ...] = TEST_ETAS,
    budget_etas: tuple[float, ...] = (),
) -> pd.DataFrame:
    """Run every run of :func:`plan` not yet finished in ``out``, on Ray; returns the evaluation table.

    ``workers``: processes at once on this machine (default: one per core); ignored with ``address``.
    ``device``: where each run computes (``"cuda"``: each run takes one GPU of the cluster). ``parts``: which
    parts of :func:`plan` to run; ``etas``: the test etas of the evaluations; ``budget_etas``: the etas (of
    ``etas``) whose evaluations are also carried on as budget checks.
    A run that fails is recorded (``failed.json``) while the others go on; the runs that needed it fail
    too; at the end a ``RuntimeError`` names them. The manifest records each launch: its command, start
    (UTC) and wall time so far, kept across launches into the same ``out``.
    """
    import ray

    started = time.time()

    if preset_name not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}; got {preset_name!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}; got {scale!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be a positive integer; got {workers!r}")
    if not etas or not all(0 < eta <= 1 for eta in etas):
        raise ValueError(f"etas must be test etas in (0, 1]; got {etas!r}")
    if not set(budget_etas) <= set(etas):
        raise ValueError(f"budget_etas must be among the evaluations' etas {etas!r}; got {budget_etas!r}")
    if address is None:
        present_device(device)  # an error naming the device where it is not on this machine
    if address is not None:
        _check_reachable(address)
    out.mkdir(parents=True, exist_ok=True)
    options = dict(include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        if address is None:
            ray.init(num_cpus=workers, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ConnectionError(f"cannot reach the Ray cluster at {address!r}: {error}") from error
    gpus = 1 if device.startswith("cuda") else 0
    task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(_execute_after)
    fine_tune = preset(preset_name).fine_tune
    runs = plan(seeds, etas, parts, budget_etas)
    sizes = {run.name: math.prod(run_size(run, sized(preset_name, run.seed, scale))) for run in runs}
    results: list[dict] = []
    finished = {name for name in sizes if (out / f"{name}.json").exists()}  # by earlier launches, so far
    failed: dict[str, str] = {}
    try:
        with _terminate_as_interrupt():  # kill (SIGTERM) stops the pipeline as Ctrl-C does
            counter = ray.remote(num_cpus=0)(StepCounter).remote()
            refs: dict[str, ray.ObjectRef] = {}
            for run in runs:
                after = [refs[r.name] for r in needs(run, fine_tune)]
                refs[run.name] = task.remote(run, preset_name, scale, str(out), device, counter, *after)
            names = {ref: name for name, ref in refs.items()}
            pending = list(refs.values())
            earlier = sum(sizes[name] for name in finished)
            desc = f"Figure 6 ({preset_name})"
            with tqdm(total=sum(sizes.values()), initial=earlier, unit="step", unit_scale=True, desc=desc) as bar:
                while pending:
                    # a timeout, so that Ctrl-C reaches this loop (a blocking wait would hold it back)
                    done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
                    for ref in done:
                        try:
                            results.append(ray.get(ref))
                            finished.add(names[ref])
                        except ray.exceptions.RayError as error:
                            finished.discard(names[ref])  # a stored result refused for its settings
                            failed[names[ref]] = str(error).strip().splitlines()[-1]
                            atomic_write_text(json.dumps(failed, indent=1) + "\n", out / "failed.json")
                    if done:
                        write_results(out, results, preset_name, seeds, scale, command, started)
                    try:  # a failed run keeps the steps it did; without the counter, the bar stands still
                        reported = ray.get(counter.steps.remote(), timeout=5.0)
                    except (ray.exceptions.RayError, TimeoutError):
                        continue
                    done_steps = {name: min(reported.get(name, 0), size) for name, size in sizes.items()}
                    steps = sum(size if name in finished else done_steps[name] for name, size in sizes.items())
                    bar.update(steps - bar.n)
                    bar.set_postfix_str(f"{len(finished)}/{len(runs)} runs finished")
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"Figure 6 pipeline interrupted: {len(finished)} finished run(s) kept in {out}; the runs in progress "
            "resume from their last finished iteration when the same command is run again"
        ) from None
    finally:
        ray.shutdown()
    if failed:
        listing = "\n".join(f"  {name}: {why}" for name, why in sorted(failed.items()))
        raise RuntimeError(f"{len(failed)} run(s) failed (see {out / 'failed.json'}):\n{listing}")
    (out / "failed.json").unlink(missing_ok=True)
    return evaluation_table(results)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill PID``, a batch scheduler's stop) raises KeyboardInterrupt while this lasts, so that a
    pipeline running in the background stops as it does on Ctrl-C, which such a process often ignores."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:  # None: a handler set outside Python, which cannot be put back; the default then
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once, naming the address, when nothing answers there (Ray itself would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"address must be HOST:PORT of a Ray cluster's head; got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise ConnectionError(f"cannot reach the Ray cluster at {address!r}: {error}") from error


class StepCounter:
    """The environment steps each run of a pipeline has done, as its worker reports them (a Ray actor)."""

    def __init__(self) -> None:
        self.done: dict[str, int] = {}

    def report(self, name: str, steps: int) -> None:
        self.done[name] = steps

    def steps(self) -> dict[str, int]:
        return self.done


def _execute_after(
    run: Run, preset_name: str, scale: str, out: str, device: str, counter: ActorHandle, *needed: dict
) -> dict:
    """:func:`execute` in a Ray worker, once the results it ``needed`` are in, reporting its steps to ``counter``
    (a :class:`StepCounter`)."""

    def report(steps: int) -> None:
        counter.report.remote(run.name, steps)  # no need to wait for it

    return execute(run, preset_name, scale, Path(out), device, report)


def evaluation_table(results: list[dict]) -> pd.DataFrame:
    """One row per evaluation: seed, method, eta, welfare, converged, and the run's size and time."""
    rows = [r for r in results if r["kind"] == "evaluate"]
    columns = ["seed", "method", "eta", "welfare", "converged", "scored", "env_steps", "seconds"]
    return pd.DataFrame(rows, columns=columns).sort_values(["seed", "method", "eta"]).reset_index(drop=True)


def write_results(
    out: Path, results: list[dict], preset_name: str, seeds: list[int], scale: str, command: str, started: float
) -> None:
    """The table of finished runs and the manifest of every file, both written atomically; ``started``
    (seconds since the epoch) is when this launch began, recorded with the earlier launches' records."""
    table = pd.DataFrame(results).sort_values("name").reset_index(drop=True)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    atomic_write_text(buffer.getvalue(), out / "runs.csv")
    kept = (".pt", ".json", ".csv")
    files = sorted(p.name for p in out.iterdir() if p.suffix in kept and p.name not in ("manifest.json", "failed.json"))
    path = out / "manifest.json"
    previous = json.loads(path.read_text()) if path.exists() else {}  # an earlier launch's, or restore's
    manifest = {
        "command": command,
        "preset": preset_name,
        "scale": scale,
        "seeds": seeds,
        "versions": versions(threads="1 per run (each in a worker process of its own)"),
        "runs": {r["name"]: {"env_steps": r["env_steps"], "seconds": r["seconds"]} for r in results},
        "launches": launches(previous.get("launches", []), command, started, len(results)),
        **({"restored from": previous["restored from"]} if "restored from" in previous else {}),  # see restore
        "sha256": file_hashes(out, files),
    }
    atomic_write_text(json.dumps(manifest, indent=1) + "\n", path)


def launches(earlier: list[dict], command: str, started: float, finished_runs: int) -> list[dict]:
    """The ``earlier`` launch records with this launch's brought up to date: its command, start (UTC,
    ISO 8601), wall seconds from its start to now, and how many runs were finished by then (those it ran
    and those an earlier launch had finished)."""
    start = datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds")
    this = {
        "command": command,
        "started": start,
        "wall seconds": round(time.time() - started, 1),
        "finished runs": finished_runs,
    }
    return [launch for launch in earlier if launch["started"] != start] + [this]


def command_line() -> argparse.ArgumentParser:
    """The pipeline's command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m ermas.experiments.fig6", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "command",
        choices=["train", "store", "restore"],
        help="train: run the pipeline; store: copy its results to --data; restore: rebuild --out from --data",
    )
    parser.add_argument("--preset", default="laptop", choices=PRESETS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default results/fig6/PRESET)")
    parser.add_argument("--scale", default="full", choices=SCALES)
    parser.add_argument("--address", default=None, help="a Ray cluster to join (default: this machine)")
    parser.add_argument("--workers", type=int, default=None, help="processes at once here (default: one per core)")
    parser.add_argument("--part", type=int, choices=[1, 2], default=None, help="one part only (default: both)")
    parser.add_argument("--device", default="cpu", help="where each run computes: cpu (default) or cuda")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="stored results: store's destination, restore's source (default data/fig6/PRESET)",
    )
    parser.add_argument(
        "--budget-check",
        nargs="?",
        const="training-eta",
        choices=[choice for choice in BUDGET_CHECKS if choice is not None],
        default=None,
        help=f"also carry each evaluation at eta {TRAINING_ETA} (with 'all': at every test eta) on to "
        f"{BUDGET_FACTOR}x its iterations",
    )
    return parser


def output_folder(args: argparse.Namespace) -> Path:
    """Where ``train`` writes and ``store`` reads: ``--out``, by default ``results/fig6/PRESET[-tiny]``."""
    return args.out or Path("results") / "fig6" / _sized_name(args)


def _sized_name(args: argparse.Namespace) -> str:
    return f"{args.preset}{'-tiny' if args.scale == 'tiny' else ''}"


def regeneration(train_command: str, data: Path) -> str:
    """The commands that regenerate the stored results in ``data`` from the ``train`` command recorded in
    their manifest: that command, then ``store`` from its output folder into ``data`` (for a command that is
    not this module's ``train``, such as the notebook's retrain, the command and where to store it)."""
    prefix = ["python", "-m", "ermas.experiments.fig6", "train"]
    try:
        words = shlex.split(train_command)
        if words[: len(prefix)] != prefix:
            raise ValueError(train_command)
        args = command_line().parse_args(words[len(prefix) - 1 :])
    except (ValueError, SystemExit):  # argparse exits on what it cannot read
        return f"{train_command}, then store its results in {shlex.quote(str(data))}"
    out = shlex.quote(str(output_folder(args)))
    store = f"--preset {args.preset} --scale {args.scale} --out {out} --data {shlex.quote(str(data))}"
    return f"{train_command}, then python -m ermas.experiments.fig6 store {store}"


def main(argv: list[str] | None = None) -> None:
    parser = command_line()
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    out = output_folder(args)
    command = "python -m ermas.experiments.fig6 " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.command in ("store", "restore"):
        from ermas.experiments.fig6_results import restore, store  # they read this module's runs: imported here

        data = args.data or Path("data") / "fig6" / _sized_name(args)
        if args.command == "store":
            store(out, data, command.strip())
            print(f"stored {out} in {data}")
        else:
            restore(data, out)
            print(f"restored {data} into {out}")
        return
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    parts = (1, 2) if args.part is None else (args.part,)
    table = run_pipeline(
        args.preset,
        seeds,
        out,
        args.scale,
        args.address,
        command.strip(),
        args.workers,
        args.device,
        parts,
        budget_etas=BUDGET_CHECKS[args.budget_check],
    )
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
