# Chores only; DVC owns the pipeline order (dvc.yaml). `make help` lists the targets.
# The environment is a venv in .venv built from requirements.lock (exact versions, with hashes).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: help setup repro test lint ui lab lock bench bench-real clean-env

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "churnlab needs Python 3.11, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)  ## create .venv from the lock file (only when missing or stale)

repro: setup  ## set up, then run the whole pipeline on the default simulated data (dvc repro)
	dvc repro

test: setup  ## set up, then run the whole test suite
	pytest

lint: setup  ## ruff on the code and tests
	ruff check src tests benchmarks

ui: setup  ## MLflow UI on http://127.0.0.1:5000 over this project's store
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db \
		--default-artifact-root $(CURDIR)/mlruns/artifacts --host 127.0.0.1 --port 5000 --workers 1

lab: setup  ## JupyterLab on http://127.0.0.1:8888 (notebooks/)
	jupyter lab --no-browser --ip 127.0.0.1 --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate

lock:  ## re-resolve requirements.lock from pyproject.toml (needs the package registry)
	test -x .venv-lock/bin/uv || ($(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet uv==0.13.8)
	.venv-lock/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --generate-hashes -o requirements.lock

bench: setup  ## the scale benchmarks (minutes each); figures go to docs/benchmarks.md by hand
	python benchmarks/bench_simulate.py

bench-real: setup  ## tuned model vs logistic, XGBoost, LightGBM, FLAML on Churn_Modelling.csv (~9 min)
	OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_real.py

clean-env:  ## remove .venv
	rm -rf $(VENV)
