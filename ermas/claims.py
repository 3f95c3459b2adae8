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
    close: bool = False  # the measurement lies within one standard error (over seeds) of the check's threshold

    def __post_init__(self) -> None:
        # numpy's booleans (from comparing numpy numbers) would not serialise into a notebook's metadata
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "close", bool(self.close))

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    @property
    def verdict_shown(self) -> str:
        """The verdict, marked where the measurement is within one standard error of the threshold."""
        return self.verdict + (" (close)" if self.close else "")


def claims_table(claims: list[Claim]) -> pd.DataFrame:
    """A table with one row per claim, for display in a notebook."""
    rows = [{"claim": c.statement, "check": c.test, "measured": c.measured, "verdict": c.verdict_shown} for c in claims]
    return pd.DataFrame(rows)


METADATA_KEY = "ermas_claims"


def show_claims(claims: list[Claim]) -> None:
    """Display the claims table in a notebook, with the claims themselves in the output's metadata.

    The book's reproduction report reads that metadata from the notebooks executed for the build, so it
    always shows the numbers of the runs in the book (and never those of some other run).
    """
    from IPython.display import display

    records = [asdict(c) | {"verdict": c.verdict_shown} for c in claims]
    display(claims_table(claims), metadata={METADATA_KEY: records})


def print_verdicts(claims: list[Claim]) -> None:
    """Print one line per claim, its verdict and the paper's statement, without the measured numbers.

    This is what ``pytest --nbval`` compares: the verdicts survive other CPUs, kernels and torch builds,
    while the numbers behind them move in their last digits (those cells are not compared).
    A claim whose measurement lies within one standard error of its threshold prints ``CLOSE`` instead of
    its verdict: such a verdict can change with the CPU's rounding or the seeds, so only its closeness is
    compared.
    """
    for c in claims:
        print(f"{'CLOSE' if c.close else c.verdict}  Figure {c.figure}: {c.statement}")
