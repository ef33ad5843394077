"""Risk grades as in credit-scorecard practice: churn probability -> points -> grades A (safest) to E.

Points. With p the calibrated churn probability within the horizon, the odds of staying are
(1 - p) / p, and

    points = offset + factor * ln(odds of staying),  factor = PDO / ln 2,  offset = base_points - factor * ln(base_odds)

so a customer at the base odds scores the base points, and every doubling of the odds of staying adds PDO points
(points = base_points + PDO * log2(odds / base_odds)). Worked example with PDO 20, base points 600 at base odds
50:1 (tests/test_grades.py checks it):

    factor = 20 / ln 2 = 28.8539008;  offset = 600 - 20 * log2(50) = 600 - 112.8771238 = 487.1228762
    p = 1/51  -> odds 50    -> 600 points
    p = 1/101 -> odds 100   -> 620 points (the odds doubled: + PDO)
    p = 0.2   -> odds 4     -> 600 + 20 * log2(4 / 50) = 600 + 20 * (2 - 5.6438562) = 527.1228762 points
    p = 0.5   -> odds 1     -> the offset, 487.1228762 points

Probabilities are clipped to [p_floor, 1 - p_floor] first: an isotonic calibrator returns exact zeros, whose
points would be infinite.

Grades. Boundaries are points thresholds chosen on the validation snapshots: start from the quantiles that give
each grade its target share (`shares`, best grade first), then, while the observed churn rate does not rise
strictly from one grade to the next worse one, merge the offending pair (drop the threshold between them;
pool-adjacent-violators on grades). The result is monotone on validation by construction; a merge leaves fewer
grades (lettered from A) and warns with `GradeWarning`. On the test cutoff monotonicity is measured, not forced.
"""

import logging
import math
import warnings

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


class GradeWarning(UserWarning):
    """Grade boundaries had to merge grades to keep the churn rate monotone (fewer grades than asked for)."""


def points(p, *, pdo: float, base_points: float, base_odds: float, p_floor: float = 1e-4) -> np.ndarray:
    """Scorecard points of churn probabilities `p` (higher = safer); see the module docstring."""
    if pdo <= 0 or base_odds <= 0:
        raise ValueError(f"score.points: pdo ({pdo}) and base_odds ({base_odds}) must be > 0")
    p = np.clip(np.asarray(p, dtype=float), p_floor, 1 - p_floor)
    factor = pdo / math.log(2)
    offset = base_points - factor * math.log(base_odds)
    return offset + factor * np.log((1 - p) / p)


def assign_grades(scores, thresholds: list[float], labels: list[str]) -> pd.Categorical:
    """Grade of each points value: labels[0] at or above thresholds[0], ..., labels[-1] below thresholds[-1].

    `thresholds` are descending; there must be one label more than thresholds.
    """
    if len(labels) != len(thresholds) + 1:
        raise ValueError(f"{len(thresholds)} thresholds need {len(thresholds) + 1} grade labels, got {labels}")
    if any(a <= b for a, b in zip(thresholds, thresholds[1:], strict=False)):
        raise ValueError(f"grade thresholds must be strictly descending, got {thresholds}")
    scores = np.asarray(scores, dtype=float)
    index = np.searchsorted(-np.asarray(thresholds, dtype=float), -scores, side="left")
    return pd.Categorical.from_codes(index, categories=labels, ordered=True)


def _rates(scores: np.ndarray, y: np.ndarray, thresholds: list[float]) -> np.ndarray:
    grades = assign_grades(scores, thresholds, [str(i) for i in range(len(thresholds) + 1)]).codes
    return np.array([y[grades == g].mean() if (grades == g).any() else np.nan for g in range(len(thresholds) + 1)])


def choose_boundaries(scores, y, *, shares: list[float], labels: list[str]) -> tuple[list[float], list[str]]:
    """Points thresholds (descending) and grade labels with a strictly rising churn rate on (scores, y).

    `shares` are the target shares of each grade, best first (they are normalised to sum to 1); `labels` name
    the grades, best first. See the module docstring for the merge rule.
    """
    if len(shares) != len(labels):
        raise ValueError(f"score.grades: {len(shares)} shares for {len(labels)} labels")
    scores, y = np.asarray(scores, dtype=float), np.asarray(y, dtype=float)
    if len(scores) == 0:
        raise ValueError("no validation rows to choose grade boundaries on")
    cumulative = np.cumsum(shares)[:-1] / np.sum(shares)
    # the best grade holds the highest points: its lower threshold is the (1 - share) quantile
    thresholds = sorted({float(np.quantile(scores, 1 - c)) for c in cumulative}, reverse=True)
    thresholds = [t for t in thresholds if (scores < t).any() and (scores >= t).any()]  # no empty end grades
    merged = False
    while thresholds:
        rates = _rates(scores, y, thresholds)
        bad = [i for i in range(len(rates) - 1) if not rates[i] < rates[i + 1]]  # NaN (empty grade) is bad too
        if not bad:
            break
        del thresholds[bad[0]]  # merge grade i with grade i + 1
        merged = True
    if merged:
        warnings.warn(f"grades merged to keep churn rates monotone: {len(thresholds) + 1} of {len(labels)} grades "
                      "remain", GradeWarning, stacklevel=2)
    return thresholds, list(labels[: len(thresholds) + 1])


def is_monotone(table: pd.DataFrame) -> bool:
    """True if the observed churn rate rises strictly from each grade to the next worse one (empty grades skipped)."""
    rates = table.loc[table["customers"] > 0, "churn_rate"].to_numpy(float)
    return bool(np.all(np.diff(rates) > 0))


def grade_table(grades: pd.Categorical, y, p) -> pd.DataFrame:
    """Per grade (best first): customers, share, churners, observed and predicted churn rate, lift and capture.

    lift = churn rate of the grade / overall churn rate; cumulative_capture = share of all churners in this
    grade or a worse one (the recall of a campaign that contacts this grade and every worse grade).
    """
    rows = pd.DataFrame({"grade": pd.Categorical(grades), "y": np.asarray(y, float), "p": np.asarray(p, float)})
    table = rows.groupby("grade", observed=False).agg(customers=("y", "size"), churners=("y", "sum"),
                                                      predicted_rate=("p", "mean")).reset_index()
    total, churners = len(rows), rows["y"].sum()
    table["share"] = table["customers"] / total
    table["churn_rate"] = table["churners"] / table["customers"].where(table["customers"] > 0)
    table["lift"] = table["churn_rate"] / (churners / total)
    table["cumulative_capture"] = table["churners"][::-1].cumsum()[::-1] / churners if churners else np.nan
    table["churners"] = table["churners"].astype(int)
    return table[["grade", "customers", "share", "churners", "churn_rate", "predicted_rate", "lift",
                  "cumulative_capture"]]
