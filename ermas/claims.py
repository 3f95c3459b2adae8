"""Claims of the paper checked against a run: each one PASS or FAIL with the numbers behind it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


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


METADATA_KEY = "ermas_claims"


def show_claims(claims: list[Claim]) -> None:
    """Display the claims table in a notebook, with the claims themselves in the output's metadata.

    The book's reproduction report reads that metadata from the notebooks executed for the build, so it
    always shows the numbers of the runs in the book (and never those of some other run).
    """
    from IPython.display import display

    records = [asdict(c) | {"verdict": c.verdict} for c in claims]
    display(claims_table(claims), metadata={METADATA_KEY: records})
