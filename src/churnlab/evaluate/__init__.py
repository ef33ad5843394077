"""The `evaluate` stage: every model on the out-of-time test cutoff, which no earlier stage has read.

A stage package: `stage.py` holds `run()` and the thin `main()`; the other modules hold its pure functions.
It imports `core`, `contract` and `model`, never another stage (docs/architecture.md).
"""
