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

.PHONY: run test lint bench clean install uninstall

# The engines' kernels include engines/_schema.h, which setup.py regenerates from shm/layout.py.
KERNELS := engines/strategy/_kernel.c engines/risk/_kernel.c engines/_kernel.h shm/layout.py

$(STAMP): pyproject.toml setup.py shm/_native.c nautilusd/_mmhold.c $(KERNELS)
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

# A host install (README "Install on a host"): the package in its own venv under
# $(PREFIX)/lib/nautilusd, the console scripts linked into $(PREFIX)/bin where the units expect
# them, the units, sysusers and tmpfiles snippets, and /etc/nautilusd/default.toml (kept if
# present). DESTDIR stages it under another root (packaging; the install test).
# PIP_OPTS="--no-deps" skips the dependencies (the test's layout check).
PREFIX   ?= /usr
DESTDIR  ?=
SYSCONF  ?= /etc
PIP_OPTS ?=
APPDIR   := $(DESTDIR)$(PREFIX)/lib/nautilusd
UNITDIR  := $(DESTDIR)$(PREFIX)/lib/systemd/system
WHEELDIR := build/wheel

install: $(STAMP)
	rm -rf $(WHEELDIR)
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation -w $(WHEELDIR) .
	$(PYTHON) -m venv --clear $(APPDIR)
	$(APPDIR)/bin/python -m pip install --quiet $(PIP_OPTS) $(WHEELDIR)/nautilusd-*.whl
	install -d $(DESTDIR)$(PREFIX)/bin $(UNITDIR) $(DESTDIR)$(PREFIX)/lib/sysusers.d \
		$(DESTDIR)$(PREFIX)/lib/tmpfiles.d $(DESTDIR)$(SYSCONF)/nautilusd
	ln -sfn ../lib/nautilusd/bin/nautilusd $(DESTDIR)$(PREFIX)/bin/nautilusd
	ln -sfn ../lib/nautilusd/bin/nautilusctl $(DESTDIR)$(PREFIX)/bin/nautilusctl
	sed 's|/usr/bin/nautilusd|$(PREFIX)/bin/nautilusd|; s|/etc/nautilusd|$(SYSCONF)/nautilusd|' \
		systemd/nautilusd.service > $(UNITDIR)/nautilusd.service
	sed 's|/usr/bin/nautilusd|$(PREFIX)/bin/nautilusd|; s|/etc/nautilusd|$(SYSCONF)/nautilusd|' \
		systemd/nautilusd@.service > $(UNITDIR)/nautilusd@.service
	chmod 0644 $(UNITDIR)/nautilusd.service $(UNITDIR)/nautilusd@.service
	install -m 0644 systemd/nautilusd.sysusers.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/nautilusd.conf
	install -m 0644 systemd/nautilusd.tmpfiles.conf $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/nautilusd.conf
	test -e $(DESTDIR)$(SYSCONF)/nautilusd/default.toml || \
		install -m 0644 configs/default.toml $(DESTDIR)$(SYSCONF)/nautilusd/default.toml

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/nautilusd $(DESTDIR)$(PREFIX)/bin/nautilusctl \
		$(UNITDIR)/nautilusd.service $(UNITDIR)/nautilusd@.service \
		$(DESTDIR)$(PREFIX)/lib/sysusers.d/nautilusd.conf \
		$(DESTDIR)$(PREFIX)/lib/tmpfiles.d/nautilusd.conf
	rm -rf $(APPDIR)
	@echo "kept $(DESTDIR)$(SYSCONF)/nautilusd and /var/lib/nautilusd (configs and state)"
