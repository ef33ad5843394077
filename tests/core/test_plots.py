"""The notebook plotting helpers on tiny frames: known Wilson intervals, what each chart draws, clear errors."""

import io
import warnings

import matplotlib

matplotlib.use("Agg")  # headless: tests never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from churnlab.core.plots import (  # noqa: E402
    mark_month,
    plot_lines,
    plot_rates,
    plot_shares,
    shade_months,
    use_chinese_font,
    wilson_interval,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_wilson_interval_known_answers():
    """Hand-worked with z = 1.96: 0/10 -> centre = half = 0.19208 / 1.38416 = 0.13877, so (0, 0.27754);
    5/10 -> centre 0.5, half = 1.96 * sqrt(0.025 + 0.009604) / 1.38416 = 0.26341, so (0.23659, 0.76341)."""
    low, high = wilson_interval([0, 5, 10], [10, 10, 10])
    np.testing.assert_allclose(low, [0.0, 0.23659, 0.72246], atol=1e-5)
    np.testing.assert_allclose(high, [0.27754, 0.76341, 1.0], atol=1e-5)


def test_wilson_interval_narrows_with_more_trials_and_contains_the_rate():
    low, high = wilson_interval([3, 30, 300], [20, 200, 2000])
    assert np.all(np.diff(high - low) < 0)
    assert np.all((low < 0.15) & (high > 0.15))


@pytest.mark.parametrize(("events", "trials"), [([1], [0]), ([-1], [5]), ([6], [5])])
def test_wilson_interval_rejects_impossible_counts(events, trials):
    with pytest.raises(ValueError, match="wilson_interval"):
        wilson_interval(events, trials)


def test_plot_lines_draws_one_labelled_line_per_column_on_month_ends():
    months = pd.date_range("2022-01-31", periods=4, freq="ME")
    balances = pd.DataFrame({"deposits": [1.0, 2.0, 3.0, 4.0], "loans": [0.5, 0.4, 0.3, 0.2]}, index=months)
    ax = plot_lines(balances, title="Balances", ylabel="EUR million")
    assert [line.get_label() for line in ax.get_lines()] == ["deposits", "loans"]
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), [0.5, 0.4, 0.3, 0.2])
    assert (ax.get_title(), ax.get_ylabel(), ax.get_xlabel()) == ("Balances", "EUR million", "month")
    assert ax.get_legend() is not None


def test_plot_lines_single_column_has_no_legend_and_uses_the_given_axes():
    fig, ax = plt.subplots()
    out = plot_lines(pd.DataFrame({"tx": [3, 2, 1]}, index=[-2, -1, 0]), title="t", ylabel="count",
                     xlabel="months before churn", ax=ax)
    assert out is ax and ax.get_legend() is None and ax.get_xlabel() == "months before churn"


def test_plot_lines_rejects_an_empty_frame():
    with pytest.raises(ValueError, match="empty"):
        plot_lines(pd.DataFrame({"a": []}), title="nothing", ylabel="x")


def test_mark_month_draws_a_vertical_line_at_the_month():
    months = pd.date_range("2022-01-31", periods=3, freq="ME")
    ax = plot_lines(pd.DataFrame({"promo": [0.1, 0.9, 0.8]}, index=months), title="t", ylabel="index")
    mark_month(ax, months[1], "shock")
    marker = ax.get_lines()[-1]
    assert pd.Timestamp(marker.get_xdata()[0]) == months[1]
    assert "shock" in [text.get_text() for text in ax.texts]


def test_shade_months_covers_the_period_and_stops_at_its_end():
    months = pd.date_range("2024-01-31", periods=12, freq="ME")
    ax = plot_lines(pd.DataFrame({"psi": range(12)}, index=months), title="t", ylabel="psi")
    shade_months(ax, "2024-03-31", "2024-06-30", "promotion")
    (patch,) = ax.patches
    left, right = matplotlib.dates.num2date([patch.get_x(), patch.get_x() + patch.get_width()])
    assert (left.date().isoformat(), right.date().isoformat()) == ("2024-03-01", "2024-06-30")  # not to December
    assert patch.get_label() == "promotion"


def test_plot_rates_bar_heights_are_percentages_with_n_in_the_labels():
    counts = pd.DataFrame({"events": [1, 10], "customers": [10, 40]}, index=["control", "treated"])
    ax = plot_rates(counts, title="6-month churn", xlabel="arm")
    assert [bar.get_height() for bar in ax.patches] == pytest.approx([10.0, 25.0])
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    assert labels == ["control\n(n=10)", "treated\n(n=40)"]


def test_plot_rates_names_missing_columns():
    with pytest.raises(KeyError, match="customers"):
        plot_rates(pd.DataFrame({"events": [1]}), title="t", xlabel="x")


def test_plot_shares_keeps_category_order_and_shows_missing_last():
    bands = pd.Series(pd.Categorical(["35-44", "18-24", None, "35-44"], categories=["18-24", "25-34", "35-44"]))
    ax = plot_shares(bands, title="age", missing_label="not declared")
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["18-24", "35-44", "not declared"]
    assert [bar.get_width() for bar in ax.patches] == pytest.approx([25.0, 50.0, 25.0])


def test_plot_shares_sorts_plain_values():
    ax = plot_shares(pd.Series([3, 1, 2, 3]), title="products")
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["1", "2", "3"]


def test_plot_shares_rejects_an_empty_series():
    with pytest.raises(ValueError, match="empty"):
        plot_shares(pd.Series([], dtype=object), title="nothing")


def test_wilson_interval_holds_the_share_exactly_at_zero_and_one():
    low, high = wilson_interval([0, 60], [10, 60])
    assert low[0] == 0.0 and high[1] == 1.0 and low[1] < 1.0 and high[0] > 0.0


def render_chinese_label() -> None:
    fig, ax = plt.subplots()
    ax.set_title("客户流失率（按月）")
    ax.plot([0, 1], [-1, 1], label="风险等级 A")
    ax.legend()
    fig.canvas.draw()
    fig.savefig(io.BytesIO(), format="png")


def test_a_chinese_label_renders_with_every_glyph():
    """Without the CJK font matplotlib warns "Glyph ... missing" (checked first: the test can fail); with it, no
    warning at all while drawing a Chinese title, legend and minus signs."""
    western = {"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}
    with matplotlib.rc_context(western), pytest.warns(UserWarning, match="missing from font"):
        render_chinese_label()
    with matplotlib.rc_context():
        assert use_chinese_font() == "Noto Sans CJK SC"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            render_chinese_label()
