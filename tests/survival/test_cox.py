"""The fast delayed-entry Cox model against lifelines' CoxPHFitter (same likelihood, Efron ties)."""

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from churnlab.survival.cox import DelayedEntryCox


def tied_months(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Integer tenures (heavy ties), half the customers entering late, two covariates and two strata."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.random(n) < 0.4
    entry = np.where(rng.random(n) < 0.5, rng.integers(1, 20, n), 0)
    t = entry + 1 + np.floor(rng.exponential(12 * np.exp(-0.6 * x1 + 0.5 * x2))).astype(int)
    censor = entry + rng.integers(1, 30, n)
    return pd.DataFrame({"x1": x1, "x2": x2.astype(float), "group": rng.choice(["a", "b"], n),
                         "entry": entry, "stop": np.minimum(t, censor), "event": (t <= censor).astype(int)})


@pytest.mark.parametrize("penalizer", [0.0, 0.05])
def test_coefficients_and_standard_errors_equal_lifelines(penalizer):
    data = tied_months()
    ours = DelayedEntryCox(penalizer=penalizer).fit(data[["x1", "x2"]], data["stop"], data["event"], data["entry"])
    theirs = CoxPHFitter(penalizer=penalizer).fit(data.drop(columns="group"), "stop", "event", entry_col="entry")
    assert ours.params_.to_numpy() == pytest.approx(theirs.params_.to_numpy(), abs=1e-5)
    assert ours.summary["se(coef)"].to_numpy() == pytest.approx(theirs.standard_errors_.to_numpy(), rel=1e-5)
    if penalizer == 0:
        assert ours.log_likelihood_ == pytest.approx(theirs.log_likelihood_, rel=1e-9)


def test_strata_equal_lifelines():
    data = tied_months(seed=1)
    ours = DelayedEntryCox().fit(data[["x1", "x2"]], data["stop"], data["event"], data["entry"], strata=data["group"])
    theirs = CoxPHFitter(strata=["group"]).fit(data, "stop", "event", entry_col="entry")
    assert ours.params_.to_numpy() == pytest.approx(theirs.params_.to_numpy(), abs=1e-5)


def test_breslow_baseline_with_delayed_entry_by_hand():
    """No covariate effect (b forced to ~0 by a huge penalty): H0 is Nelson-Aalen with delayed entry.

    Durations 2, 3, 3, 5 (events 1, 1, 0, 1) with entries 0, 0, 2, 0. At t=2: customers 1, 2, 4 at risk
    (3 enters at 2): 1/3. At t=3: 2, 3, 4 at risk: + 1/3. At t=5: 4 alone: + 1. H0 = 1/3, 2/3, 2/3, 5/3.
    """
    x = pd.DataFrame({"x": [0.0, 1.0, 0.0, 1.0]})
    cox = DelayedEntryCox(penalizer=1e8).fit(x, [2, 3, 3, 5], [1, 1, 0, 1], [0, 0, 2, 0])
    expected = [0, 1 / 3, 2 / 3, 2 / 3, 5 / 3, 5 / 3]
    assert cox.cumulative_hazard(x.head(1), [1, 2, 3, 4, 5, 9])[0] == pytest.approx(expected, abs=1e-6)


def test_durations_must_exceed_entry():
    with pytest.raises(ValueError, match="exceed its entry"):
        DelayedEntryCox().fit(pd.DataFrame({"x": [1.0, 2.0]}), [3, 2], [1, 1], [0, 2])
