"""Tiny synthetic snapshot tables (every catalogue column, snapshot dtypes) and a tiny churn model on them.

Churn is driven by complaints, a falling deposit balance and fees, so reason codes have known answers.
"""

import numpy as np
import pandas as pd

from churnlab.contract.indicators import CATEGORICAL, FEATURES, FLAGS
from churnlab.model.churn import build_baseline, feature_columns, fit_model

CUTOFFS = tuple(pd.Timestamp(t) for t in ("2023-03-31", "2023-06-30", "2023-09-30", "2023-12-31", "2024-03-31"))
LEVELS = {"age_band": ["<25", "25-34", "35-44", "45-54", "55-64", "65+"], "education": ["primary", "secondary",
          "tertiary"], "segment": ["mass", "affluent", "private"], "occupation": ["employee", "retired"],
          "region": ["north", "south", "capital"], "acquisition_channel": ["branch", "online"]}


def snapshots(n_customers: int = 300, cutoffs=CUTOFFS, *, seed: int = 0, unlabeled_last: bool = True) -> pd.DataFrame:
    """Customers C0000.. at each cutoff (a churner leaves before the next one); the last cutoff is unlabeled."""
    rng = np.random.default_rng(seed)
    frames, active = [], np.arange(n_customers)
    for i, cutoff in enumerate(cutoffs):
        n = len(active)
        data = {"customer_id": [f"C{k:04d}" for k in active], "cutoff": pd.Series(cutoff, index=range(n))}
        for column in FEATURES:
            if column in CATEGORICAL:
                data[column] = pd.Categorical(rng.choice(LEVELS[column], n), categories=LEVELS[column])
            elif column in FLAGS:
                data[column] = rng.random(n) < 0.5
            else:
                data[column] = rng.gamma(2.0, 1.0, n)
        frame = pd.DataFrame(data)
        frame["complaints_3m"] = rng.poisson(0.3, n).astype(float)
        frame["complaints_12m"] = frame["complaints_3m"] + rng.poisson(0.5, n)
        frame["deposit_balance"] = rng.lognormal(8.5, 1.0, n)
        frame["deposit_trend_3m"] = rng.normal(1.0, 0.15, n)
        frame["total_balance_trend_3m"] = frame["deposit_trend_3m"]
        frame["n_products_change_3m"] = rng.choice([-1.0, 0.0, 0.0, 0.0, 1.0], n)
        frame["tenure_months"] = rng.integers(1, 120, n).astype(float)
        frame["income"] = np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(8.0, 0.5, n))
        frame["digital_share_3m"] = np.where(rng.random(n) < 0.05, np.nan, rng.random(n))
        logit = -3.0 + 1.5 * frame["complaints_3m"] + 6.0 * (1.0 - frame["deposit_trend_3m"]) + 0.2 * frame["fees_3m"]
        churn = rng.random(n) < 1 / (1 + np.exp(-logit))
        last = i == len(cutoffs) - 1
        frame.insert(2, "label", pd.array(np.where(last and unlabeled_last, pd.NA, churn.astype(int)), dtype="Int8"))
        frame.insert(3, "labeled", frame["label"].notna().to_numpy())
        frames.append(frame)
        active = active[~churn]
    return pd.concat(frames, ignore_index=True)


def churn_model(train: pd.DataFrame, *, calibrate_on: pd.DataFrame | None = None, seed: int = 0):
    """A small XGBoost ChurnModel fitted on the labelled `train` rows (isotonic-calibrated if asked)."""
    kinds = feature_columns(train)
    pipeline = build_baseline("xgboost_default", kinds, seed=seed, n_jobs=1, n_estimators=60, max_depth=3)
    model = fit_model(pipeline, train, train["label"].astype(int), kinds, name="tiny")
    if calibrate_on is not None:
        model = model.calibrated(calibrate_on, calibrate_on["label"].astype(int), method="isotonic")
    return model


def indicators() -> pd.DataFrame:
    """The catalogue's definitions, as the features stage writes them to reports/indicators.csv."""
    from churnlab.contract.indicators import catalogue

    return catalogue()


def monthly_case():
    """The score stage's monthly case: snapshots at five cutoffs (the last unlabelled), a time split (train, validation,
    test = the fourth cutoff), a tiny champion calibrated on the validation cutoff, and its training rows."""
    from churnlab.model.split import TimeSplit

    rows = snapshots(400, seed=3)
    cutoffs = sorted(rows["cutoff"].unique())
    split = TimeSplit(train=(cutoffs[0],), validation=(cutoffs[1],), test=cutoffs[3])
    train, validation = (rows[rows["cutoff"] == t] for t in cutoffs[:2])
    return rows, split, churn_model(train, calibrate_on=validation), train
