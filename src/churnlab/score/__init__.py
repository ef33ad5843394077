"""The `score` stage: the early-warning list for the scoring cutoff, risk grades, and recommended actions.

A stage package: `stage.py` holds `run()` and the thin `main()`; the other modules hold its pure functions.
It imports `core`, `contract` and `model`, never another stage (docs/architecture.md).
"""
