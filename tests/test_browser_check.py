"""The browser check of the built book, tried on small pages with a known defect each (headless Chromium)."""

import base64
import os
from pathlib import Path

import pytest

from ermas.testing.browser_check import CHROMIUM, check_site, report_problems

ROOT = Path(__file__).resolve().parents[1]
MATHJAX = ROOT / "book" / "static" / "mathjax"
ONE_PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

if not (Path(CHROMIUM).exists() and (MATHJAX / "tex-mml-chtml.js").exists()):
    if os.environ.get("ERMAS_REQUIRE_BROWSER"):
        raise RuntimeError(f"the browser check needs Chromium at {CHROMIUM} and MathJax in {MATHJAX} (make mathjax)")
    pytest.skip("Chromium or MathJax not installed", allow_module_level=True)


# what Sphinx writes into every page of the book
MATHJAX_CONFIG = '{"options": {"processHtmlClass": "tex2jax_process|mathjax_process|math|output_area"}}'


def page(body: str) -> str:
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="icon" href="data:,">
<script>window.MathJax = {MATHJAX_CONFIG}</script>
<script defer src="mathjax/tex-mml-chtml.js"></script></head>
<body>{body}</body></html>"""


@pytest.fixture
def site(tmp_path):
    (tmp_path / "mathjax").symlink_to(MATHJAX, target_is_directory=True)
    (tmp_path / "dot.png").write_bytes(ONE_PIXEL_PNG)
    (tmp_path / "other.html").write_text(page('<h1 id="section">Other</h1>'))
    return tmp_path


def problems_of(site: Path, name: str, body: str) -> list[str]:
    (site / name).write_text(page(body))
    return [p.what for p in check_site(site) if p.page == name]


def test_a_sound_page_passes(site):
    body = (
        '<p>A formula <span class="math notranslate nohighlight">\\(x^2 + \\beta\\)</span>, '
        '<div class="math notranslate nohighlight">\\[\\sum_i \\lambda_i (R_i - \\epsilon)\\]</div>'
        '<img src="dot.png" alt="dot"> and <a href="other.html#section">a link</a>.</p>'
        "<pre>code may show $$ and \\( as they are</pre>"
    )
    assert problems_of(site, "sound.html", body) == []


def test_formulas_mathjax_cannot_read_fail(site):
    body = '<p><span class="math notranslate nohighlight">\\(\\frac{1}\\)</span></p>'
    assert any("MathJax error" in p for p in problems_of(site, "argument.html", body))
    body = '<p><span class="math notranslate nohighlight">\\(\\notamacro x\\)</span></p>'
    assert problems_of(site, "macro.html", body) == ["MathJax does not know the macro \\notamacro"]


def test_an_unbalanced_formula_left_as_text_fails(site):
    body = '<p><span class="math notranslate nohighlight">\\(\\frac{1}{\\)</span> and $$x unclosed</p>'
    found = problems_of(site, "unbalanced.html", body)
    assert any("formula not typeset" in p for p in found), found
    assert sum("raw TeX" in p for p in found) == 2, found


def test_a_missing_image_fails(site):
    found = problems_of(site, "image.html", '<p><img src="missing.png" alt="gone"></p>')
    assert any("image does not load" in p for p in found), found
    assert any("404" in p for p in found), found


def test_links_to_missing_pages_or_anchors_fail(site):
    found = problems_of(site, "links.html", '<a href="nowhere.html">a</a> <a href="other.html#no-such-anchor">b</a>')
    assert any("missing page" in p for p in found), found
    assert any("missing anchor #no-such-anchor" in p for p in found), found


def test_a_script_error_fails(site):
    found = problems_of(site, "script.html", "<script>undefined_function()</script><p>text</p>")
    assert any("uncaught exception" in p for p in found), found


def test_a_figure_page_without_its_claims_table_fails(site):
    (site / "notebooks").mkdir()
    (site / "notebooks" / "mathjax").symlink_to(MATHJAX, target_is_directory=True)
    found = problems_of(site, "notebooks/fig9.html", "<table><tr><th>planner</th></tr></table>")
    assert found == ["figure notebook page without its claims table"]


def test_a_report_that_misses_a_figure_fails(tmp_path):
    report = tmp_path / "book" / "report.html"
    pages = {report: "Figure 3: PASS. Figure 4: FAIL."}
    found = report_problems(tmp_path, pages, ["fig3", "fig4", "fig5"])
    assert [p.what for p in found] == ["the report does not mention Figure 5 (fig5.ipynb)"]
    assert [p.what for p in report_problems(tmp_path, {}, ["fig3"])] == ["the reproduction report is missing"]
