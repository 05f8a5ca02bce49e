# Two entry points for a fresh machine: `make run` (default topology) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The ring suites run twice: on the compiled one-record paths (shm/_native.c, with the rest of
# the suite) and again on the Python ones.
RING_SUITES := tests/unit/test_ring.py tests/unit/test_latest_board.py \
	tests/property/test_ring_model.py tests/property/test_latest_model.py \
	tests/property/test_hostile_rings.py

.PHONY: run test lint bench clean

# The engines' kernels include engines/_schema.h, which setup.py regenerates from shm/layout.py.
KERNELS := engines/strategy/_kernel.c engines/risk/_kernel.c engines/_kernel.h shm/layout.py

$(STAMP): pyproject.toml setup.py shm/_native.c $(KERNELS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/nautilusd run --config configs/default.toml --state-dir .state/default --summary

test: $(STAMP)
	$(BIN)/ruff check nautilusd engines shm tests
	$(BIN)/mypy shm engines nautilusd
	$(BIN)/pytest
	NAUTILUSD_PURE_PYTHON=1 $(BIN)/pytest -q $(RING_SUITES)

lint: $(STAMP)
	$(BIN)/ruff check nautilusd engines shm tests
	$(BIN)/mypy shm engines nautilusd

bench: $(STAMP)
	$(BIN)/nautilusctl bench rings --quick

clean:
	rm -rf $(VENV) build *.egg-info shm/*.so engines/*/_kernel*.so .pytest_cache .mypy_cache \
		.ruff_cache
