"""The churn model and what every stage does with it: features in, split, tuning, metrics, serving, reasons, grades.

Imports `core` and `contract`.
"""
