# The README's commands. Every target creates .venv from nothing when it is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 3000

export DO_NOT_TRACK := true
export DAGSTER_HOME := $(CURDIR)/var/dagster

# The ML CI stages in the order of the seed's CI pipeline; `make ci` stops at the first failure.
CI_STAGES := unit data_validation feature_pipeline model_quality integration simulation

.PHONY: install dev test ci lint bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

install: $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h $(HOST) -p $(PORT) -w workspace.yaml

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The last two stages run side by side: integration mostly waits on real `dagster dev` sessions and servers, the
# simulation (the seven scenarios end to end, two at a time) keeps the cores busy; one after the other they would
# not fit CI's 20 minutes. The simulation's output follows the integration's; either failing fails CI. OpenMP threads wait
# passively, or LightGBM's spinning threads in one stage would starve the other.
SIDE_BY_SIDE := integration simulation

ci: lint
	@set -e; for stage in $(filter-out $(SIDE_BY_SIDE),$(CI_STAGES)); do \
		echo "== CI stage: $$stage"; \
		$(BIN)/pytest -m $$stage; \
	done
	@echo "== CI stages: integration, with simulation beside it"
	@log=$$(mktemp); \
	OMP_WAIT_POLICY=PASSIVE $(BIN)/pytest -m simulation -n 2 >$$log 2>&1 & simulation=$$!; \
	OMP_WAIT_POLICY=PASSIVE $(BIN)/pytest -m integration; integration=$$?; \
	wait $$simulation; status=$$?; \
	echo "== CI stage: simulation (ran beside integration)"; cat $$log; rm -f $$log; \
	test $$integration -eq 0 && test $$status -eq 0

# Each benchmark prints its ratios against a baseline measured in the same run and exits non-zero on a miss.
BENCHMARKS := $(sort $(wildcard benchmarks/bench_*.py))

bench: install
	@set -e; for bench in $(BENCHMARKS); do echo "== $$bench"; $(BIN)/python $$bench; done

clean:
	rm -rf var
