"""Sphinx extension: the ``claims-report`` directive, one table of every claim the figure notebooks checked.

Each figure notebook displays its claims with ``ermas.claims.show_claims``, which stores them in the
output's metadata. The notebooks run (or come from the execution cache) during Sphinx's read phase and
are written to ``_build/jupyter_execute``; the directive leaves a placeholder that is filled at write
time from those executed notebooks, so the table always shows the numbers of this build. A page with the
directive is read again whenever any other page is (re)read, so that an incremental build refreshes it too.
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
        self.env.claims_report_docs = getattr(self.env, "claims_report_docs", set()) | {self.env.docname}
        return [claims_placeholder()]


def reread_reports(app: Sphinx, env: object, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """The pages with a report, whenever a page (a notebook's, say) is read again: their tables must follow."""
    return sorted(getattr(env, "claims_report_docs", set())) if added | changed | removed else []


METADATA_KEY = "ermas_claims"


def _executed_claims(app: Sphinx) -> list[dict]:
    """Claims found in the output metadata of the executed figure notebooks, in file-name order."""
    folder = Path(app.outdir).parent / "jupyter_execute" / "notebooks"
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for output in cell.get("outputs", []):
                found.extend(output.get("metadata", {}).get(METADATA_KEY, []))
    return found


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
    rows = [[c["figure"], c["statement"], c["test"], c["measured"], c["verdict"]] for c in _executed_claims(app)]
    for node in placeholders:
        if rows:
            node.replace_self(_table(rows))
        else:
            node.replace_self(nodes.paragraph(text="No executed figure notebook in this build displays claims."))


def setup(app: Sphinx) -> dict:
    app.add_node(claims_placeholder)
    app.add_directive("claims-report", ClaimsReport)
    app.connect("doctree-resolved", fill_placeholders)
    app.connect("env-get-outdated", reread_reports)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
