"""Test-set curves of churn models as tables (for DVC plots) and figures (PNG, for MLflow and reports).

Every curve function takes labels y (1 churned) and probabilities p and returns a DataFrame (`curves` makes all
four for every model); every figure function takes {model name: DataFrame} and returns a matplotlib Figure.
Figures use the Agg backend and are closed by the caller after saving.
"""

import matplotlib

matplotlib.use("Agg")  # files only, never a window (DVC stages and tests run headless)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from churnlab.model.metrics import gains_curve  # noqa: E402


def _thin(frame: pd.DataFrame, points: int) -> pd.DataFrame:
    """At most `points` rows, evenly spaced, always keeping the first and last."""
    if len(frame) <= points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


def roc_points(y, p, *, points: int) -> pd.DataFrame:
    fpr, tpr, _ = roc_curve(y, p)
    return _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr}), points)


def pr_points(y, p, *, points: int) -> pd.DataFrame:
    precision, recall, _ = precision_recall_curve(y, p)
    return _thin(pd.DataFrame({"recall": recall[::-1], "precision": precision[::-1]}), points)


def calibration_points(y, p, *, bins: int) -> pd.DataFrame:
    """Mean predicted probability and observed churn rate per equal-count bin of p."""
    order = np.argsort(np.asarray(p), kind="stable")
    groups = [g for g in np.array_split(order, bins) if len(g)]
    y, p = np.asarray(y, float), np.asarray(p, float)
    return pd.DataFrame({"predicted": [p[g].mean() for g in groups], "observed": [y[g].mean() for g in groups],
                         "rows": [len(g) for g in groups]})


def gains_points(y, p) -> pd.DataFrame:
    return gains_curve(y, p)


def curves(y, probabilities: dict[str, np.ndarray], *, points: int, bins: int) -> dict[str, dict[str, pd.DataFrame]]:
    """{kind: {model: curve}} for the kinds roc, pr, calibration (`bins` bins) and gains; roc and pr are thinned to
    at most `points` rows."""
    return {
        "roc": {name: roc_points(y, p, points=points) for name, p in probabilities.items()},
        "pr": {name: pr_points(y, p, points=points) for name, p in probabilities.items()},
        "calibration": {name: calibration_points(y, p, bins=bins) for name, p in probabilities.items()},
        "gains": {name: gains_points(y, p) for name, p in probabilities.items()},
    }


def _figure(title: str, xlabel: str, ylabel: str):
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def roc_figure(curves: dict[str, pd.DataFrame]):
    fig, ax = _figure("ROC on the test cutoff", "false positive rate", "true positive rate (churners caught)")
    for name, c in curves.items():
        ax.plot(c["fpr"], c["tpr"], label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.legend(fontsize=8)
    return fig


def pr_figure(curves: dict[str, pd.DataFrame], base_rate: float):
    fig, ax = _figure("Precision-recall on the test cutoff", "recall", "precision")
    for name, c in curves.items():
        ax.plot(c["recall"], c["precision"], label=name)
    ax.axhline(base_rate, color="k", ls=":", lw=0.8, label="churn rate")
    ax.legend(fontsize=8)
    return fig


def calibration_figure(curves: dict[str, pd.DataFrame]):
    fig, ax = _figure("Calibration on the test cutoff", "mean predicted probability", "observed churn rate")
    top = max(max(c["predicted"].max(), c["observed"].max()) for c in curves.values())
    for name, c in curves.items():
        ax.plot(c["predicted"], c["observed"], "o-", ms=3, label=name)
    ax.plot([0, top], [0, top], "k:", lw=0.8)
    ax.legend(fontsize=8)
    return fig


def gains_figure(curves: dict[str, pd.DataFrame]):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
    for name, c in curves.items():
        left.plot(c["contacted"], c["churners_caught"], label=name)
        right.plot(c["contacted"], c["lift"], label=name)
    left.plot([0, 1], [0, 1], "k:", lw=0.8)
    left.set(title="Cumulative gains", xlabel="share contacted (highest risk first)", ylabel="share of churners caught")
    right.axhline(1, color="k", ls=":", lw=0.8)
    right.set(title="Lift", xlabel="share contacted (highest risk first)", ylabel="churn rate / overall rate")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    left.legend(fontsize=8)
    return fig


def importance_figure(importance: pd.DataFrame, *, top: int = 20):
    """Horizontal bars of the `top` features by mean |SHAP| (log-odds)."""
    part = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(part) + 1.2), dpi=110)
    ax.barh(part["feature"], part["mean_abs_shap"])
    ax.set(title="Feature importance: mean |SHAP| on test rows", xlabel="mean |SHAP value| (log-odds)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def shap_figure(values: pd.DataFrame, encoded: pd.DataFrame, *, seed: int, top: int = 20):
    """SHAP's beeswarm summary of `values` (rows x features, log-odds) coloured by the `encoded` feature values.

    On a figure of its own: `shap.summary_plot` draws on pyplot's current figure, which would otherwise be the
    last figure made (the importance bars). The beeswarm's vertical jitter is random: drawn from a generator seeded
    with `seed` (params base.seed), the same params give the same PNG.
    """
    import shap

    fig = plt.figure(dpi=110)
    shap.summary_plot(values.to_numpy(), encoded, show=False, max_display=top, rng=np.random.default_rng(seed))
    return fig
