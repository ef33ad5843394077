"""Cutoff-to-cutoff migration matrices: shares per starting state, leavers as `left`, newcomers ignored."""

import pandas as pd
import pytest

from churnlab.contract.migration import migration_matrix


def test_hand_made_moves():
    """t1: a, b in A; c in B. t2: a stays A, b moves to B, c left, d arrives in B (no move counted).
    t3: a moves to B, b left, d moves to A. Pooled: from A 3 moves (A, B, B); from B 3 moves (left, left, A)."""
    rows = pd.DataFrame({
        "customer_id": ["a", "b", "c", "a", "b", "d", "a", "d"],
        "cutoff": pd.to_datetime(["2024-03-31"] * 3 + ["2024-06-30"] * 3 + ["2024-09-30"] * 2),
        "grade": pd.Categorical(list("AAB") + list("ABB") + list("BA"), categories=list("ABC"), ordered=True),
    })
    matrix = migration_matrix(rows, state="grade").set_index("grade_from")
    assert list(matrix.columns) == ["customers", "A", "B", "C", "left"]
    assert matrix.loc["A"].tolist() == pytest.approx([3, 1 / 3, 2 / 3, 0, 0])
    assert matrix.loc["B"].tolist() == pytest.approx([3, 1 / 3, 0, 0, 2 / 3])
    assert "C" not in matrix.index  # nobody started in C


def test_errors_name_the_problem():
    rows = pd.DataFrame({"customer_id": ["a"], "cutoff": pd.to_datetime(["2024-03-31"]), "grade": ["A"]})
    with pytest.raises(KeyError, match="lifecycle_stage"):
        migration_matrix(rows, state="lifecycle_stage")
    with pytest.raises(ValueError, match="two cutoffs"):
        migration_matrix(rows, state="grade")
