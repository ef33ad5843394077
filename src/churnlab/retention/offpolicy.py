"""Off-policy evaluation: what a retention policy would have earned, estimated from a randomised campaign's logs.

The logs hold one row per campaign customer: `customer_id`, `arm` (the offer the customer actually got; "control"
means no contact), `propensity` (the known probability, under the campaign's randomisation, that this customer got
the arm they got; in (0, 1]) and `reward` (the customer's realised net value in currency units, as the caller
defines it, e.g. the value kept minus the offer's cost). A policy is a Series on the logs' index naming the arm it
would choose for each customer. Its value is the mean net value per customer had the policy chosen every arm.

Only the customers whose logged arm happens to be the policy's choice tell us what the policy would have earned;
weighting them by 1 / propensity makes them stand in for everyone (Horvitz & Thompson 1952). With w_i =
1[arm_i = policy_i] / propensity_i, r_i the reward and q_i(a) a model's expected reward of customer i under arm a:

- IPW (Horvitz-Thompson):    V = sum_i w_i r_i / n. Unbiased when the propensities are right; noisy.
- SNIPW (self-normalised):   V = sum_i w_i r_i / sum_i w_i. Slightly biased, often much less noisy; NaN when no
  customer's logged arm matches the policy.
- DR (doubly robust, Dudik, Langford & Li 2011): V = sum_i [q_i(policy_i) + w_i (r_i - q_i(arm_i))] / n. The
  model's prediction, corrected by the weighted error it makes on the matching customers: unbiased if either
  the propensities or the model are right, and less noisy than IPW when the model is good.

All three are ratios sum(numerator terms) / sum(denominator terms) over rows, so one bootstrap serves them all:
`evaluate_policies` sums the terms per `customer_id`, redraws the customers with replacement (the same redraws for
every policy and estimator, so their intervals are comparable) and reports the percentile interval of each ratio.
A customer logged in several campaign waves is redrawn with all their rows: their rows are not independent.
"""

from collections.abc import Iterator

import numpy as np
import pandas as pd

from churnlab.core.checks import check_columns

CONTROL = "control"
LOG_COLUMNS = ("customer_id", "arm", "propensity", "reward")
ESTIMATORS = ("ipw", "snipw", "dr")
_CHUNK = 50  # bootstrap draws per matrix product: 50 x n counts stay small at n = 30,000


def check_logs(logs: pd.DataFrame) -> None:
    """Raise ValueError for missing columns, missing values, or a propensity outside (0, 1]."""
    check_columns(logs, LOG_COLUMNS, table="campaign logs", needed_by="off-policy evaluation")
    for column in LOG_COLUMNS:
        if logs[column].isna().any():
            raise ValueError(f"campaign logs: column {column!r} has {int(logs[column].isna().sum())} missing values")
    propensity = logs["propensity"].to_numpy(float)
    outside = (propensity <= 0) | (propensity > 1)
    if outside.any():
        raise ValueError(f"campaign logs: column 'propensity' must lie in (0, 1]; {int(outside.sum())} rows do not "
                         f"(e.g. {propensity[outside][0]!r}): a customer who could not get their arm cannot be "
                         "weighted")


def _check_aligned(logs: pd.DataFrame, frame: pd.DataFrame | pd.Series, name: str) -> None:
    if not frame.index.equals(logs.index):
        raise ValueError(f"{name} is not aligned with the campaign logs: its index must equal the logs' index "
                         f"(same labels, same order; {len(frame)} rows against {len(logs)})")


def _modelled(logs: pd.DataFrame, policy: pd.Series, predicted: pd.DataFrame, name: str) -> np.ndarray:
    """q_i(policy_i): the modelled expected reward of each customer under the policy's arm."""
    _check_aligned(logs, predicted, "predicted")
    unknown = sorted(set(policy.unique()) - set(predicted.columns))
    if unknown:
        raise ValueError(f"policy {name!r} names arm(s) {unknown} that `predicted` has no column for "
                         f"(it has {sorted(map(str, predicted.columns))})")
    if predicted.isna().any().any():
        raise ValueError("predicted: expected rewards must not be missing")
    columns = predicted.columns.get_indexer(policy.to_numpy())
    return predicted.to_numpy(float)[np.arange(len(policy)), columns]


def _terms(logs: pd.DataFrame, policy: pd.Series, predicted: pd.DataFrame | None,
           name: str = "policy") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per row, each estimator's (numerator, denominator) terms: the estimate is sum(num) / sum(den)."""
    _check_aligned(logs, policy, f"policy {name!r}")
    if policy.isna().any():
        raise ValueError(f"policy {name!r} chooses no arm for {int(policy.isna().sum())} customers")
    weight = (logs["arm"].to_numpy() == policy.to_numpy()) / logs["propensity"].to_numpy(float)
    reward, ones = logs["reward"].to_numpy(float), np.ones(len(logs))
    terms = {"ipw": (weight * reward, ones), "snipw": (weight * reward, weight)}
    if predicted is not None:
        chosen = _modelled(logs, policy, predicted, name)
        terms["dr"] = (chosen + weight * (reward - chosen), ones)  # matched rows: q(arm) = q(policy)
    return terms


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> float:
    total = denominator.sum()
    return float(numerator.sum() / total) if total > 0 else float("nan")


