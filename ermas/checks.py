"""Parameter checks shared by the experiments and the simulators.

Every check raises ``ValueError`` naming the parameter and the values it accepts, so a bad papermill
``-p`` or a bad configuration stops before any long computation starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}; got {value!r}")


def check_number(name: str, value: object, low: float, high: float = math.inf) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        allowed = f">= {low:g}" if high == math.inf else f"in {low:g}..{high:g}"
        raise ValueError(f"{name} must be a finite number {allowed}; got {value!r}")


def check_list(name: str, values: object, low: float, high: float) -> None:
    """A non-empty, increasing list of distinct numbers in ``low..high``."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name} must be a non-empty list of numbers (use -y '{name}: [...]'); got {values!r}")
    if not all(isinstance(v, int | float) and math.isfinite(v) and low <= v <= high for v in values):
        raise ValueError(f"{name} must all be numbers in {low:g}..{high:g}; got {values!r}")
    if list(values) != sorted(set(values)):
        raise ValueError(f"{name} must be distinct and increasing; got {values!r}")


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")


def check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False; got {value!r}")
