"""Plumbing every stage shares: file locations, params, atomic writers, logging, MLflow, pseudonyms, file readers.

Nothing here knows about churn; `core` imports no other churnlab package.
"""