def ipw_value(logs: pd.DataFrame, policy: pd.Series) -> float:
    """Inverse propensity weighted (Horvitz-Thompson) value: mean net value per customer, in currency units."""
    check_logs(logs)
    return _ratio(*_terms(logs, policy, None)["ipw"])


def snipw_value(logs: pd.DataFrame, policy: pd.Series) -> float:
    """Self-normalised IPW value per customer (currency units); NaN if no logged arm matches the policy."""
    check_logs(logs)
    return _ratio(*_terms(logs, policy, None)["snipw"])


def dr_value(logs: pd.DataFrame, policy: pd.Series, predicted: pd.DataFrame) -> float:
    """Doubly robust value per customer (currency units).

    `predicted` has the logs' index and one column per arm: the modelled expected reward of each customer under
    that arm (same units as `reward`).
    """
    check_logs(logs)
    return _ratio(*_terms(logs, policy, predicted)["dr"])


def bootstrap_counts(n: int, draws: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield blocks of bootstrap counts (draws x n): how often each customer appears in each redraw of n."""
    for start in range(0, draws, _CHUNK):
        block = min(_CHUNK, draws - start)
        rows = rng.integers(0, n, size=(block, n)) + n * np.arange(block)[:, None]
        yield np.bincount(rows.ravel(), minlength=block * n).reshape(block, n).astype(float)


def evaluate_policies(logs: pd.DataFrame, policies: dict[str, pd.Series], predicted: pd.DataFrame | None, *,
                      draws: int, seed: int, level: float = 0.95, baseline: pd.Series | None = None) -> pd.DataFrame:
    """Value every policy from the logs by IPW, SNIPW and DR, with percentile bootstrap intervals.

    One row per (policy, estimator): `value` (estimated mean net value per campaign customer, i.e. per row of the
    logs, currency units), `se` (the bootstrap standard deviation of `value`), `low`/`high` (the central `level`
    percentile bootstrap interval of `value`: `draws` redraws of the customers with replacement, one generator
    seeded by `seed`, the same redraws for every policy), `total` (value x rows: the campaign's net value had the
    policy chosen every arm; its interval is low and high times the same number), `contacted_share` (share of rows
    the policy contacts, i.e. gives an arm other than "control") and `matched` (rows whose logged arm is the
    policy's choice: the evidence behind IPW and SNIPW). With `predicted` None the DR rows are left out.

    With a `baseline` policy (e.g. contacting no one), each row also gets `gain`: its value minus the baseline's
    by the same estimator (currency units per customer), with `gain_se`, `gain_low` and `gain_high` from the same
    redraws. The difference is paired: both policies are valued on the same redrawn customers, so the noise they
    share cancels. The more customers get the same arm from both (a policy that contacts few, against no contact),
    the narrower its interval is than the two values' intervals side by side: a customer's reward varies far more
    than any offer's effect.
    """
    check_logs(logs)
    if not policies:
        raise ValueError("evaluate_policies needs at least one policy")
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    numerators, denominators, rows = [], [], []
    base = {} if baseline is None else _terms(logs, baseline, predicted, "baseline")
    for numerator, denominator in base.values():
        numerators.append(numerator)
        denominators.append(denominator)
    for name, policy in policies.items():
        terms = _terms(logs, policy, predicted, name)
        matched = int((terms["snipw"][1] > 0).sum())
        for estimator, (numerator, denominator) in terms.items():
            numerators.append(numerator)
            denominators.append(denominator)
            rows.append({"policy": name, "estimator": estimator, "value": _ratio(numerator, denominator),
                         "contacted_share": float((policy != CONTROL).mean()), "matched": matched})
    customer = pd.factorize(logs["customer_id"])[0]
    numerators, denominators = (pd.DataFrame(np.column_stack(t)).groupby(customer, sort=False).sum().to_numpy()
                                for t in (numerators, denominators))
    rng = np.random.default_rng(seed)
    values = []
    with np.errstate(invalid="ignore", divide="ignore"):  # a redraw without a matching customer: SNIPW is NaN
        for counts in bootstrap_counts(len(numerators), draws, rng):
            values.append((counts @ numerators) / (counts @ denominators))
    values = np.vstack(values)
    table = pd.DataFrame(rows)
    columns = ["policy", "estimator", "value", "se", "low", "high", "total", "contacted_share", "matched"]
    if base:
        position = {estimator: i for i, estimator in enumerate(base)}
        at = [position[estimator] for estimator in table["estimator"]]
        values = np.hstack([values[:, len(base):], values[:, len(base):] - values[:, at]])
        table["gain"] = table["value"] - table["estimator"].map(
            {estimator: _ratio(*terms) for estimator, terms in base.items()})
        columns += ["gain", "gain_se", "gain_low", "gain_high"]
    summary = _summarise(values, draws=draws, level=level)
    table["se"], table["low"], table["high"] = (part[:len(table)] for part in summary)
    if base:
        table["gain_se"], table["gain_low"], table["gain_high"] = (part[len(table):] for part in summary)
    table["total"] = table["value"] * len(logs)
    return table[columns]


def _summarise(values: np.ndarray, *, draws: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bootstrap standard deviation and percentile bounds of each column of `values` (draws x columns)."""
    se = np.nanstd(values, axis=0, ddof=1) if draws > 1 else np.full(values.shape[1], np.nan)
    low, high = np.nanpercentile(values, [(1 - level) / 2 * 100, (1 + level) / 2 * 100], axis=0)
    return se, low, high
