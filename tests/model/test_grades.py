"""Scorecard points (hand-worked), grade boundaries with monotone churn rates, and the grade table."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from churnlab.model.grades import GradeWarning, assign_grades, choose_boundaries, grade_table, is_monotone, points

SCORECARD = {"pdo": 20.0, "base_points": 600.0, "base_odds": 50.0}


def test_points_match_the_hand_worked_case():
    """PDO 20, 600 points at 50:1 (the derivation is in churnlab.model.grades' docstring):
    p = 1/51 -> odds 50 -> 600; p = 1/101 -> odds 100 -> 620; p = 0.2 -> odds 4 -> 600 + 20 log2(4/50)
    = 527.1228762; p = 0.5 -> odds 1 -> the offset 600 - 20 log2(50) = 487.1228762."""
    got = points([1 / 51, 1 / 101, 0.2, 0.5], **SCORECARD)
    np.testing.assert_allclose(got, [600.0, 620.0, 527.1228762, 487.1228762], atol=1e-6)
    factor = 20 / math.log(2)
    assert factor == pytest.approx(28.8539008)


def test_doubling_the_odds_adds_pdo_and_riskier_means_fewer_points():
    odds = np.array([2.0, 4.0, 8.0, 16.0])
    got = points(1 / (1 + odds), **SCORECARD)
    np.testing.assert_allclose(np.diff(got), 20.0)
    assert np.all(np.diff(points([0.01, 0.1, 0.5, 0.9], **SCORECARD)) < 0)


def test_zero_and_one_probabilities_give_finite_points():
    got = points([0.0, 1.0], **SCORECARD, p_floor=1e-4)
    assert np.isfinite(got).all()
    assert got[0] == pytest.approx(600 + 20 * math.log2(9999 / 50))


def test_bad_scorecard_parameters_are_named():
    with pytest.raises(ValueError, match="pdo"):
        points([0.1], pdo=0, base_points=600, base_odds=50)


def test_assign_grades_puts_ties_at_a_threshold_in_the_better_grade():
    grades = assign_grades([700, 650, 600, 599.9, 500], [650, 600], ["A", "B", "C"])
    assert list(grades) == ["A", "A", "B", "C", "C"]
    with pytest.raises(ValueError, match="descending"):
        assign_grades([1.0], [600, 650], ["A", "B", "C"])


def validation_rows(rates: list[float], per_grade: int = 200):
    """Points in five blocks (best block highest), each with the given churn rate, best first."""
    scores, y = [], []
    for g, rate in enumerate(rates):
        scores += list(700 - 50 * g + np.linspace(0, 10, per_grade))
        churners = int(rate * per_grade)
        y += [1] * churners + [0] * (per_grade - churners)
    return np.array(scores), np.array(y)


def test_monotone_validation_keeps_every_grade_at_its_share():
    scores, y = validation_rows([0.01, 0.03, 0.06, 0.12, 0.30])
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradeWarning)
        thresholds, labels = choose_boundaries(scores, y, shares=[1, 1, 1, 1, 1], labels=list("ABCDE"))
    assert labels == list("ABCDE")
    table = grade_table(assign_grades(scores, thresholds, labels), y, np.zeros(len(y)))
    assert table["customers"].tolist() == [200] * 5
    assert is_monotone(table)


def test_a_violating_pair_is_merged_and_the_rates_rise():
    """B churns more than C on validation: B and C merge (rates 0.05 and 0.03 pool to 0.04 > A's 0.01)."""
    scores, y = validation_rows([0.01, 0.05, 0.03, 0.12, 0.30])
    with pytest.warns(GradeWarning, match="4 of 5"):
        thresholds, labels = choose_boundaries(scores, y, shares=[1, 1, 1, 1, 1], labels=list("ABCDE"))
    assert labels == list("ABCD")
    table = grade_table(assign_grades(scores, thresholds, labels), y, np.zeros(len(y)))
    assert table["customers"].tolist() == [200, 400, 200, 200]
    np.testing.assert_allclose(table["churn_rate"], [0.01, 0.04, 0.12, 0.30])
    assert is_monotone(table)


def test_grades_are_monotone_on_random_validation_data():
    rng = np.random.default_rng(1)
    p = rng.beta(1, 12, 3000)
    y = rng.random(3000) < p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradeWarning)
        thresholds, labels = choose_boundaries(points(p, **SCORECARD), y, shares=[0.3, 0.25, 0.2, 0.15, 0.1],
                                               labels=list("ABCDE"))
    table = grade_table(assign_grades(points(p, **SCORECARD), thresholds, labels), y, p)
    assert is_monotone(table) and len(labels) >= 3


def test_grade_table_known_answer():
    """Ten customers, three churners (base rate 0.3): A 5 rows 0 churners, B 3 rows 1, C 2 rows 2 -> churn rates
    0, 1/3, 1; lift 0, 1.111, 3.333; capture (this grade or worse) 3/3, 3/3, 2/3."""
    grades = pd.Categorical(list("AAAAABBBCC"), categories=list("ABC"), ordered=True)
    y = [0, 0, 0, 0, 0, 1, 0, 0, 1, 1]
    table = grade_table(grades, y, [0.1] * 10)
    assert table["customers"].tolist() == [5, 3, 2]
    np.testing.assert_allclose(table["share"], [0.5, 0.3, 0.2])
    np.testing.assert_allclose(table["churn_rate"], [0.0, 1 / 3, 1.0])
    np.testing.assert_allclose(table["lift"], [0.0, (1 / 3) / 0.3, 1 / 0.3])
    np.testing.assert_allclose(table["cumulative_capture"], [1.0, 1.0, 2 / 3])
    assert is_monotone(table)
    assert not is_monotone(table.assign(churn_rate=[0.2, 0.1, 0.5]))
