# Two entry points for a fresh machine: `make run` (default topology) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/nautilusd run --config configs/default.toml --summary

test: $(STAMP)
	$(BIN)/ruff check nautilusd engines shm tests
	$(BIN)/mypy shm
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check nautilusd engines shm tests
	$(BIN)/mypy shm nautilusd engines

bench: $(STAMP)
	$(BIN)/nautilusctl bench rings --quick

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
