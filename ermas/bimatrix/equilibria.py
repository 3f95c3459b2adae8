"""Pure-strategy Nash equilibria of a bimatrix stage game, by checking every cell."""

from __future__ import annotations

import numpy as np


def pure_nash_equilibria(row_payoff: np.ndarray, col_payoff: np.ndarray) -> list[tuple[int, int]]:
    """Cells ``(i, j)`` where neither player gains by changing only its own coordinate.

    ``row_payoff[i, j]`` pays the player choosing the row ``i``; ``col_payoff[i, j]`` the one choosing
    the column ``j``. Mixed equilibria are not searched (the tests use ``nashpy`` for those).
    """
    row_best = row_payoff >= row_payoff.max(axis=0, keepdims=True)
    col_best = col_payoff >= col_payoff.max(axis=1, keepdims=True)
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(row_best & col_best), strict=True)]
