"""Figure 6's stored results: written from a finished pipeline, loaded only after their hashes check, and
the part-1 claims and sanity checks read from them.

``store`` copies what a reader needs out of a pipeline's folder (``results/fig6/PRESET``) into
``data/fig6/PRESET``: the trained networks in float32 without their optimisers (an evaluation keeps its
agents only: its frozen planner is the one it was evaluating; a budget check keeps its curves only: its
agents serve nothing after its welfare is read, and for the laptop preset would add two thirds to the
size), one row per run
(``runs.csv``), every run's per-iteration curves (``histories.csv``), the settings each run was computed
from (``settings.json``), and a manifest (SHA-256 of every file, the commands, versions, steps and wall
time of each run)::

    python -m ermas.experiments.fig6 store --preset laptop

:func:`load` checks every hash before it reads anything; a missing or changed file is an error naming it
and the command that regenerates it. :func:`restore` goes the other way, so that the pipeline can add runs
(its budget checks) to stored results without training again what they start from::

    python -m ermas.experiments.fig6 restore --preset laptop
    python -m ermas.experiments.fig6 train --preset laptop --budget-check all
    python -m ermas.experiments.fig6 store --preset laptop
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ermas.claims import Claim
from ermas.experiments.fig6 import (
    BUDGET_FACTOR,
    RANDOM,
    TRAINING_ETA,
    Run,
    RunInputs,
    regeneration,
    run_inputs,
    run_settings,
    sized,
)
from ermas.io import atomic_save, atomic_write_text
from ermas.manifest import check_files, file_hashes
from ermas.two_level.evaluation import PlannerDiagnostics, planner_diagnostics

BASELINES = ("MARL", "US Federal", "Saez")
ERMAS_STATEMENTS = (
    "ERMAS beats the best baseline at every test eta",
    "ERMAS beats MARL at the training eta 0.23",
    "ERMAS's largest gain over the best baseline: up to 15%",
    "ERMAS beats MARL continued for the same budget at the training eta",
)
"""The paper's sentences about ERMAS, and its comparison with the fair control, as :func:`part2_claims`
checks them."""

CURVES = ("social_welfare", "productivity", "equality", "agent_return", "planner_return", "saez_formula")
"""The per-iteration statistics kept in ``histories.csv`` (a run without a planner has no planner return),
with ERMAS's multipliers and regret estimates (``lambda_i``, ``regret_i``) per outer step."""


