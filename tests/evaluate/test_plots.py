"""evaluate's curves (the DVC plot tables) with known answers, and figures that never draw over one another."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from churnlab.evaluate import plots as ep


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_thinning_keeps_the_first_and_last_points():
    frame = pd.DataFrame({"x": np.arange(1000)})
    thin = ep._thin(frame, 11)
    assert len(thin) == 11 and thin["x"].iloc[0] == 0 and thin["x"].iloc[-1] == 999
    assert thin["x"].is_monotonic_increasing
    assert ep._thin(frame.head(5), 11)["x"].tolist() == [0, 1, 2, 3, 4]


def test_roc_and_pr_of_a_perfect_ranking():
    y, p = np.array([0, 0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    roc = ep.roc_points(y, p, points=100)
    assert ((roc["fpr"] == 0) & (roc["tpr"] == 1)).any()  # every churner caught before the first false alarm
    pr = ep.pr_points(y, p, points=100)
    assert pr["recall"].is_monotonic_increasing
    assert pr.loc[pr["recall"] == 1, "precision"].max() == 1  # full recall at precision 1
    assert pr["precision"].iloc[-1] == pytest.approx(0.4)  # the lowest threshold: everyone contacted, 2 of 5 churn


def test_calibration_points_are_equal_count_bins_of_p():
    """Six rows sorted by p into 3 bins of 2: mean p (.15, .35, .55) against the churn rate (0, 1, 0.5)."""
    y, p = [0, 0, 1, 1, 1, 0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    points = ep.calibration_points(y, p, bins=3)
    assert points["predicted"].tolist() == pytest.approx([0.15, 0.35, 0.55])
    assert points["observed"].tolist() == [0.0, 1.0, 0.5] and points["rows"].tolist() == [2, 2, 2]


def test_curves_hold_every_kind_for_every_model():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    probabilities = {"a": rng.random(200), "b": rng.random(200)}
    curves = ep.curves(y, probabilities, points=20, bins=4)
    assert set(curves) == {"roc", "pr", "calibration", "gains"}
    assert all(set(by_model) == {"a", "b"} for by_model in curves.values())
    assert len(curves["roc"]["a"]) <= 20 and len(curves["calibration"]["b"]) == 4
    for make, kind in ((ep.roc_figure, "roc"), (ep.calibration_figure, "calibration"), (ep.gains_figure, "gains")):
        assert len(make(curves[kind]).axes[0].lines) >= 2  # one line per model (plus the reference line)


def test_shap_summary_gets_a_figure_of_its_own():
    """shap draws on pyplot's current figure: the summary must not land on the importance bars made just before."""
    rng = np.random.default_rng(1)
    encoded = pd.DataFrame(rng.normal(size=(50, 3)), columns=["x", "y", "z"])
    values = encoded * [1.0, 0.5, 0.1]
    importance = pd.DataFrame({"feature": ["x", "y", "z"], "mean_abs_shap": values.abs().mean().to_numpy()})
    bars = ep.importance_figure(importance)
    summary = ep.shap_figure(values, encoded, seed=7)
    assert summary is not bars and len(bars.axes) == 1
    assert len(summary.axes) >= 1 and summary.axes[0].get_xlabel().startswith("SHAP value")


def test_the_shap_summary_is_the_same_picture_for_the_same_seed(tmp_path):
    """The beeswarm jitters points at random: with the seed fixed, the same params give the same PNG bytes."""
    rng = np.random.default_rng(2)
    encoded = pd.DataFrame(rng.normal(size=(200, 3)), columns=["x", "y", "z"])
    values = encoded * [1.0, 0.5, 0.1]

    def png(seed: int) -> bytes:
        ep.shap_figure(values, encoded, seed=seed).savefig(tmp_path / "f.png", format="png")
        return (tmp_path / "f.png").read_bytes()

    assert png(7) == png(7) and png(7) != png(8)
