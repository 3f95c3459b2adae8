"""The Figure 6 notebook's parameters: bad values and values the stored runs lack are refused up front."""

from pathlib import Path

import pytest

from ermas.experiments.fig6_figure import Fig6Params, results_for
from ermas.parameters import notebook_parameters

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"preset": "desktop"}, "preset must be one of"),
        ({"test_etas": [0.0, 0.23]}, r"test_etas must lie in \(0, 1\]"),
        ({"test_etas": [0.23, 1.5]}, "test_etas must all be numbers in 0..1"),
        ({"test_etas": [0.11, 0.35]}, r"test_etas must include the training eta 0\.23"),
        ({"seeds": 0}, "seeds must be an integer in 1..100"),
        ({"live_iterations": 21}, "live_iterations must be an integer in 0..20"),
        ({"retrain": True, "epsilon": -5.0}, r"epsilon must be the laptop preset's \(0\) with retrain=True"),
        ({"replay_envs": 0}, "replay_envs must be an integer"),
    ],
)
def test_bad_parameters_are_refused(given, message):
    with pytest.raises(ValueError, match=message):
        Fig6Params(**given)


def test_an_unknown_notebook_parameter_is_an_error():
    with pytest.raises(ValueError, match="unknown parameter.*n_seeds"):
        notebook_parameters(Fig6Params, {"n_seeds": 3})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"seeds": 5}, r"seeds/first_seed: seeds \[3, 4\] are not in the stored results"),
        ({"test_etas": [0.23, 0.5]}, r"test_etas: \[0.5\] are not in the stored results"),
        ({"epsilon": -10.0}, "epsilon: the stored ERMAS runs were trained at epsilon=0"),
    ],
)
def test_what_the_stored_runs_lack_is_refused_naming_the_parameter(given, message):
    with pytest.raises(ValueError, match=message):
        results_for(Fig6Params(**given), ROOT)


def test_the_stored_runs_narrow_to_the_requested_seeds_and_etas():
    stored = results_for(Fig6Params(seeds=2, first_seed=1, test_etas=[0.23, 0.35]), ROOT)
    evaluations = stored.evaluations()
    assert set(evaluations.seed) == {1, 2}
    assert set(evaluations.eta) == {0.23, 0.35}
    assert set(evaluations.method[evaluations.eta == 0.35]) == {"MARL", "US Federal", "Saez", "ERMAS", "MARL continued"}
    checks = stored.runs[stored.runs.kind == "budget_check"]
    assert set(checks.eta) == {0.23, 0.35} and set(checks.seed) == {1, 2}


def test_without_ermas_evaluations_every_ermas_claim_fails_and_says_why():
    from dataclasses import replace

    from ermas.experiments.fig6_results import ERMAS_STATEMENTS, part2_claims

    stored = results_for(Fig6Params(), ROOT)
    claims = part2_claims(replace(stored, runs=stored.runs[stored.runs.method != "ERMAS"]))
    assert [c.statement for c in claims] == list(ERMAS_STATEMENTS)
    assert not any(c.passed for c in claims) and all("no stored ERMAS evaluations" in c.measured for c in claims)
    assert [c.statement for c in part2_claims(stored)] == list(ERMAS_STATEMENTS)
