"""Stored tables are read only after their manifest's hashes check out."""

import json

import pandas as pd
import pytest

from ermas.manifest import ROOT, sha256, store_table, stored_table


def test_a_stored_table_reads_back_and_a_changed_or_missing_one_is_refused(tmp_path):
    written = pd.DataFrame({"episodes": ["exact", "32"], "estimate": [0.03, 0.02]})
    store_table(tmp_path, "t", written, {"command": "python make_t.py"})
    assert (tmp_path / "t.csv").read_text() == "episodes,estimate\nexact,0.03\n32,0.02\n"
    assert json.loads((tmp_path / "t.json").read_text())["files"] == {"t.csv": sha256(tmp_path / "t.csv")}
    table, manifest = stored_table(tmp_path, "t")
    assert manifest["command"] == "python make_t.py"
    assert table.episodes.tolist() == ["exact", "32"] and table.estimate.tolist() == [0.03, 0.02]
    (tmp_path / "t.csv").write_text("episodes,estimate\nexact,0.03\n32,0.04\n")
    with pytest.raises(ValueError, match=r"t\.csv has changed.*python make_t\.py"):
        stored_table(tmp_path, "t")
    (tmp_path / "t.csv").unlink()
    with pytest.raises(ValueError, match=r"t\.csv is missing.*python make_t\.py"):
        stored_table(tmp_path, "t")
    (tmp_path / "t.json").write_text(json.dumps({"command": "python make_t.py", "files": {}}))
    with pytest.raises(ValueError, match=r"holds no SHA-256 of t\.csv.*python make_t\.py"):
        stored_table(tmp_path, "t")
    (tmp_path / "t.json").unlink()
    with pytest.raises(FileNotFoundError, match="no manifest"):
        stored_table(tmp_path, "t")


def test_the_committed_regret_search_table_matches_its_manifest():
    table, _ = stored_table(ROOT / "data" / "bimatrix", "regret_search")
    assert table.episodes.iloc[0] == "exact" and "32" in set(table.episodes)
    assert (table["ms"] > 0).all()
