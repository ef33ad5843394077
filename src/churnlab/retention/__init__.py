"""The `retention` stage: whom to contact, what it is worth, how the last campaign worked, and who to win back.

A stage package: `stage.py` holds `run()` and the thin `main()`; the other modules hold its pure functions.
It imports `core`, `contract` and `model`, never another stage (docs/architecture.md).
"""
