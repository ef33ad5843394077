"""The `train` stage: baselines and an Optuna-tuned, calibrated XGBoost on the out-of-time split.

A stage package: `stage.py` holds `run()` and the thin `main()`; the other modules hold its pure functions.
It imports `core`, `contract` and `model`, never another stage (docs/architecture.md).
"""
