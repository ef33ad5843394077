"""The `data` stage: the tables every later stage reads, from the source that params `data.source` names.

A stage package: `stage.py` holds `run()` and the thin `main()`; the other modules hold its pure functions.
It imports `core`, `contract` and `model`, never another stage (docs/architecture.md).
"""
