"""Open every page of the built book in headless Chromium and fail on what a reader would see broken.

Run it after ``make book`` (``make browser-check`` runs it on ``_build/html``)::

    python -m ermas.testing.browser_check _build/html

The site is served on 127.0.0.1 (as GitHub Pages would serve it) and every HTML page is loaded in
Debian's Chromium (``/usr/bin/chromium``, or the ``CHROMIUM`` environment variable; nothing is
downloaded). A page fails on: a console error or an uncaught exception; a request of the site that fails
or answers 4xx/5xx; an image that does not load; a formula left untypeset (raw ``$$``, ``\\(`` or ``\\[``
in the text, a math element without MathJax output), a MathJax error node or an undefined macro; an
internal link whose page or anchor does not exist. The figure notebook pages must show their claims
table, and the reproduction report must name every figure that has a notebook. The check prints every
page it visited.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLAIMS_HEADER = ("claim", "check", "measured", "verdict")  # ermas.claims.claims_table's columns

# Runs in the page once it has loaded and MathJax has finished: what a reader would see broken.
PAGE_PROBE = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "TEXTAREA", "MJX-CONTAINER"]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let hidden = false;
    for (let up = node.parentElement; up; up = up.parentElement) {
      if (skip.has(up.tagName) || up.classList.contains("highlight")) { hidden = true; break; }
    }
    if (!hidden && /\\$\\$|\\\\\\(|\\\\\\[/.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 80));
  }
  const untypeset = Array.from(document.querySelectorAll(".math"))
    .filter(el => !el.querySelector("mjx-container")).map(el => el.textContent.trim().slice(0, 80));
  const tables = Array.from(document.querySelectorAll("table")).map(
    t => Array.from(t.querySelectorAll("thead th, tr:first-child th")).map(th => th.textContent.trim()));
  return {
    raw,
    untypeset,
    mathErrors: document.querySelectorAll("mjx-merror, .MathJax_Error").length,
    undefinedMacros: Array.from(document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]'))
      .map(el => el.textContent),
    brokenImages: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)
      .map(i => i.getAttribute("src").slice(0, 80)),
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.getAttribute("href")),
    tables,
    text: document.body.innerText,
  };
}
"""


