# The two commands a newcomer needs:  make demo  |  make test
# Both create .venv (pinned dependencies, torch from local wheels) if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lftiming-installed
export LFTIMING_HOME := $(CURDIR)
export DAGSTER_HOME := $(CURDIR)
export LFTIMING_DAGSTER_DIR := $(CURDIR)/data/dagster
export LFTIMING_DAGSTER_LOGS := $(CURDIR)/data/dagster/logs

.PHONY: setup demo test ui mlflow-ui bench clean-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/lftiming demo

# pytest exits 5 when it collects no tests: that is a failure here, said plainly.
test: $(STAMP)
	$(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# Dagster UI + daemon (sensor, queued runs) on http://127.0.0.1:3000
ui: $(STAMP)
	env --default-signal=INT,TERM $(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

# MLflow UI on http://127.0.0.1:5000 over data/mlflow
mlflow-ui: $(STAMP)
	@echo "MLflow UI: http://127.0.0.1:5000/#/?workflowType=machine_learning (the Model training view: Experiments, Model registry)"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow server --workers 1 --host 127.0.0.1 --port 5000 \
	  --backend-store-uri sqlite:///$(CURDIR)/data/mlflow/mlflow.db --default-artifact-root $(CURDIR)/data/mlflow/artifacts

bench: $(STAMP)
	$(BIN)/python benchmarks/simulate.py
