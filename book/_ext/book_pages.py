"""Sphinx extension: what every page of the book needs beyond Jupyter Book's defaults.

- The repository and issue buttons, and the Binder launch buttons that ``_config.yml`` asks for, point at
  the repository the book was built from:
  GitHub Actions names it in ``GITHUB_SERVER_URL`` and ``GITHUB_REPOSITORY`` (a fork's book points at the
  fork), ``ERMAS_REPOSITORY_URL`` overrides both, and a build that knows no repository shows no such
  buttons rather than buttons that lead nowhere.
- Each script is included once: sphinx-thebe's inline configuration script reaches every page twice
  (once with the file name ``None``, once with ``""``; seen with sphinx-thebe 0.3.1 and Sphinx 7.4), and
  its second copy declared ``THEBE_JS_URL`` again, a console error in every reader's browser.
"""

from __future__ import annotations

import os
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config


def repository_url() -> str | None:
    """The repository's web address, from the environment of the build (``None`` when unknown)."""
    if url := os.environ.get("ERMAS_REPOSITORY_URL"):
        return url.rstrip("/")
    server, repository = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    if server and repository:
        return f"{server.rstrip('/')}/{repository}"
    return None


def add_repository_buttons(app: Sphinx, config: Config) -> None:
    url = repository_url()
    if url is None:
        return
    options = dict(config.html_theme_options or {})
    options.update(
        repository_url=url,
        repository_branch=os.environ.get("GITHUB_REF_NAME") or "main",
        path_to_docs="",
        use_repository_button=True,
        use_issues_button=True,
    )
    config.html_theme_options = options


def _script_key(script: Any) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    filename = getattr(script, "filename", str(script)) or ""  # an inline script's is None or "", by route
    return (filename, tuple(sorted((k, str(v)) for k, v in attributes.items())))


def drop_repeated_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: object
) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", add_repository_buttons)
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
