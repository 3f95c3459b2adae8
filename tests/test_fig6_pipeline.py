"""The Figure 6 pipeline on Ray, at the tiny scale: every run finishes, a rerun skips them, a lost result is
redone once, the manifest's hashes check, and bad input is refused before anything runs."""

import json

import pytest

from ermas.experiments.fig6 import METHODS, main, plan, run_pipeline
from ermas.manifest import check_files
from ermas.two_level.evaluation import TEST_ETAS


def test_the_tiny_pipeline_runs_resumes_and_is_hashed(tmp_path):
    out = tmp_path / "fig6"
    table = run_pipeline("laptop", [0], out, scale="tiny", command="test")
    assert len(table) == len(METHODS) * len(TEST_ETAS)
    assert set(table.method) == set(METHODS)
    assert (table[table.method != "Saez"].scored > 0).all()  # Saez's buffer does not fill in a tiny run
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["runs"]) == len(plan([0])) and "torch" in manifest["versions"]
    check_files(out, manifest["sha256"], manifest["command"])

    # a run whose result was lost (killed before writing it) is redone, once; the others are skipped
    lost = out / "seed0_us_federal_eta0.23.json"
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json") if p != lost and p.name != "manifest.json"}
    lost.unlink()
    again = run_pipeline("laptop", [0], out, scale="tiny", command="test")
    assert len(again) == len(table) and lost.exists()
    assert all((out / name).stat().st_mtime_ns == t for name, t in before.items())  # not rerun

    # a tampered file fails the check, naming it and the command
    (out / "seed0_phase1.pt").write_bytes(b"tampered")
    with pytest.raises(ValueError, match=r"seed0_phase1\.pt has changed.*Regenerate the results with: test"):
        check_files(out, json.loads((out / "manifest.json").read_text())["sha256"], "test")


def test_bad_input_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="preset must be one of"):
        run_pipeline("cluster", [0], tmp_path)
    with pytest.raises(SystemExit):
        main(["train", "--preset", "cluster"])
    with pytest.raises(ConnectionError, match="cannot reach the Ray cluster"):
        run_pipeline("laptop", [0], tmp_path, scale="tiny", address="127.0.0.1:1")
