"""Every figure notebook passes each of its parameters on and stops at once on an unknown one."""

import ast
import dataclasses
from pathlib import Path

import nbformat
import papermill
import pytest

from ermas.experiments.fig3 import Fig3Params
from ermas.experiments.fig4 import Fig4Params
from ermas.experiments.fig5 import Fig5Params
from ermas.parameters import notebook_parameters

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FIGURES = {"fig3": Fig3Params, "fig4": Fig4Params, "fig5": Fig5Params}


def parameter_cell_names(notebook: Path) -> list[str]:
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return [t.id for node in ast.parse(cell.source).body for t in node.targets]


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_the_parameters_cell_defines_every_field_once(name):
    names = parameter_cell_names(NOTEBOOKS / f"{name}.ipynb")
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(f.name for f in dataclasses.fields(FIGURES[name]))


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_the_defaults_of_the_notebook_are_those_of_the_library(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(cell.source, namespace)
    params = notebook_parameters(FIGURES[name], {k: v for k, v in namespace.items() if k != "__builtins__"})
    default = FIGURES[name]()
    for field in dataclasses.fields(default):
        value, expected = getattr(params, field.name), getattr(default, field.name)
        if isinstance(expected, tuple):
            value = tuple(value)
        assert value == expected, field.name


def test_unknown_names_are_refused_with_the_known_ones_listed():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) seed; the known parameters are .*seeds"):
        notebook_parameters(Fig3Params, {"seeds": 2, "seed": 3})


def test_modules_functions_and_private_names_are_not_parameters():
    namespace = {"seeds": 2, "pd": pytest, "run": print, "_": 5, "In": [], "Out": {}, "Fig3Params": Fig3Params}
    assert notebook_parameters(Fig3Params, namespace).seeds == 2


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_papermill_stops_at_once_on_a_misspelt_parameter(name, tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match="unknown parameter.*seed;"):
        papermill.execute_notebook(
            str(NOTEBOOKS / f"{name}.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={"seed": 3},
            progress_bar=False,
            cwd=str(NOTEBOOKS),
        )
