"""CITATION.cff names the paper as the preferred citation and carries the package's version and license."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_citation_matches_the_package_and_prefers_the_paper():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert citation["cff-version"] == "1.2.0"
    assert citation["version"] == project["version"]
    assert citation["license"] == project["license"]
    paper = citation["preferred-citation"]
    assert paper["title"].startswith("ERMAS: Becoming Robust")
    assert [a["family-names"] for a in paper["authors"]] == ["Zhao", "Trott", "Xiong", "Zheng"]
    assert {"type": "other", "value": "arXiv:2106.05492"} in paper["identifiers"]
