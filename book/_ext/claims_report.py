"""Sphinx extension: the ``claims-report`` directive, one table of every claim the figure notebooks checked.

The notebooks write their claims to ``_build/claims/<figure>.json`` while they execute (during Sphinx's
read phase); the directive leaves a placeholder that is filled at write time, after every notebook ran,
so the table always shows the numbers of this build.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

COLUMNS = ("Figure", "Paper's statement", "How it is checked", "Measured", "Verdict")


class claims_placeholder(nodes.General, nodes.Element):
    pass


class ClaimsReport(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        return [claims_placeholder()]


def _claims_dir(app: Sphinx) -> Path:
    return Path(app.srcdir) / "_build" / "claims"


def _table(rows: list[list[str]]) -> nodes.table:
    table = nodes.table(classes=["claims-report"])
    group = nodes.tgroup(cols=len(COLUMNS))
    table += group
    for width in (6, 30, 30, 26, 8):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    body = nodes.tbody()
    group += body
    for target, cells in ((head, [list(COLUMNS)]), (body, rows)):
        for cells_of_row in cells:
            row = nodes.row()
            for text in cells_of_row:
                entry = nodes.entry()
                entry += nodes.paragraph(text=text)
                row += entry
            target += row
    return table


def fill_placeholders(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    placeholders = list(doctree.findall(claims_placeholder))
    if not placeholders:
        return
    rows = []
    for path in sorted(_claims_dir(app).glob("*.json")):
        for claim in json.loads(path.read_text()):
            rows.append([claim["figure"], claim["statement"], claim["test"], claim["measured"], claim["verdict"]])
    for node in placeholders:
        if rows:
            node.replace_self(_table(rows))
        else:
            node.replace_self(nodes.paragraph(text="No figure notebook has written its claims in this build."))


def setup(app: Sphinx) -> dict:
    app.add_node(claims_placeholder)
    app.add_directive("claims-report", ClaimsReport)
    app.connect("doctree-resolved", fill_placeholders)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
