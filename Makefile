# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv (pinned versions, CPU torch) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo test lint bench clean

$(BIN)/geomanifold: requirements/lock.txt setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/lock.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(BIN)/geomanifold

venv: $(BIN)/geomanifold

demo: venv
	$(BIN)/geomanifold demo

test: venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python benchmarks/bench_geometry.py

# The documentation site: docs requirements into .venv once (stamp), the tutorials executed at
# their small size into docs/tutorials/, then mkdocs with warnings as errors into site/, then
# every internal link and anchor of the built pages checked (rendered notebooks included).
DOCS_STAMP := $(VENV)/.docs-requirements

$(DOCS_STAMP): requirements/docs.txt $(BIN)/geomanifold
	$(BIN)/pip install --quiet -r requirements/lock.txt -r requirements/docs.txt
	touch $(DOCS_STAMP)

.PHONY: docs
docs: $(DOCS_STAMP)
	$(BIN)/python tutorials/build.py --jobs 2
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	$(BIN)/python .ci/check_site.py site

clean:
	rm -rf $(VENV) build *.egg-info
