# Chores only; DVC owns the pipeline order (dvc.yaml). `make help` lists the targets.
# The environment is a venv in .venv built from requirements.lock (exact versions, with hashes).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
STORE := sqlite:///$(CURDIR)/mlruns/mlflow.db
# the registered model: params register.model_name
MODEL ?= churnlab-churn
LAB_PORT ?= 8888
LAB_ARGS ?=
SERVE_PORT ?= 5001

.PHONY: help setup repro test lint ui lab serve lock bench bench-real clean-env

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# uv installs the lock into .venv (about 70 s where pip takes about 160 s: the same packages, hashes checked); it lives
# in a venv of its own, .venv-uv, at the version that wrote requirements.lock (make lock). --compile-bytecode writes
# the .pyc files pip writes: where PYTHONDONTWRITEBYTECODE is set (as on the CI machine) every process would
# otherwise compile its imports anew (a clean-clone test run took 28 minutes instead of about 20).
UV_VERSION := 0.13.8
UV := $(CURDIR)/.venv-uv/bin/uv

$(UV):
	$(PYTHON) -m venv .venv-uv
	.venv-uv/bin/pip install --quiet uv==$(UV_VERSION)

$(STAMP): requirements.lock pyproject.toml | $(UV)
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "churnlab needs Python 3.11, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python --require-hashes -r requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)  ## create .venv from the lock file (only when missing or stale)

repro: setup  ## set up, then run the whole pipeline on the default simulated data (dvc repro)
	dvc repro

# Two lanes for two cores. The main suite mostly waits on single-threaded stage processes; beside it, one after the
# other, the tests marked `alongside` (classic Spark sessions, the snapshot-source project, a Spark pipeline, and a
# few slow tests with projects of their own, to balance the lanes) and the Spark Connect tests, which need a process
# of their own (pyspark keeps one either classic or Connect). Their output follows the main suite's; each lane ends
# with its slowest tests, to keep the CI budget in view.
test: setup  ## set up, then run the whole test suite (Spark tests in a second process alongside)
	@log=$$(mktemp) && base=$$(mktemp -d) && \
	{ { pytest -m alongside -p no:cacheprovider --basetemp=$$base/classic --durations=10; a=$$?; \
	    pytest -m spark_connect -p no:cacheprovider --basetemp=$$base/connect --durations=5; c=$$?; \
	    test $$a -eq 0 && test $$c -eq 0; } > $$log 2>&1 & side=$$!; } && \
	{ pytest -m 'not spark_connect and not alongside' --durations=20; main=$$?; wait $$side; other=$$?; \
	  echo "== alongside: pytest -m alongside, then pytest -m spark_connect =="; cat $$log; rm -rf $$log $$base; \
	  test $$main -eq 0 && test $$other -eq 0; }

lint: setup  ## ruff on the code and tests
	ruff check src tests benchmarks

ui: setup  ## MLflow UI on http://127.0.0.1:5000 over this project's store
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri $(STORE) \
		--default-artifact-root $(CURDIR)/mlruns/artifacts --host 127.0.0.1 --port 5000 --workers 1

# --allow-root only as root (containers): JupyterLab refuses root without it. --port_retries=0: a busy port is an
# error, not a silent move to 8889. Extra options via LAB_ARGS, e.g. LAB_ARGS=--IdentityProvider.token=secret
lab: setup  ## JupyterLab on http://127.0.0.1:8888 (LAB_PORT) in notebooks/, no browser, no update check
	jupyter lab --notebook-dir notebooks --no-browser --ip 127.0.0.1 --port $(LAB_PORT) --ServerApp.port_retries=0 \
		--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate $$(test "$$(id -u)" = 0 && echo --allow-root) \
		$(LAB_ARGS)

# mlflow models serve runs `uvicorn` found on PATH (the Makefile puts .venv/bin first); --env-manager local: the
# model runs in this venv, nothing is downloaded. The model's pip requirements are the lock's versions.
serve: setup  ## the champion model (models:/churnlab-churn@champion) on http://127.0.0.1:5001/invocations (SERVE_PORT)
	@test -x $(BIN)/uvicorn || { echo "make serve: uvicorn is not installed in $(VENV); mlflow models serve needs it" \
		"(requirements.lock pins it): run 'make clean-env setup'" >&2; exit 1; }
	MLFLOW_TRACKING_URI=$(STORE) mlflow models serve -m "models:/$(MODEL)@champion" --env-manager local \
		--host 127.0.0.1 --port $(SERVE_PORT) --workers 1

lock: | $(UV)  ## re-resolve requirements.lock from pyproject.toml (needs the package registry)
	$(UV) pip compile pyproject.toml --extra dev --extra spark --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --generate-hashes -o requirements.lock

bench: setup  ## the scale benchmarks (minutes each); figures go to docs/benchmarks.md by hand
	python benchmarks/bench_simulate.py

bench-real: setup  ## tuned model vs logistic, XGBoost, LightGBM, FLAML on Churn_Modelling.csv (~9 min)
	OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_real.py

clean-env:  ## remove .venv
	rm -rf $(VENV)
