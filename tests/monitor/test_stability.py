"""One month against a synthetic training reference: quiet months pass, a shocked month is flagged."""

import numpy as np
import pandas as pd

from churnlab.monitor.stability import SCORE, compare_month, fit_reference, sample_month

GROUPS = {"balance": "banking", "segment": "customer", "promo_index": "market"}


def frame(rng, n, *, shift=0.0, promo=0.1):
    return pd.DataFrame({
        "balance": rng.lognormal(8 + shift, 1.0, n),
        "segment": pd.Categorical(rng.choice(["mass", "affluent"], n, p=[0.8, 0.2])),
        "promo_index": np.full(n, promo),
        SCORE: rng.beta(1, 10, n) * (1 + shift),
    })


def test_quiet_month_passes_and_shocked_month_is_flagged():
    rng = np.random.default_rng(0)
    reference = frame(rng, 4000)
    history = pd.DataFrame({"promo_index": 0.08 + 0.04 * rng.random(12)})
    ref = fit_reference(reference, groups=GROUPS, market_history=history, numeric=["balance"], bins=10)
    draws = 2000
    score, table = compare_month(ref, sample_month(ref, frame(rng, 800)), alpha=0.01, draws=draws, min_psi=0.0,
                                 min_csi=0.0, rng=rng)
    assert score["score_psi"] < score["score_threshold"]
    assert not table["drifting"].any()
    shocked = sample_month(ref, frame(rng, 800, shift=0.5, promo=1.0))
    score, table = compare_month(ref, shocked, alpha=0.01, draws=draws, min_psi=0.0, min_csi=0.0, rng=rng)
    assert score["score_psi"] > score["score_threshold"]
    drifting = set(table.loc[table["drifting"], "feature"])
    assert drifting == {"balance", "promo_index"}
    assert table.set_index("feature").loc["balance", "ks_pvalue"] < 1e-6


def test_materiality_floor_raises_the_line():
    rng = np.random.default_rng(1)
    reference = frame(rng, 2000)
    ref = fit_reference(reference, groups=GROUPS, market_history=pd.DataFrame({"promo_index": [0.1] * 5}),
                        numeric=["balance"], bins=10)
    score, table = compare_month(ref, sample_month(ref, frame(rng, 500)), alpha=0.05, draws=500, min_psi=0.3,
                                 min_csi=0.5, rng=rng)
    assert (table.loc[table["group"] != "market", "threshold"] == 0.5).all()
    assert (table.loc[table["group"] != "market", "null_quantile"] < 0.5).all()
    assert score["score_threshold"] == 0.3 and score["score_null_quantile"] < 0.3
