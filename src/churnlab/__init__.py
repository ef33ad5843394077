"""churnlab: reproducible research toolkit for bank customer churn.

Three shared packages (`core` plumbing, `contract` the data contract, `model` the churn model) and one package per
pipeline stage (`data`, `features`, ..., `report`), each holding pure functions, a pure `run()` and one thin `main()`
that alone touches files, params and MLflow. Run a stage with `python -m churnlab.<stage>`, or the whole pipeline
with `dvc repro`; docs/architecture.md explains the layout and the rule of imports.
"""

__version__ = "0.1.0"
