"""Covariates that are almost a function of the duration: left out of the survival models, and said so.

A covariate measured when the customer's time is already known encodes the duration itself: a snapshot's total
charges are about monthly charges x tenure, so a model "predicts" tenure from tenure (on a public telecom file such
a column lifted the held-out C-index from 0.868 to 0.970). Such a covariate has a rank (Spearman) correlation with
the observed duration close to 1. Only snapshot sources need the screen: on monthly data the features stage
measures every covariate at entry, before any of the duration is known (there, the entry month's market indices
correlate with the follow-up only because later entrants are followed for less time; they are not proxies).
`survival.max_duration_corr` in params.yaml is the line.
"""

import pandas as pd


def duration_proxies(lifetimes: pd.DataFrame, names: list[str], *, max_duration_corr: float) -> dict[str, float]:
    """{covariate: rank correlation with `duration`} for each of `names` (read as `entry_<name>`) beyond the line.

    The correlation is Spearman's, over the customers given (the training customers in the stage), in absolute
    value above `max_duration_corr`; a constant or absent covariate is never a proxy.
    """
    found = {}
    for name in names:
        values = lifetimes.get(f"entry_{name}")
        if values is None or values.nunique() < 2:
            continue
        rho = values.corr(lifetimes["duration"], method="spearman")
        if pd.notna(rho) and abs(rho) > max_duration_corr:
            found[name] = round(float(rho), 3)
    return found


def without(kinds: dict[str, list[str]], names: dict) -> dict[str, list[str]]:
    """The covariates by kind with `names` left out."""
    return {kind: [c for c in columns if c not in names] for kind, columns in kinds.items()}
