"""Figures of the survival stage: KM curves, model curves, calibration, incidence.

Each function returns the matplotlib figure; the stage puts it in `StageResult.figures` and
`churnlab.core.outputs.write_result` saves it as PNG (atomically) and closes it.
"""

import matplotlib

matplotlib.use("Agg")  # the stage runs headless under DVC
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def plot_km(curves: dict[str, pd.DataFrame], time_scales: dict[str, str]) -> Figure:
    """One panel per grouping: the overall curve with its 95 % band, then each grouping's levels."""
    fig, axes = plt.subplots(2, (len(curves) + 1) // 2, figsize=(15, 8), sharey=True)
    for ax, (name, curve) in zip(axes.ravel(), curves.items(), strict=False):
        if name == "overall":
            ax.step(curve["time"], curve["survival"], where="post", color="k", label="all customers")
            ax.fill_between(curve["time"], curve["lower"], curve["upper"], step="post", alpha=0.25, color="grey")
        else:
            for level in curve.columns.drop("time"):
                ax.step(curve["time"], curve[level], where="post", label=level)
        ax.set_title(name)
        ax.set_xlabel("months since " + ("entry" if time_scales.get(name) == "since entry" else "opening"))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes.ravel()[0].set_ylabel("share still a customer (no voluntary churn)")
    return fig


def plot_model_curves(curves: pd.DataFrame) -> Figure:
    """Mean predicted survival since entry per model against the held-out Kaplan-Meier curve."""
    fig, ax = plt.subplots(figsize=(7, 5))
    for model in curves.columns.drop(["month", "observed_km"]):
        ax.plot(curves["month"], curves[model], label=model)
    ax.step(curves["month"], curves["observed_km"], where="post", color="k", lw=2, label="observed (KM)")
    ax.set(xlabel="months since entry", ylabel="survival", title="held-out customers: predicted vs observed")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def plot_calibration(calibration: pd.DataFrame, horizon: int) -> Figure:
    """Predicted vs observed churn probability by decile of prediction, one line per model."""
    fig, ax = plt.subplots(figsize=(6, 6))
    for model, part in calibration.groupby("model", sort=False):
        ax.plot(part["predicted"], part["observed"], marker="o", label=model)
    top = float(calibration[["predicted", "observed"]].max().max()) * 1.05
    ax.plot([0, top], [0, top], ls="--", c="k")
    ax.set(xlabel=f"predicted P(churn within {horizon} months)", ylabel="observed (KM)", title="calibration")
    ax.legend()
    return fig


def plot_incidence(cif: pd.DataFrame) -> Figure:
    """Aalen-Johansen cumulative incidence of each churn type on the tenure scale."""
    fig, ax = plt.subplots(figsize=(7, 5))
    for cause in cif.columns.drop("time"):
        ax.step(cif["time"], cif[cause], where="post", label=cause)
    ax.set(xlabel="months since opening", ylabel="cumulative incidence", title="competing churn types")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig
