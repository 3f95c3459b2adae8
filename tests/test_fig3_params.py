"""Figure 3's parameters are checked before anything runs, with messages naming the parameter."""

from pathlib import Path

import papermill
import pytest
import torch

from ermas.bimatrix.agent_adv_search import agent_adv_search
from ermas.experiments.fig3 import Fig3Params

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "fig3.ipynb"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(seeds=0), r"seeds must be an integer in 1\.\.100"),
        (dict(seeds=2.5), r"seeds must be an integer"),
        (dict(epsilons="[0.1, 0.2]"), r"epsilons must be a non-empty list.*-y"),
        (dict(epsilons=[]), r"epsilons must be a non-empty list"),
        (dict(epsilons=[0.1, 0.05]), r"epsilons must be distinct and increasing"),
        (dict(epsilons=[0.0, 5.0]), r"epsilons must all be numbers in -1\.\.1"),
        (dict(payoffs="random"), r"payoffs must be one of \('default', 'released'\)"),
        (dict(meta="maml"), r"meta must be one of \('paper', 'literal', 'released', 'danskin', 'none'\)"),
        (dict(n_iters=100, warmup_iters=200), r"warmup_iters must be an integer in 0\.\.100"),
        (dict(rho=0.0), r"rho must be a finite number in 1e-09\.\.10"),
        (dict(entropy_coef=-0.1), r"entropy_coef must be a finite number in 0\.\.10"),
    ],
)
def test_bad_parameters_name_the_parameter_and_the_allowed_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Fig3Params(**kwargs)


def test_defaults_are_the_paper_setting():
    params = Fig3Params()
    runs = params.runs()
    assert params.seeds == 10 and len(params.epsilons) >= 3
    assert len(runs) == params.seeds * (1 + len(params.epsilons))
    assert sum(not r.adversarial for r in runs) == params.seeds


def test_papermill_stops_at_once_on_a_bad_parameter(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match="seeds must be an integer in 1..100"):
        papermill.execute_notebook(
            str(NOTEBOOK),
            str(tmp_path / "out.ipynb"),
            parameters={"seeds": 0},
            progress_bar=False,
            cwd=str(NOTEBOOK.parent),
        )


def test_the_figures_train_in_float64_without_touching_the_default_dtype():
    torch.set_default_dtype(torch.float32)  # the test suite's fixture restores it
    params = Fig3Params(seeds=1, epsilons=[0.0], n_iters=3, warmup_iters=1, last_iters=1, n_inner=2)
    runs = params.runs()
    state = agent_adv_search(params.game(), runs, params.search_config(params.n_iters, params.warmup_iters))
    assert state.logits.dtype == torch.float64 and state.lambdas.dtype == torch.float64
    assert torch.get_default_dtype() == torch.float32
