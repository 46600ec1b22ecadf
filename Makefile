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

clean:
	rm -rf $(VENV) build *.egg-info
