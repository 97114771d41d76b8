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

# pip installs uv (locked in constraints.txt), and uv installs the locked set: in parallel, bytecode included (a
# fresh machine here sets PYTHONDONTWRITEBYTECODE, so a module left uncompiled is compiled again on every import),
# in under a minute against pip's three. Should uv not install or fail (its index out of reach), pip installs
# the same set.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt uv \
		&& $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -c constraints.txt -e '.[dev]' \
		|| $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
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

# The simulation (the seven scenarios end to end, two at a time, CPU-bound) runs in the background from the start,
# beside the other stages in the seed's order; its output follows theirs and either side failing fails CI. The
# integration stage runs two test files at a time in collection order (xdist would otherwise start the one-test
# `dagster dev` files, the longest, last). One after the other the stages would not fit CI's 20 minutes on 2 cores.
# The simulation runs at a lower priority (nice): the stages in order are CI's critical path, and the simulation fills
# the cores they leave idle (the integration stage mostly waits on daemons). OpenMP threads wait passively, or
# LightGBM's spinning threads in one process would starve the others.
BESIDE := simulation
INTEGRATION_ARGS := -n 2 --dist loadfile --no-loadscope-reorder

ci: lint
	@log=$$(mktemp); \
	OMP_WAIT_POLICY=PASSIVE nice -n 10 $(BIN)/pytest -m $(BESIDE) -n 2 >$$log 2>&1 & beside=$$!; \
	status=0; \
	for stage in $(filter-out $(BESIDE),$(CI_STAGES)); do \
		echo "== CI stage: $$stage"; \
		args=""; if [ "$$stage" = integration ]; then args="$(INTEGRATION_ARGS)"; fi; \
		OMP_WAIT_POLICY=PASSIVE $(BIN)/pytest -m $$stage $$args || { status=$$?; break; }; \
	done; \
	wait $$beside; beside_status=$$?; \
	echo "== CI stage: $(BESIDE) (ran beside the stages above)"; cat $$log; rm -f $$log; \
	test $$status -eq 0 && test $$beside_status -eq 0

# Each benchmark prints its ratios against a baseline measured in the same run and exits non-zero on a miss.
BENCHMARKS := $(sort $(wildcard benchmarks/bench_*.py))

bench: install
	@set -e; for bench in $(BENCHMARKS); do echo "== $$bench"; $(BIN)/python $$bench; done

clean:
	rm -rf var
