"""Tiny snapshot tables for the train / evaluate / register tests: known signal, snapshot dtypes.

Customers C000.. appear at every monthly cutoff; churn within the horizon gets likelier with complaints and a
falling deposit balance, and for the `mass` segment. The last `horizon` cutoffs are not fully labelled, as
in the real snapshots.
"""

import numpy as np
import pandas as pd

SEGMENTS = ["mass", "affluent", "private"]


def snapshots(n_customers: int = 300, n_cutoffs: int = 12, *, horizon: int = 3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    cutoffs = pd.date_range("2022-01-31", periods=n_cutoffs, freq="ME")
    for i, cutoff in enumerate(cutoffs):
        n = n_customers
        complaints = rng.poisson(0.4, n).astype(float)
        trend = rng.normal(1.0, 0.2, n)
        segment = pd.Categorical(rng.choice(SEGMENTS, n, p=[0.6, 0.3, 0.1]), categories=SEGMENTS)
        segment[rng.random(n) < 0.05] = np.nan
        logit = -2.6 + 1.1 * complaints - 3.0 * (trend - 1.0) + 0.6 * (segment == "mass")
        label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
        labeled = np.full(n, i < n_cutoffs - horizon)
        frame = pd.DataFrame({
            "customer_id": [f"C{k:03d}" for k in range(n)],
            "cutoff": pd.Series(cutoff, index=range(n)).astype("datetime64[ns]"),
            "label": pd.array(np.where(labeled, label, pd.NA), dtype="Int8"),
            "labeled": labeled,
            "age": rng.integers(20, 80, n).astype(float),
            "segment": segment,
            "payroll": rng.random(n) < 0.5,
            "complaints_3m": complaints,
            "deposit_trend_3m": np.where(rng.random(n) < 0.05, np.nan, trend),
            "income": np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(8.0, 0.5, n)),
        })
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


REGIONS = ["north", "south", "east", "west"]


def frame_with_region(n_customers: int = 120) -> pd.DataFrame:
    """Tiny snapshots plus a second categorical column, `region`, with some missing values."""
    frame = snapshots(n_customers=n_customers, n_cutoffs=2, horizon=1)
    rng = np.random.default_rng(1)
    region = pd.Categorical(rng.choice(REGIONS, len(frame)), categories=REGIONS)
    region[rng.random(len(frame)) < 0.05] = np.nan
    return frame.assign(region=region)
