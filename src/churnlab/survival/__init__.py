"""The `survival` stage: how long customers stay, who leaves early, and what a customer is worth.

A stage package: `stage.py` holds `run()` and the thin `main()`; the other modules hold its pure functions.
It imports `core`, `contract` and `model`, never another stage (docs/architecture.md).
"""
