"""A figure notebook's papermill parameters, collected and checked before anything runs.

papermill injects ``-p name value`` as a cell of assignments after the notebook's ``parameters`` cell,
and only warns about a name that cell does not define. :func:`notebook_parameters` turns such a name
into an error, so a mistyped parameter never silently reruns the defaults.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

PARAMETER_TYPES = (bool, int, float, str, list, tuple, dict, type(None))
IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})


def notebook_parameters(params_class: type[T], namespace: dict[str, Any]) -> T:
    """Build ``params_class`` from the notebook's global names ``namespace`` (``globals()``).

    Every public global holding a plain value (number, string, list, ...) counts as a parameter; one
    that is not a field of ``params_class`` raises ``ValueError`` naming it and listing the known ones.
    The fields' own checks then run in ``params_class``'s constructor.
    """
    known = [f.name for f in dataclasses.fields(params_class)]
    given = {
        name: value
        for name, value in namespace.items()
        if not name.startswith("_") and name not in IPYTHON_NAMES and isinstance(value, PARAMETER_TYPES)
    }
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; the known parameters are {', '.join(known)}")
    return params_class(**given)
