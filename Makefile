# The two set-up commands: `make demo` and `make test`. Both install what they need first.
#
# Which Python: the active virtual or conda environment's, if one is active (its python3 is first
# on PATH); else the project's own .venv, which `make install` creates with `python3 -m venv`
# (Debian and Ubuntu refuse pip installs into the system Python, PEP 668). Override with
# `make PYTHON=/path/to/python ...`, or pick the interpreter .venv is made from with BASE_PYTHON.
BASE_PYTHON ?= python3
VENV ?= .venv
ACTIVE := $(shell $(BASE_PYTHON) -c 'import os, sys; print(sys.executable if sys.prefix != sys.base_prefix or os.environ.get("CONDA_PREFIX") else "")' 2>/dev/null)
PYTHON ?= $(if $(ACTIVE),$(ACTIVE),$(VENV)/bin/python)
FASHION_MNIST := /usr/share/datasets/fashion-mnist
DEMO_DIR ?= logs/demo

.PHONY: install data demo test test-fast faults docs lint clean

install: $(if $(ACTIVE),,$(VENV)/bin/python)
	@echo "installing raft-lightning[dev] into $(PYTHON)"
	$(PYTHON) -m pip install --quiet -e ".[dev]"

$(VENV)/bin/python:
	$(BASE_PYTHON) -m venv $(VENV)

# Real data for the demo: Debian's dataset-fashion-mnist (root for apt; skipped where present).
data:
	@if [ -f $(FASHION_MNIST)/train-images-idx3-ubyte.gz ]; then echo "Fashion-MNIST: $(FASHION_MNIST)"; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	else echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist' (Debian/Ubuntu)"; exit 1; fi

# BYOL with and without predictor, RAFT with a linear predictor and the random baseline on real
# Fashion-MNIST, each linearly evaluated, then the report: the table, and where the figures are.
demo: install data
	rm -rf $(DEMO_DIR)
	$(PYTHON) -m raft_lightning.train -m experiment=demo hydra.sweep.dir=$(DEMO_DIR)
	$(PYTHON) -m raft_lightning.report $(DEMO_DIR)

# Two pytest workers (pytest-xdist), a test file each at a time: the suite's processes are
# single-threaded (tests/conftest.py), so two cores run it in about half the time. A file stays on
# one worker because its module fixtures (the local SLURM of test_slurm.py, trained runs) are
# shared by its tests. TEST_JOBS=1 runs it in one process, as plain `python -m pytest` does.
TEST_JOBS ?= 2
test: install data
	$(PYTHON) -m pytest $(if $(filter 1,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile)

test-fast: install
	$(PYTHON) -m pytest -m "not slow" $(if $(filter 1,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile)

# The fault matrix (experiments/faults): bad inputs and cluster faults as CLI runs, a table and the counts.
faults: install data
	$(PYTHON) -m experiments.faults

# The documentation site (mkdocs.yml), strict: a broken link or a page outside the nav fails it.
docs: install
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict --site-dir site

lint:
	$(PYTHON) -m ruff check raft_lightning tests experiments
	$(PYTHON) -m ruff format --check raft_lightning tests experiments

clean:
	rm -rf logs site .pytest_cache .ruff_cache
