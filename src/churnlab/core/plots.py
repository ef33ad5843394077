"""Small matplotlib helpers for the notebooks: each takes DataFrames or Series and returns the Axes it drew on.

No file I/O and no backend choice: a notebook shows the figure inline, and a caller that wants a PNG saves
the figure itself. Rates are drawn in per cent with 95 % Wilson intervals, so a small group shows as noisy.
"""

from pathlib import Path

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.axes import Axes

MARK_COLOUR = "crimson"
CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"  # Noto Sans CJK SC, shipped in the mplfonts wheel


def use_chinese_font() -> str:
    """Draw every later figure in Noto Sans CJK SC (Chinese and Latin glyphs), registered from the mplfonts wheel:
    no system font is needed and nothing is downloaded. Returns the font's family name.

    Without it, matplotlib's DejaVu Sans draws a Chinese label as empty boxes and warns "Glyph ... missing".
    """
    from mplfonts.conf import FONT_DIR

    path = Path(FONT_DIR) / CJK_FONT_FILE
    font_manager.fontManager.addfont(str(path))
    name = font_manager.FontProperties(fname=path).get_name()
    mpl.rcParams["font.family"] = "sans-serif"
    mpl.rcParams["font.sans-serif"] = [name, *[f for f in mpl.rcParams["font.sans-serif"] if f != name]]
    mpl.rcParams["axes.unicode_minus"] = False  # the CJK font's hyphen for minus signs: no missing U+2212
    return name


def wilson_interval(events, trials, *, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (95 % by default) for the binomial proportion events / trials, element-wise.

    Unlike the normal approximation it stays inside [0, 1] and keeps its coverage for small groups and
    rates near 0 (Wilson 1927; recommended by Brown, Cai and DasGupta 2001). 0 of 10 gives (0, 0.278) and
    5 of 10 gives (0.237, 0.763).
    """
    events, trials = np.asarray(events, dtype=float), np.asarray(trials, dtype=float)
    if np.any(trials <= 0):
        raise ValueError(f"wilson_interval: every group needs at least one trial, got trials={trials.tolist()}")
    if np.any((events < 0) | (events > trials)):
        raise ValueError(f"wilson_interval: events must lie in [0, trials], got events={events.tolist()}")
    share = events / trials
    shrink = 1 + z**2 / trials
    centre = (share + z**2 / (2 * trials)) / shrink
    half = z * np.sqrt(share * (1 - share) / trials + z**2 / (4 * trials**2)) / shrink
    # the interval always holds the share; min/max keep that exact where rounding would put 60/60 below 1
    return np.clip(np.minimum(centre - half, share), 0, 1), np.clip(np.maximum(centre + half, share), 0, 1)


def _axes(ax: Axes | None, figsize: tuple[float, float] = (8, 4)) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=figsize, layout="constrained")[1]


def plot_lines(series: pd.DataFrame, *, title: str, ylabel: str, xlabel: str = "month",
               ax: Axes | None = None) -> Axes:
    """One line per column of `series` against its index (month-ends or any number); a legend if several."""
    if series.empty:
        raise ValueError(f"plot_lines: nothing to plot for {title!r} (the frame is empty)")
    ax = _axes(ax)
    for column in series.columns:
        ax.plot(series.index, series[column], label=str(column), lw=1.8)
    if isinstance(series.index, pd.DatetimeIndex):
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(series.columns) > 1:
        ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    return ax


def mark_month(ax: Axes, month, label: str) -> Axes:
    """A dashed vertical line at `month` (an x value of `ax`), labelled at the top of the axes."""
    ax.axvline(month, color=MARK_COLOUR, ls="--", lw=1.5)
    ax.annotate(label, xy=(month, 1), xycoords=("data", "axes fraction"), xytext=(4, -14),
                textcoords="offset points", color=MARK_COLOUR, fontsize=9,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    return ax


def shade_months(ax: Axes, first, last, label: str) -> Axes:
    """Shade the months `first`..`last` (month-end dates, both included) from each month's start to its end.

    A period drawn to the axis' edge says it never ended: the end is the period's own, not the data's.
    """
    start = pd.Timestamp(first) - pd.offsets.MonthBegin(1)
    ax.axvspan(start, pd.Timestamp(last), color=MARK_COLOUR, alpha=0.15, label=label)
    return ax


def plot_rates(counts: pd.DataFrame, *, title: str, xlabel: str, ylabel: str = "churn rate (%)",
               ax: Axes | None = None) -> Axes:
    """Bars of events / customers (%) per row of `counts`, with 95 % Wilson intervals and n under each bar.

    `counts` has integer columns `events` and `customers` and one row per group (the index names the group).
    """
    missing = sorted({"events", "customers"} - set(counts.columns))
    if missing:
        raise KeyError(f"plot_rates: `counts` needs columns 'events' and 'customers'; missing {missing}")
    rate = counts["events"].to_numpy() / counts["customers"].to_numpy()
    low, high = wilson_interval(counts["events"], counts["customers"])
    ax = _axes(ax)
    x = np.arange(len(counts))
    ax.bar(x, 100 * rate, yerr=100 * np.vstack([rate - low, high - rate]), capsize=4, color="steelblue",
           ecolor="black")
    ax.set_xticks(x, [f"{group}\n(n={n:,})" for group, n in zip(counts.index, counts["customers"], strict=True)])
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_shares(values: pd.Series, *, title: str, missing_label: str = "missing", ax: Axes | None = None,
                xlabel: str = "share of customers (%)") -> Axes:
    """Horizontal bars: share (%) of rows per value of `values`, missing values as a bar of their own.

    A categorical keeps its category order (e.g. ordered age bands); other values are sorted.
    """
    if values.empty:
        raise ValueError(f"plot_shares: nothing to plot for {title!r} (the series is empty)")
    categorical = isinstance(values.dtype, pd.CategoricalDtype)
    counts = values.value_counts(dropna=False, sort=False)
    if not categorical:
        counts = counts.sort_index(na_position="last")
    counts = counts[counts > 0]
    labels = [missing_label if pd.isna(value) else str(value) for value in counts.index]
    shares = 100 * counts.to_numpy() / counts.sum()
    ax = _axes(ax, figsize=(6, 0.4 * len(labels) + 1.2))
    bars = ax.barh(labels, shares, color=["lightgrey" if label == missing_label else "steelblue" for label in labels])
    ax.bar_label(bars, fmt="%.1f %%", padding=2, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, shares.max() * 1.2)
    ax.set(title=title, xlabel=xlabel)
    return ax
