"""churnlab: reproducible research toolkit for bank customer churn.

Each pipeline stage is a module (`simulate`, `features`, ...) holding pure functions and one `main()`
that alone touches files, params and MLflow. Run a stage with `python -m churnlab.<stage>`, or the
whole pipeline with `dvc repro`.
"""

__version__ = "0.1.0"
