"""churnlab.survival.proxies: a covariate that is almost a function of the duration is found; honest ones are not."""

import numpy as np
import pandas as pd

from churnlab.survival.proxies import duration_proxies, without


def lifetimes(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Monthly charges independent of tenure, and total charges = monthly charges x tenure (Telco's leak)."""
    rng = np.random.default_rng(seed)
    duration = rng.integers(1, 72, n)
    monthly = rng.uniform(20, 110, n)
    return pd.DataFrame({"duration": duration, "entry_monthly_charges": monthly,
                         "entry_total_charges": monthly * duration, "entry_constant": 1.0})


def test_total_charges_is_a_proxy_of_the_duration_and_monthly_charges_is_not():
    frame = lifetimes()
    found = duration_proxies(frame, ["monthly_charges", "total_charges", "constant", "absent"], max_duration_corr=0.8)
    assert list(found) == ["total_charges"]
    rho = frame["entry_total_charges"].rank().corr(frame["duration"].rank())  # Spearman = Pearson of ranks
    assert found["total_charges"] == round(rho, 3) and found["total_charges"] > 0.8


def test_a_strongly_negative_proxy_counts_too_and_the_line_is_strict():
    frame = lifetimes().assign(entry_left=lambda f: -f["duration"])
    assert duration_proxies(frame, ["left"], max_duration_corr=0.8) == {"left": -1.0}
    assert duration_proxies(frame, ["left"], max_duration_corr=1.0) == {}


def test_without_leaves_the_proxies_out_of_every_kind():
    kinds = {"numeric": ["monthly_charges", "total_charges"], "log2": ["total_charges"], "flags": ["paperless"]}
    expected = {"numeric": ["monthly_charges"], "log2": [], "flags": ["paperless"]}
    assert without(kinds, {"total_charges": 0.9}) == expected
