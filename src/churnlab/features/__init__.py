"""The `features` stage: point-in-time snapshots with churn labels, customer lifetimes, indicator catalogue.

A stage package: `stage.py` holds `run()` and the thin `main()`; the other modules hold its pure functions.
It imports `core`, `contract` and `model`, never another stage (docs/architecture.md).
"""
