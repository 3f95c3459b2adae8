"""The Figure 3 ablation runner: one row per ablation, written atomically, resumed without rerunning."""

import dataclasses
import json

import pandas as pd
import pytest

from ermas.experiments import fig3_ablation
from ermas.experiments.fig3 import Fig3Params
from ermas.manifest import sha256

TINY = Fig3Params(seeds=1, epsilons=(0.0, 0.1), n_iters=12, warmup_iters=4, last_iters=4, n_inner=2)
ABLATIONS = {"default": {}, "no continuity": {"continuity": False}}


def test_rows_manifest_and_resume(tmp_path, monkeypatch):
    table, manifest = tmp_path / "t.csv", tmp_path / "t.json"
    fig3_ablation.run_ablations(TINY, {"default": {}}, table, "cmd")
    first = pd.read_csv(table)
    assert list(first.ablation) == ["default"]
    assert {"MARL at Nash", "planner falls", "regret bounded"} <= set(first.columns)
    assert set(first["regret bounded"]) <= {"PASS", "FAIL"}
    written = json.loads(manifest.read_text())
    assert written["command"] == "cmd" and written["base"]["n_iters"] == 12 and "torch" in written["versions"]
    assert written["files"] == {"t.csv": sha256(table)}  # the table as written, for readers to check

    calls = []
    real = fig3_ablation.ablation_row
    monkeypatch.setattr(fig3_ablation, "ablation_row", lambda name, *a: calls.append(name) or real(name, *a))
    both = fig3_ablation.run_ablations(TINY, ABLATIONS, table, "cmd")
    assert calls == ["no continuity"]  # the finished row is not run again
    assert list(both.ablation) == ["default", "no continuity"]
    pd.testing.assert_frame_equal(both.iloc[:1], first)


def test_a_table_of_other_settings_is_not_extended(tmp_path):
    table, manifest = tmp_path / "t.csv", tmp_path / "t.json"
    pd.DataFrame([{"ablation": "default"}]).to_csv(table, index=False)
    base = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(TINY).items()}
    manifest.write_text(json.dumps({"base": base}))
    other = dataclasses.replace(TINY, seeds=2)
    with pytest.raises(SystemExit, match="other settings"):
        fig3_ablation.run_ablations(other, ABLATIONS, table, "cmd")


def test_the_stored_table_has_every_ablation():
    stored = fig3_ablation.stored_ablations()
    assert list(stored.index) == list(fig3_ablation.ABLATIONS)
