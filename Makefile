# The two commands a newcomer needs:  make demo  |  make test
# Both create .venv (pinned dependencies, torch from local wheels) if it is missing: the demo
# installs the package, the tests also its dev extra (test tools, napari, baselines).
# --no-compile: pip does not byte-compile every installed file (torch, MLflow, Dagster: tens of
# seconds); Python compiles the modules a command imports on first use and caches them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lftiming-installed
DEV_STAMP := $(VENV)/.lftiming-dev-installed
export LFTIMING_HOME := $(CURDIR)
export DAGSTER_HOME := $(CURDIR)
export LFTIMING_DAGSTER_DIR := $(CURDIR)/data/dagster
export LFTIMING_DAGSTER_LOGS := $(CURDIR)/data/dagster/logs

.PHONY: setup demo test ui mlflow-ui bench bench-simulate clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --no-compile -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q --no-compile -e '.[dev]'
	touch $(DEV_STAMP)

setup: $(DEV_STAMP)

# make demo TRAIN=1: train the models here instead of registering the bundled ones (models/)
demo: $(STAMP)
	$(BIN)/lftiming demo $(if $(TRAIN),--train,)

# pytest exits 5 when it collects no tests: that is a failure here, said plainly.
# The suite runs in TEST_PROCESSES pytest-xdist processes (2: its end-to-end tests spend much of
# their time waiting on the subprocesses they start); TEST_PROCESSES=0 runs it in one process.
TEST_PROCESSES ?= 2
test: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_PROCESSES) --dist loadgroup; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# Dagster UI + daemon (sensor, queued runs) on http://127.0.0.1:3000
ui: $(STAMP)
	env --default-signal=INT,TERM $(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

# MLflow UI on http://127.0.0.1:5000 over data/mlflow
mlflow-ui: $(STAMP)
	@echo "MLflow UI: http://127.0.0.1:5000/#/?workflowType=machine_learning (the Model training view: Experiments, Model registry)"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow server --workers 1 --host 127.0.0.1 --port 5000 \
	  --backend-store-uri sqlite:///$(CURDIR)/data/mlflow/mlflow.db --default-artifact-root $(CURDIR)/data/mlflow/artifacts

# The README's headline table from the bundled models (models/): every accuracy benchmark on
# held-out simulated chips -> benchmarks/results/reproduce.md (<= 45 min on 2 cores).
# make bench URI=sqlite:///$(CURDIR)/data/mlflow/mlflow.db: the champions of that registry instead.
bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/reproduce.py $(if $(URI),--tracking-uri $(URI),)

# The simulator's speed alone (benchmarks/results/simulate.json; target <= 60 s per chip).
bench-simulate: $(DEV_STAMP)
	$(BIN)/python benchmarks/simulate.py
