"""The payoff matrices: stated properties checked with nashpy, and the CSV files equal to the code."""

import nashpy
import numpy as np

from ermas.bimatrix.equilibria import pure_nash_equilibria
from ermas.bimatrix.payoffs import design_default_payoffs, load_payoffs, released_payoffs


def test_csv_files_equal_their_generating_code():
    np.testing.assert_array_equal(load_payoffs("default"), design_default_payoffs())
    np.testing.assert_array_equal(load_payoffs("released"), released_payoffs())


def test_default_stage_game_has_exactly_one_equilibrium_and_it_is_pure():
    planner, r1, r2 = load_payoffs("default")
    game = nashpy.Game(r1, r2)
    by_support = list(game.support_enumeration())
    by_vertex = list(game.vertex_enumeration())
    assert len(by_support) == 1 and len(by_vertex) == 1
    row, col = by_support[0]
    assert np.allclose(row, [1, 0, 0, 0]) and np.allclose(col, [1, 0, 0, 0])
    assert pure_nash_equilibria(r1, r2) == [(0, 0)]


def test_default_equilibrium_is_a_tragedy_of_the_commons():
    _, r1, r2 = load_payoffs("default")
    better_for_both = (r1 > r1[0, 0]) & (r2 > r2[0, 0])
    assert better_for_both.any()
    assert better_for_both[3, 3]


def test_default_planner_is_paid_most_at_the_equilibrium():
    planner, _, _ = load_payoffs("default")
    assert planner[0, 0] == planner.max()
    assert (planner[0, 0] > np.delete(planner.ravel(), 0)).all()


def test_pure_equilibria_agree_with_nashpy_on_random_games():
    rng = np.random.default_rng(1)
    for _ in range(50):
        r1, r2 = rng.random(size=(2, 4, 4))  # continuous payoffs: a non-degenerate game
        pure = {
            (int(np.argmax(a)), int(np.argmax(b)))
            for a, b in nashpy.Game(r1, r2).vertex_enumeration()
            if np.isclose(a.max(), 1) and np.isclose(b.max(), 1)
        }
        assert set(pure_nash_equilibria(r1, r2)) == pure


def test_released_matrices_are_the_seed_zero_draws():
    state = np.random.RandomState(0)
    np.testing.assert_array_equal(released_payoffs()[0], state.rand(4, 4))