def store(results: Path, data: Path, command: str) -> None:
    """Write the stored form of the finished pipeline in ``results`` to ``data`` (see the module docstring)."""
    pipeline = json.loads((results / "manifest.json").read_text())
    if "sha256" not in pipeline:
        raise ValueError(f"{results / 'manifest.json'} has no file hashes: run the pipeline (train) there first")
    check_files(results, pipeline["sha256"], pipeline["command"])
    finished = sorted(p for p in results.glob("*.json") if p.name not in ("manifest.json", "failed.json"))
    runs = [json.loads(p.read_text()) for p in finished]
    (data / "networks").mkdir(parents=True, exist_ok=True)
    curves, stored_networks = [], set()
    for run in runs:
        state = torch.load(results / f"{run['name']}.pt", weights_only=True)["state"]
        if run["kind"] == "saez_warmup":  # it keeps the economy's memory only
            continue
        if run["kind"] != "budget_check":  # a budget check keeps its curves only (see the module docstring)
            # an evaluation's planner is frozen: its source run's (phase 2, ERMAS, ...) or the uniform one
            learned_planner = "planner" in state and run["kind"] != "evaluate"
            networks = {"agents": state["agents"]} | ({"planner": state["planner"]} if learned_planner else {})
            networks = {k: {n: t.to(torch.float32) for n, t in v.items()} for k, v in networks.items()}
            atomic_save(networks, data / "networks" / f"{run['name']}.pt")
            stored_networks.add(f"{run['name']}.pt")
        kept = {k: v for k, v in state["history"].items() if k in CURVES or k.startswith(("lambda_", "regret_"))}
        history = pd.DataFrame(kept)
        curves.append(history.assign(name=run["name"], iteration=np.arange(len(history))))
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "settings"} for r in runs])
    first = [field.name for field in dataclasses.fields(Run)] + ["name"]  # then the outcomes, as they come
    table = table[first + [column for column in table.columns if column not in first]]
    _write_csv(table.sort_values("name"), data / "runs.csv")
    curves = pd.concat(curves)
    _write_csv(
        curves[["name", "iteration", *[c for c in curves if c not in ("name", "iteration")]]], data / "histories.csv"
    )
    for stale in (data / "networks").glob("*.pt"):  # an earlier store's, of a run no longer stored with networks
        if stale.name not in stored_networks:
            stale.unlink()
    settings = {r["name"]: r["settings"] for r in runs}
    atomic_write_text(json.dumps(settings, indent=1) + "\n", data / "settings.json")
    files = sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {
        "command": pipeline["command"],
        "store command": command,
        "versions": pipeline["versions"],
        "runs": pipeline["runs"],
        "total run seconds": round(sum(r["seconds"] for r in pipeline["runs"].values()), 1),
        "total environment steps": sum(r["env_steps"] for r in pipeline["runs"].values()),
        "launches": pipeline.get("launches", []),  # pipelines before launch records have none
        **({"restored from": pipeline["restored from"]} if "restored from" in pipeline else {}),
        "sha256": file_hashes(data, files),
    }
    atomic_write_text(json.dumps(manifest, indent=1) + "\n", data / "manifest.json")


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format="%.6g")
    atomic_write_text(buffer.getvalue(), path)


@dataclass(frozen=True)
class StoredResults:
    """Stored Figure 6 results whose hashes checked: the runs, their curves and settings, the manifest."""

    folder: Path
    runs: pd.DataFrame
    histories: pd.DataFrame
    settings: dict
    manifest: dict

    def evaluations(self) -> pd.DataFrame:
        """One row per evaluation: seed, method, eta, welfare, converged, scored."""
        rows = self.runs[self.runs.kind == "evaluate"]
        return rows[["seed", "method", "eta", "welfare", "converged", "scored"]].reset_index(drop=True)

    def networks(self, name: str) -> dict[str, dict[str, torch.Tensor]]:
        """The stored networks of run ``name``: ``agents``, and ``planner`` for a run that trained one (a
        budget check has none)."""
        if ((self.runs.name == name) & (self.runs.kind == "budget_check")).any():
            raise ValueError(f"{name} is a budget check, stored with its curves only: no networks")
        return torch.load(self.folder / "networks" / f"{name}.pt", weights_only=True)

    def subset(self, seeds: Sequence[int], etas: Sequence[float]) -> StoredResults:
        """The runs of ``seeds`` only, and of their evaluations and budget checks those at ``etas`` (and the
        random planner's, at the training eta only); the curves of the runs kept."""
        keep = self.runs.seed.isin(list(seeds))
        evaluation = self.runs.kind.isin(["evaluate", "budget_check"])
        at = np.isclose(self.runs.eta.to_numpy()[:, None], list(etas)).any(1) | (self.runs.method == RANDOM)
        runs = self.runs[keep & (~evaluation | at)].reset_index(drop=True)
        return replace(self, runs=runs, histories=self.histories[self.histories.name.isin(runs.name)])


