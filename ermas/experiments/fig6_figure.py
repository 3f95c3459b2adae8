"""Figure 6 as ``notebooks/fig6.ipynb`` shows it: its parameters, where its results come from, and the two
checks it runs live on the stored policies.

By default the notebook reads the stored runs (``data/fig6/PRESET``, hash-checked), which took hours to
train, and in minutes:

* **replays** every stored evaluation's final policies (agents, and the frozen planner they were evaluated
  under) for one fresh episode and compares the welfare with the stored score (:func:`replay`);
* **retrains** a small live part, one method's evaluation at the two extreme test etas for a few
  iterations from the same start as the stored run, to lay beside the stored curves (:func:`live_retrain`).

``retrain=True`` runs the whole pipeline instead (:func:`ermas.experiments.fig6.run_pipeline`, on Ray) and
stores its results before reading them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ermas.checks import check_bool, check_choice, check_int, check_list, check_number
from ermas.claims import Claim
from ermas.experiments.fig6 import RANDOM, TRAINED, TRAINING_ETA, Run, run_pipeline
from ermas.experiments.fig6_results import StoredResults, load, store, stored_inputs
from ermas.io import atomic_save
from ermas.two_level.evaluation import TEST_ETAS, evaluation_run, replay_welfare, uniform_planner
from ermas.two_level.presets import PRESETS, preset
from ermas.two_level.training import train

LIVE_TOLERANCE = 0.05
"""The largest relative difference allowed between a live retrain's welfare and the stored curve's at the
same iteration. The same seed gives the same bits on the CPU that stored the runs, and differences of a
few percent on other CPUs, where a last-bit difference flips some sampled actions."""


@dataclass(frozen=True)
class Fig6Params:
    """The notebook's parameters; checked before anything runs.

    ``test_etas``: the etas whose evaluations are shown, among them the training eta 0.23 (the claims
    compare the methods there); the random planner is evaluated at the training eta only.
    ``epsilon``: ERMAS's regret budget (an agent's reward summed over an episode), which must be the stored
    runs' (or, with ``retrain``, the preset's). ``workers``: processes for ``retrain`` (0: one per core).
    ``replay_envs``: environments of each replayed episode. ``live_iterations``: length of the live retrain
    (0: none)."""

    preset: str = "laptop"
    seeds: int = 3
    first_seed: int = 0
    test_etas: Sequence[float] = TEST_ETAS
    epsilon: float = 0.0
    retrain: bool = False
    workers: int = 0
    replay_envs: int = 128
    live_iterations: int = 4

    def __post_init__(self) -> None:
        check_choice("preset", self.preset, PRESETS)
        check_int("seeds", self.seeds, 1, 100)
        check_int("first_seed", self.first_seed, 0, 2**31)
        check_list("test_etas", self.test_etas, 0.0, 1.0)
        if self.test_etas[0] == 0:
            raise ValueError(f"test_etas must lie in (0, 1]; got {self.test_etas!r}")
        if TRAINING_ETA not in self.test_etas:
            raise ValueError(
                f"test_etas must include the training eta {TRAINING_ETA} (the claims compare the methods there); "
                f"got {self.test_etas!r}"
            )
        check_number("epsilon", self.epsilon, -1000.0, 1000.0)
        check_bool("retrain", self.retrain)
        check_int("workers", self.workers, 0, 1024)
        check_int("replay_envs", self.replay_envs, 1, 4096)
        check_int("live_iterations", self.live_iterations, 0, preset(self.preset).evaluation.iterations)
        trained_at = preset(self.preset).robust.epsilon
        if self.retrain and self.epsilon != trained_at:
            raise ValueError(
                f"epsilon must be the {self.preset} preset's ({trained_at:g}) with retrain=True: the pipeline trains "
                "ERMAS at its preset's epsilon"
            )

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))


def results_for(params: Fig6Params, root: Path) -> StoredResults:
    """The results the notebook shows: those stored in ``root/data/fig6/PRESET`` (after their hashes checked),
    or with ``retrain`` those of a fresh pipeline in ``root/results/fig6/PRESET``, stored beside it; only the
    requested seeds and test etas. Asking for seeds, etas or an epsilon the stored runs lack is an error
    naming the parameter."""
    if params.retrain:
        out = root / "results" / "fig6" / params.preset
        command = f"notebooks/fig6.ipynb with retrain=True ({params})"
        workers = params.workers or None
        run_pipeline(
            params.preset, params.seed_list, out, command=command, workers=workers, etas=tuple(params.test_etas)
        )
        store(out, out / "stored", command)
        stored = load(out / "stored")
    else:
        stored = load(root / "data" / "fig6" / params.preset)
    _check_covered(stored, params)
    return stored.subset(params.seed_list, params.test_etas)


def _check_covered(stored: StoredResults, params: Fig6Params) -> None:
    evaluations = stored.evaluations()
    have = sorted(evaluations.seed.unique())
    missing = [s for s in params.seed_list if s not in have]
    if missing:
        raise ValueError(
            f"seeds/first_seed: seeds {missing} are not in the stored results {stored.folder} (it has seeds {have}); "
            "pass retrain=True to train them"
        )
    etas = sorted(evaluations.eta.unique())
    missing = [e for e in params.test_etas if not np.isclose(etas, e).any()]
    if missing:
        raise ValueError(
            f"test_etas: {missing} are not in the stored results (they have {etas}); pass retrain=True to train them"
        )
    for name, settings in stored.settings.items():
        if "robust" in settings and settings["robust"]["epsilon"] != params.epsilon:
            raise ValueError(
                f"epsilon: the stored ERMAS runs were trained at epsilon={settings['robust']['epsilon']:g} ({name}); "
                f"got {params.epsilon:g}"
            )


def replay(stored: StoredResults, n_envs: int, progress: bool = True) -> pd.DataFrame:
    """Every stored evaluation but Saez's, replayed: one episode in ``n_envs`` environments with its final
    agents and the frozen planner (its source run's, or the uniform one) at its eta. Saez is left out: its
    rates depend on its model's buffer of incomes, which the stored results do not keep.

    Returns one row per evaluation: seed, method, eta, ``stored`` (its score) and ``replayed`` welfare."""
    rows = []
    evaluations = stored.runs[(stored.runs.kind == "evaluate") & (stored.runs.method != "Saez")]
    for run in tqdm(list(evaluations.itertuples()), desc="replaying stored policies", disable=not progress):
        inputs = stored_inputs(stored, run.name)
        if run.method in TRAINED:
            planner = stored.networks(Run(TRAINED[run.method], int(run.seed)).name)["planner"]
        elif run.method == RANDOM:
            planner = uniform_planner(inputs.training)
        else:
            planner = None
        agents = stored.networks(run.name)["agents"]
        welfare = replay_welfare(inputs.economy, inputs.training, agents, planner, run.eta, n_envs, int(run.seed))
        rows.append(
            {"seed": run.seed, "method": run.method, "eta": run.eta, "stored": run.welfare, "replayed": welfare}
        )
    return pd.DataFrame(rows)


def replay_summary(replayed: pd.DataFrame) -> pd.DataFrame:
    """Per method and eta: the stored and replayed welfare's means over seeds, the difference, and that
    difference in units of its standard error (both means' errors combined)."""
    grouped = replayed.groupby(["method", "eta"])
    table = grouped[["stored", "replayed"]].mean()
    n = grouped.size()
    se = np.sqrt((grouped.stored.var(ddof=1) + grouped.replayed.var(ddof=1)) / n)
    table["difference"] = table.replayed - table.stored
    table["in SE"] = table.difference / se
    return table.reset_index()


def replay_claim(summary: pd.DataFrame) -> Claim:
    """The stored scores are reproduced by their policies: every replayed mean within 3 standard errors
    (with three seeds the standard error is itself rough, and a comparison lies beyond 2 by chance alone in
    about one case in six)."""
    within = summary["in SE"].abs() <= 3
    worst = summary.loc[summary["in SE"].abs().idxmax()]
    return Claim(
        "6 (sanity)",
        "The stored policies, replayed, give their stored welfare",
        "per method and test eta (Saez not replayed), |replayed mean - stored mean| <= 3 standard errors",
        f"{int(within.sum())} of {len(summary)} within; largest {worst['in SE']:+.1f} SE "
        f"({worst.method} at eta={worst.eta:g})",
        bool(within.all()),
        bool(summary["in SE"].abs().between(2, 4).any()),  # a verdict another CPU's rounding could flip
    )


def live_retrain(
    stored: StoredResults, method: str, etas: Sequence[float], seed: int, iterations: int, progress: bool = True
) -> pd.DataFrame:
    """Rerun the first ``iterations`` of the stored evaluations of ``method`` (a learned planner) at ``etas``
    for ``seed``, from the stored networks they started from. Returns the live curves: name, iteration,
    social_welfare (the stored run's name, to lay beside its stored curve)."""
    if method not in TRAINED:
        raise ValueError(f"method must be a learned planner, one of {tuple(TRAINED)}; got {method!r}")
    curves = []
    source = Run(TRAINED[method], seed).name
    with tempfile.TemporaryDirectory() as folder:
        start = Path(folder) / f"{source}.pt"
        atomic_save({"state": stored.networks(source)}, start)  # the checkpoint form train() starts from
        for eta in etas:
            name = Run("evaluate", seed, method, eta).name
            inputs = stored_inputs(stored, name)
            economy, training = evaluation_run(inputs.economy, replace(inputs.training, iterations=iterations), eta)
            agents_from = None if inputs.agents_from is None else start
            state = train(economy, training, None, agents_from, start, progress=progress)
            welfare = state.history["social_welfare"]
            curves.append(pd.DataFrame({"name": name, "iteration": range(len(welfare)), "social_welfare": welfare}))
    return pd.concat(curves, ignore_index=True)


def live_claim(stored: StoredResults, live: pd.DataFrame) -> Claim:
    """The live retrain follows the stored curves: every iteration within :data:`LIVE_TOLERANCE`."""
    both = live.merge(stored.histories, on=["name", "iteration"], suffixes=("_live", "_stored"))
    difference = (both.social_welfare_live - both.social_welfare_stored).abs()
    relative = (difference / both.social_welfare_stored.abs()).where(difference > 0, 0.0)  # 0/0: the same
    return Claim(
        "6 (sanity)",
        "A short live retrain follows the stored evaluation curves",
        f"at every iteration rerun, |live - stored| welfare <= {LIVE_TOLERANCE:.0%} of the stored",
        f"{len(both)} iterations of {', '.join(live.name.unique())}; largest difference {relative.max():.2%}",
        bool(len(both) == len(live) and (relative <= LIVE_TOLERANCE).all()),
        bool(relative.max() > LIVE_TOLERANCE / 2),
    )
