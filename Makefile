# The two set-up commands: `make demo` and `make test`. Both install what they need first.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
FASHION_MNIST := /usr/share/datasets/fashion-mnist
DEMO_DIR ?= logs/demo

.PHONY: install data demo test test-fast lint clean

install:
	$(PIP) install --quiet -e ".[dev]"

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

test: install data
	$(PYTHON) -m pytest

test-fast: install
	$(PYTHON) -m pytest -m "not slow"

lint:
	$(PYTHON) -m ruff check raft_lightning tests experiments
	$(PYTHON) -m ruff format --check raft_lightning tests experiments

clean:
	rm -rf logs .pytest_cache .ruff_cache