def load(folder: Path | str) -> StoredResults:
    """The stored results in ``folder``, after every file's SHA-256 matched the manifest's."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(
            f"{manifest_path} is missing: no stored Figure 6 results there. Produce them with: "
            "python -m ermas.experiments.fig6 train --preset PRESET, then python -m ermas.experiments.fig6 store"
        )
    manifest = json.loads(manifest_path.read_text())
    check_files(folder, manifest["sha256"], regeneration(manifest["command"], folder))
    return StoredResults(
        folder,
        pd.read_csv(folder / "runs.csv"),
        pd.read_csv(folder / "histories.csv"),
        json.loads((folder / "settings.json").read_text()),
        manifest,
    )


def restore(data: Path, out: Path) -> None:
    """Rebuild a pipeline's folder ``out`` (empty) from the stored results in ``data`` (hash-checked): every
    run's result with a checkpoint of its networks and curves, the stored launch records, and where the
    results came from (their command and versions, kept by the next :func:`store`); a budget check's
    checkpoint holds its curves only, as stored. A restored checkpoint
    has no optimiser or random state: later runs start from its networks, but its own run cannot be
    carried on (a budget check then plays its evaluation again from the start, the same bits on the same
    CPU). The Saez warm-up is left out (its buffer is not stored): the pipeline plays it again, the same
    bits, with its seconds measured anew. Storing the folder again keeps every run in it, those of a later
    launch's plan or not."""
    stored = load(data)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: restore into a new folder")
    for result in json.loads(stored.runs.to_json(orient="records")):
        name = result["name"]
        if result["kind"] == "saez_warmup":  # its buffer is not stored: the pipeline plays it again
            continue
        # as the pipeline wrote it: a training phase's method empty, where an evaluation's fields are absent
        result = {key: "" if key == "method" and value is None else value for key, value in result.items()}
        result = {key: value for key, value in result.items() if value is not None}
        result["settings"] = stored.settings[name]
        curves = stored.histories[stored.histories.name == name].drop(columns=["name", "iteration"])
        history = {column: values.tolist() for column, values in curves.dropna(axis=1, how="all").items()}
        networks = {} if result["kind"] == "budget_check" else stored.networks(name)
        atomic_save({"state": networks | {"history": history}}, out / f"{name}.pt")
        atomic_write_text(json.dumps(result, indent=1) + "\n", out / f"{name}.json")
    provenance = {key: stored.manifest[key] for key in ("command", "store command", "versions")}
    manifest = {"restored from": {"folder": str(data), **provenance}, "launches": stored.manifest.get("launches", [])}
    atomic_write_text(json.dumps(manifest, indent=1) + "\n", out / "manifest.json")


