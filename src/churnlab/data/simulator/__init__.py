"""The bank simulator: a retail bank month by month, with the oracle's ground truth beside the tables.
"""
