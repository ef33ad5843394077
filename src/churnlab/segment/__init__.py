"""The `segment` stage: who the customers are, how they behave, what they are worth, where they are in life.

A stage package: `stage.py` holds `run()` and the thin `main()`; the other modules hold its pure functions.
It imports `core`, `contract` and `model`, never another stage (docs/architecture.md).
"""
