"""The `report` stage: the notebooks as offline HTML, the champion's model card, and an offline DVC plots template.

A stage package: `stage.py` holds `run()` and the thin `main()`; the other modules hold its pure functions.
It imports `core`, `contract` and `model`, never another stage (docs/architecture.md).
"""
