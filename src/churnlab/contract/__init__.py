"""The data contract and what is derived from it alone: tables, indicators, labels, snapshots, lifecycle, value.

Imports `core` only. Every stage that reads the bank's tables reads them through these modules.
"""