def load_pipeline_table(folder: Path | str) -> tuple[dict, pd.DataFrame]:
    """A pipeline's own manifest and its table of runs, kept without the run files (as for a rerun that
    checks the stored results, e.g. ``data/fig6/laptop-part1-rerun``), after the table's SHA-256 matched."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    check_files(folder, {"runs.csv": manifest["sha256"]["runs.csv"]}, manifest["command"])
    return manifest, pd.read_csv(folder / "runs.csv")


def stored_inputs(stored: StoredResults, name: str) -> RunInputs:
    """The inputs (economy, training, starting checkpoints' names) of the stored run ``name``, rebuilt from
    this code's preset after checking that the run was computed with exactly these settings."""
    saved = stored.settings[name]
    row = stored.runs[stored.runs.name == name].iloc[0]
    run = Run(row.kind, int(row.seed), "" if pd.isna(row.method) else row.method, float(row.eta))
    if saved != run_settings(run, saved["preset"], saved["scale"], stored.folder):
        raise ValueError(f"{name} in {stored.folder} was computed with settings other than this code's preset")
    return run_inputs(run, sized(saved["preset"], run.seed, saved["scale"]), stored.folder)


def planner_checks(stored: StoredResults, eta: float = TRAINING_ETA, n_envs: int = 16) -> list[PlannerDiagnostics]:
    """:func:`ermas.two_level.evaluation.planner_diagnostics` of every seed's learned planner (phase 2), with
    the settings it was trained with, which must be this code's preset."""
    found = []
    for seed in sorted(stored.runs.seed[stored.runs.kind == "phase2"]):
        name = Run("phase2", int(seed)).name
        inputs = stored_inputs(stored, name)
        networks = stored.networks(name)
        found.append(planner_diagnostics(inputs.economy, inputs.training, networks, eta, n_envs, seed=int(seed)))
    return found


def summary(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Welfare per method and test eta: mean and standard error over seeds, and how many runs converged."""
    grouped = evaluations.groupby(["method", "eta"])
    table = grouped.agg(mean=("welfare", "mean"), seeds=("welfare", "size"), converged=("converged", "sum"))
    table["se"] = grouped.welfare.std(ddof=1) / np.sqrt(table.seeds)
    return table.reset_index()


def welfare_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`summary`'s means as text, one row per test eta and one column per method; a cell where not
    every seed's evaluation converged carries how many did, e.g. ``"43.0 (2 of 3 converged)"``: the mean
    keeps those runs, marked, not silently."""
    text = [
        f"{mean:.1f}" + ("" if converged == seeds else f" ({converged} of {seeds} converged)")
        for mean, converged, seeds in zip(table["mean"], table.converged, table.seeds, strict=True)
    ]
    return table.assign(text=text).pivot(index="eta", columns="method", values="text").fillna("")


def gains_over(evaluations: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Each method's welfare relative to ``reference``'s at the same seed and eta, in percent: mean and
    standard error over seeds per method and eta (the reference itself left out)."""
    table = evaluations.pivot_table(index=["seed", "eta"], columns="method", values="welfare")
    relative = table.drop(columns=reference).div(table[reference], axis=0).sub(1).mul(100)
    long = relative.reset_index().melt(id_vars=["seed", "eta"], var_name="method", value_name="gain").dropna()
    grouped = long.groupby(["method", "eta"]).gain
    return pd.DataFrame({"mean": grouped.mean(), "se": grouped.std(ddof=1) / np.sqrt(grouped.size())}).reset_index()


def paired_gap(evaluations: pd.DataFrame, better: str, worse: str, eta: float) -> tuple[float, float]:
    """Mean over seeds of ``better``'s welfare minus ``worse``'s at ``eta`` (same seed), and its standard
    error (NaN with one seed)."""
    at = evaluations[np.isclose(evaluations.eta, eta)].pivot(index="seed", columns="method", values="welfare")
    gaps = (at[better] - at[worse]).dropna()
    se = float(gaps.std(ddof=1) / math.sqrt(len(gaps))) if len(gaps) > 1 else float("nan")
    return float(gaps.mean()), se


def _beats(evaluations: pd.DataFrame, better: str, worse: str, eta: float) -> tuple[bool, bool, str]:
    """Whether ``better`` beats ``worse`` at ``eta``, whether that is within one standard error, and the numbers."""
    gap, se = paired_gap(evaluations, better, worse, eta)
    return gap > 0, bool(abs(gap) < se), f"eta={eta:g}: {better} - {worse} = {gap:+.2f} (SE {se:.2f})"


def part1_claims(
    stored: StoredResults, diagnostics: list[PlannerDiagnostics], training_eta: float = TRAINING_ETA
) -> list[Claim]:
    """The paper's sentences about MARL and Saez (Section 5) and the sanity checks beside them, on the stored
    evaluations and on ``diagnostics`` of each seed's learned planner.

    A method beats another where its welfare minus the other's, paired by seed, is positive on average; a
    verdict whose gap is within one standard error of zero is marked close.
    """
    ev = stored.evaluations()
    claims = _marl_against_saez(ev, training_eta)
    ratios = [d.entropy_ratio for d in diagnostics]
    claims.append(
        Claim(
            "6 (sanity)",
            "The planner learned: its choices are far from uniform",
            "mean over seeds of its entropy at rate-setting steps / a uniform choice's < 0.8",
            "ratio per seed " + ", ".join(f"{r:.3f}" for r in ratios),
            float(np.mean(ratios)) < 0.8,
        )
    )
    for other in ("Random planner", "US Federal"):
        beats, close, measured = _beats(ev, "MARL", other, training_eta)
        claims.append(
            Claim(
                "6 (sanity)",
                f"MARL beats {other} at the training eta",
                f"mean paired gap MARL - {other} > 0",
                measured,
                beats,
                close,
            )
        )
    runs = stored.runs[stored.runs.kind == "evaluate"]
    moving = runs[~runs.converged.astype(bool)]
    claims.append(
        Claim(
            "6 (sanity)",
            "Evaluation agents converged",
            "every evaluation's welfare flat over its last 20% (trend < 5% of its level)",
            f"{len(runs) - len(moving)} of {len(runs)} converged"
            + (f"; not: {', '.join(moving.name)}" if len(moving) else ""),
            moving.empty,
        )
    )
    gaps = [abs(d.reward_sum - d.welfare_change) for d in diagnostics]
    claims.append(
        Claim(
            "6 (sanity)",
            "The planner's summed rewards equal the change in social welfare",
            "per seed, |sum of planner rewards - (final - initial welfare)| < 1e-4",
            f"largest difference {max(gaps):.1e} (welfare changes "
            + ", ".join(f"{d.welfare_change:.1f}" for d in diagnostics)
            + ")",
            max(gaps) < 1e-4,
        )
    )
    claims.append(bracket_claim(diagnostics))
    return claims


def _marl_against_saez(ev: pd.DataFrame, training_eta: float) -> list[Claim]:
    """The paper's three sentences about MARL and Saez on the evaluations ``ev``."""
    beats, close, measured = _beats(ev, "MARL", "Saez", training_eta)
    claims = [
        Claim(
            "6", "MARL beats Saez at the training eta 0.23", "mean paired gap MARL - Saez > 0", measured, beats, close
        )
    ]
    etas = sorted(ev.eta.unique())
    for side, chosen in (("below 0.22", [e for e in etas if e < 0.22]), ("above 0.28", [e for e in etas if e > 0.28])):
        checks = [_beats(ev, "MARL", "Saez", eta) for eta in chosen]
        claims.append(
            Claim(
                "6",
                f"MARL does not beat Saez at eta {side}",
                "at every such test eta, mean paired gap MARL - Saez <= 0",
                "; ".join(m for _, _, m in checks),
                not any(b for b, _, _ in checks),
                any(c for _, c, _ in checks),
            )
        )
    return claims


def at_budget_check(stored: StoredResults) -> StoredResults:
    """``stored`` as if every evaluation had run :data:`~ermas.experiments.fig6.BUDGET_FACTOR` times as long:
    each evaluation with a budget check replaced by it (its welfare, convergence and scoring), those without
    one left out, and no budget checks left over. For reading tables and claims only: the rows keep the
    checks' names and settings, so their networks and inputs are not to be looked up from it."""
    runs = stored.runs
    checks = runs[runs.kind == "budget_check"].assign(kind="evaluate")
    evaluated = runs[runs.kind == "evaluate"].merge(checks[["seed", "method", "eta"]])
    if len(evaluated) != len(checks):
        raise ValueError("a budget check without its evaluation: these stored results are incomplete")
    kept = runs[~runs.kind.isin(["evaluate", "budget_check"])]
    return replace(stored, runs=pd.concat([kept, checks], ignore_index=True))


def verdicts_at_budget_check(stored: StoredResults, training_eta: float = TRAINING_ETA) -> list[Claim]:
    """The paper's sentences about MARL and Saez and about ERMAS (:func:`part1_claims`' first three and
    :func:`part2_claims`) read from the budget checks instead of the evaluations, where every evaluation has
    one (``train --budget-check all``); an empty list otherwise. Their figure says so: "6, 2x evaluation"."""
    longer = at_budget_check(stored)
    longer_evaluations = longer.evaluations()
    if len(longer_evaluations) < len(stored.evaluations()):
        return []
    claims = _marl_against_saez(longer_evaluations, training_eta) + part2_claims(longer, training_eta)
    return [replace(c, figure=f"{c.figure}, {BUDGET_FACTOR}x evaluation") for c in claims]


def budget_claims(stored: StoredResults) -> list[Claim]:
    """The recipe's check that evaluations ran long enough, one claim per eta with budget checks: the
    methods' ranking there (their mean welfare over seeds) is the same after
    :data:`~ermas.experiments.fig6.BUDGET_FACTOR` times the evaluation's iterations (the pipeline's
    ``budget_check`` runs) as after the evaluation, over the (method, seed) pairs that have both. A verdict
    where, in either ranking, two neighbours' paired gap is within one standard error of zero is marked
    close (never with one seed: no standard error). No claim for an eta without such pairs (an empty list
    where no budget checks are stored)."""
    checked = stored.runs[stored.runs.kind == "budget_check"]
    claims = [] if checked.empty else [_budget_claim(stored.runs, eta) for eta in sorted(set(checked.eta))]
    return [claim for claim in claims if claim is not None]


def _paired_with_checks(runs: pd.DataFrame, eta: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The evaluations at ``eta`` and their budget checks, over the (method, seed) pairs that have both."""
    at_eta = runs[np.isclose(runs.eta, eta)]
    checked, evaluated = (at_eta[at_eta.kind == kind] for kind in ("budget_check", "evaluate"))
    pairs = evaluated[["method", "seed"]].merge(checked[["method", "seed"]])
    return evaluated.merge(pairs), checked.merge(pairs)


def ranking_changes(stored: StoredResults) -> pd.DataFrame:
    """Every pair of methods whose order of mean welfare at an eta differs between the evaluations and
    their budget checks (over the (method, seed) pairs with both): ``eta``, the method ``ahead`` in the
    evaluations and the one ``behind``, and there the paired ``gap`` (ahead - behind) and its ``se``."""
    rows = []
    for eta in sorted(set(stored.runs.eta[stored.runs.kind == "budget_check"])):
        evaluated, checked = _paired_with_checks(stored.runs, eta)
        before, after = (table.groupby("method").welfare.mean() for table in (evaluated, checked))
        for ahead in before.index:
            for behind in before.index[(before < before[ahead]).to_numpy()]:
                if after[ahead] < after[behind]:
                    rows.append((eta, ahead, behind, *paired_gap(evaluated, ahead, behind, eta)))
    return pd.DataFrame(rows, columns=["eta", "ahead", "behind", "gap", "se"])


def _budget_claim(runs: pd.DataFrame, eta: float) -> Claim | None:
    evaluated, checked = _paired_with_checks(runs, eta)
    if evaluated.empty:
        return None
    rankings, close = [], False
    for table in (evaluated, checked):
        means = table.groupby("method").welfare.mean().sort_values(ascending=False)
        for better, worse in zip(means.index[:-1], means.index[1:], strict=True):
            gap, se = paired_gap(table, better, worse, eta)
            close |= bool(abs(gap) < se)
        rankings.append(means)
    before, after = rankings
    return Claim(
        "6 (sanity)",
        f"The methods' ranking at eta {eta:g} holds at {BUDGET_FACTOR}x the evaluation budget",
        "the order of the methods' mean welfare over seeds unchanged",
        " ; ".join(
            f"{label}: " + " > ".join(f"{method} {welfare:.1f}" for method, welfare in means.items())
            for label, means in (("evaluation", before), (f"{BUDGET_FACTOR}x", after))
        ),
        list(before.index) == list(after.index),
        close,
    )


def bracket_claim(diagnostics: list[PlannerDiagnostics]) -> Claim:
    """Whether, under each seed's learned planner, the agents' incomes reach every tax bracket."""
    return Claim(
        "6 (sanity)",
        "Tax periods' incomes reach every bracket",
        "under each seed's learned planner, some agent's income in some tax period falls in each of the 7 brackets",
        "agent tax periods per bracket, lowest to highest, per seed: "
        + "; ".join("/".join(str(n) for n in d.periods_by_bracket) for d in diagnostics),
        all(min(d.periods_by_bracket) > 0 for d in diagnostics),
    )


def best_baseline_gap(evaluations: pd.DataFrame, eta: float) -> tuple[str, float, float, float]:
    """At ``eta``: the baseline with the highest mean welfare, ERMAS's mean paired gap over it with its
    standard error, and that gap relative to the baseline's mean welfare (NaN where that mean is not
    positive: a relative gain over it means nothing)."""
    at = evaluations[np.isclose(evaluations.eta, eta) & evaluations.method.isin(BASELINES)]
    means = at.groupby("method").welfare.mean()
    best = means.idxmax()
    gap, se = paired_gap(evaluations, "ERMAS", best, eta)
    return best, gap, se, gap / means[best] if means[best] > 0 else math.nan


def part2_claims(stored: StoredResults, training_eta: float = TRAINING_ETA) -> list[Claim]:
    """The paper's sentences about ERMAS (Section 5, Figure 6) on the stored evaluations: ERMAS beats the
    best baseline at every test eta, beats MARL at the training eta, by a largest relative gain the paper
    puts at up to 15%; beside them, ERMAS against its fair control (MARL continued for the same budget).
    Without stored ERMAS evaluations each claim fails and says so."""
    ev = stored.evaluations()
    if not (ev.method == "ERMAS").any():
        missing = "no stored ERMAS evaluations (part 2 of the pipeline has not been run or stored)"
        figures = ("6", "6", "6", "6 (control)")
        pairs = zip(figures, ERMAS_STATEMENTS, strict=True)
        return [Claim(figure, statement, "needs ERMAS's evaluations", missing, False) for figure, statement in pairs]
    etas = sorted(ev.eta[ev.method == "ERMAS"].unique())
    gaps = [(eta, *best_baseline_gap(ev, eta)) for eta in etas]
    claims = [
        Claim(
            "6",
            ERMAS_STATEMENTS[0],
            "at each test eta, mean paired gap ERMAS - (the baseline with the highest mean) > 0",
            "; ".join(f"eta={eta:g}: ERMAS - {best} = {gap:+.2f} (SE {se:.2f})" for eta, best, gap, se, _ in gaps),
            all(gap > 0 for _, _, gap, _, _ in gaps),
            any(abs(gap) < se for _, _, gap, se, _ in gaps),
        )
    ]
    beats, close, measured = _beats(ev, "ERMAS", "MARL", training_eta)
    claims.append(Claim("6", ERMAS_STATEMENTS[1], "mean paired gap > 0", measured, beats, close))
    defined = [g for g in gaps if not math.isnan(g[4])]
    criterion = "the largest relative gain over the test etas is positive (the paper: up to 15%)"
    if defined:
        eta, best, gap, se, relative = max(defined, key=lambda g: g[4])
        measured = f"largest at eta={eta:g}: {relative:+.1%} over {best} (gap {gap:+.2f}, SE {se:.2f})"
        if len(defined) < len(gaps):
            left_out = ", ".join(f"{g[0]:g}" for g in gaps if math.isnan(g[4]))
            measured += f"; left out (the best baseline's mean welfare not positive): eta={left_out}"
        claims.append(Claim("6", ERMAS_STATEMENTS[2], criterion, measured, relative > 0, abs(gap) < se))
    else:
        measured = "undefined: the best baseline's mean welfare is not positive at any test eta"
        claims.append(Claim("6", ERMAS_STATEMENTS[2], criterion, measured, False))
    beats, close, measured = _beats(ev, "ERMAS", "MARL continued", training_eta)
    claims.append(
        Claim(
            "6 (control)",
            ERMAS_STATEMENTS[3],
            "mean paired gap > 0",
            measured,
            beats,
            close,
        )
    )
    return claims
