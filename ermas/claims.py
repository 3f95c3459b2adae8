"""Claims of the paper checked against a run: each one PASS or FAIL with the numbers behind it."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from ermas.io import atomic_write_json


@dataclass(frozen=True)
class Claim:
    """One statement of the paper and what a run measured for it."""

    figure: str
    statement: str  # what the paper says, in our words
    test: str  # how this package checks it, with its tolerance
    measured: str  # the numbers, rounded
    passed: bool

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"


def claims_table(claims: list[Claim]) -> pd.DataFrame:
    """A table with one row per claim, for display in a notebook."""
    rows = [{"claim": c.statement, "check": c.test, "measured": c.measured, "verdict": c.verdict} for c in claims]
    return pd.DataFrame(rows)


CLAIMS_DIR = Path(os.environ.get("ERMAS_CLAIMS_DIR", Path(__file__).resolve().parents[1] / "_build" / "claims"))


def save_claims(claims: list[Claim], name: str) -> Path:
    """Write the claims as ``CLAIMS_DIR/<name>.json`` (atomically), for the book's reproduction report."""
    path = CLAIMS_DIR / f"{name}.json"
    atomic_write_json([asdict(c) | {"verdict": c.verdict} for c in claims], path)
    return path