@dataclass(frozen=True)
class Problem:
    page: str
    what: str

    def __str__(self) -> str:
        return f"{self.page}: {self.what}"


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on a free port of 127.0.0.1; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@functools.cache
def _anchors(path: Path) -> frozenset[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return frozenset(re.findall(r'\b(?:id|name)="([^"]+)"', text))


def _link_problems(root: Path, page_url: str, base: str, href: str) -> list[str]:
    """What is wrong with an internal link ``href`` of the page at ``page_url`` (nothing for external links)."""
    if href.startswith(("mailto:", "javascript:", "data:")):
        return []
    target = urlsplit(urljoin(page_url, href))
    if f"{target.scheme}://{target.netloc}/" != base:
        return []  # another site: not checked (no network here)
    path = root / unquote(target.path.lstrip("/"))
    if path.is_dir():
        path = path / "index.html"
    if not path.exists():
        return [f"link {href!r} points to a missing page"]
    fragment = unquote(target.fragment)
    if fragment and path.suffix == ".html" and fragment not in _anchors(path):
        return [f"link {href!r} points to a missing anchor #{fragment}"]
    return []


def _redirect_target(page: Path) -> str | None:
    """Where a page that is only a ``<meta http-equiv="Refresh">`` redirect sends the reader, else ``None``."""
    match = re.search(r'http-equiv="Refresh"\s+content="\d+;\s*url=([^"]+)"', page.read_text(encoding="utf-8"), re.I)
    return match.group(1) if match else None


def _is_favicon(url: str) -> bool:
    """Chromium asks every site for /favicon.ico by itself; the book links no such file."""
    return urlsplit(url).path == "/favicon.ico"


def check_page(browser_page, root: Path, page: Path, base: str) -> tuple[list[str], str]:
    """The problems of one page, loaded in ``browser_page`` (a Playwright page), and its visible text."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    problems: list[str] = []

    def on_console(message) -> None:
        if message.type == "error" and not _is_favicon(message.location.get("url", "")):
            problems.append(f"console error: {message.text[:200]}")

    def on_response(response) -> None:
        if response.url.startswith(base) and response.status >= 400 and not _is_favicon(response.url):
            problems.append(f"{response.status} for {response.url[len(base) :]}")

    def on_failed(request) -> None:
        if request.url.startswith(base):
            problems.append(f"request failed: {request.url[len(base) :]}")

    def on_error(error) -> None:
        problems.append(f"uncaught exception: {str(error)[:200]}")

    listeners = {"console": on_console, "pageerror": on_error, "response": on_response, "requestfailed": on_failed}
    for event, listener in listeners.items():
        browser_page.on(event, listener)
    try:
        browser_page.goto(base + page.relative_to(root).as_posix(), wait_until="load")
        found = browser_page.evaluate(PAGE_PROBE)
        # the fonts MathJax asked for while typesetting load before the next page is opened; leaving earlier
        # would abort them and report a request failed that is only the check's own haste
        try:
            browser_page.wait_for_load_state("networkidle")
        except PlaywrightTimeoutError:
            problems.append("the page's network did not settle within 30 s")
    finally:
        for event, listener in listeners.items():
            browser_page.remove_listener(event, listener)
    problems += [f"raw TeX left in the text: {t!r}" for t in found["raw"]]
    problems += [f"formula not typeset: {t!r}" for t in found["untypeset"]]
    if found["mathErrors"]:
        problems.append(f"{found['mathErrors']} MathJax error node(s)")
    problems += [f"MathJax does not know the macro {m}" for m in found["undefinedMacros"]]
    problems += [f"image does not load: {src}" for src in found["brokenImages"]]
    landed = browser_page.url.split("#")[0]
    for href in sorted(set(found["links"])):
        problems += _link_problems(root, landed, base, href)
    relative = page.relative_to(root).as_posix()
    if re.fullmatch(r"notebooks/fig\d+\.html", relative):
        if not any(all(h in header for h in CLAIMS_HEADER) for header in found["tables"]):
            problems.append("figure notebook page without its claims table")
    return problems, found["text"]


def report_problems(root: Path, pages: dict[Path, str], notebooks: list[str]) -> list[Problem]:
    """The reproduction report must name every figure that has a notebook (``notebooks`` like ``fig3``)."""
    report = next((p for p in pages if p.relative_to(root).as_posix() == "book/report.html"), None)
    if report is None:
        return [Problem("book/report.html", "the reproduction report is missing")]
    text = pages[report]
    out = []
    for name in notebooks:
        number = name.removeprefix("fig")
        if not re.search(rf"\bFigure {number}\b", text):
            out.append(Problem("book/report.html", f"the report does not mention Figure {number} ({name}.ipynb)"))
    return out


def check_site(root: Path, notebooks: list[str] | None = None, chromium: str = CHROMIUM) -> list[Problem]:
    """Visit every HTML page under ``root``; ``notebooks`` (e.g. ``["fig3"]``) enables the report check."""
    from playwright.sync_api import sync_playwright

    root = root.resolve()
    pages = sorted(p for p in root.rglob("*.html") if "_static" not in p.parts)
    if not pages:
        return [Problem(str(root), "no HTML pages (build the book first)")]
    problems: list[Problem] = []
    texts: dict[Path, str] = {}
    with serve(root) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            for page in pages:
                name = page.relative_to(root).as_posix()
                redirect = _redirect_target(page)
                if redirect is not None:  # a page that only sends the reader on: its target must exist
                    found = _link_problems(root, base + name, base, redirect)
                    print(f"visited {name}: redirects to {redirect}" + (f", {found[0]}" if found else ""))
                    problems += [Problem(name, what) for what in found]
                    continue
                found, texts[page] = check_page(tab, root, page, base)
                print(f"visited {name}: " + (f"{len(found)} problem(s)" if found else "ok"))
                problems += [Problem(name, what) for what in found]
        finally:
            browser.close()
    if notebooks is not None:
        problems += report_problems(root, texts, notebooks)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="the built book, e.g. _build/html")
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="the figure notebooks' folder")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM}: install Debian's chromium (or set CHROMIUM)", file=sys.stderr)
        return 2
    notebooks = sorted(p.stem for p in args.notebooks.glob("fig*.ipynb"))
    problems = check_site(args.site, notebooks)
    for problem in problems:
        print(f"PROBLEM {problem}")
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
