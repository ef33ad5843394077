"""The bank's past randomised retention campaign: outcomes, point-in-time features and the effect on survival.

In each campaign wave the bank's at-risk rule selected customers, and a random half of them received the
offer (`treated`); the other half is a randomised control. So within the selection, treated and control
differ only by the offer, and any difference in churn is its effect.

- Outcome: churn within H months of the campaign month m, i.e. a churn month in (m, m+H]; a row whose
  window runs past the data's last month is dropped (its outcome is unknown).
- Features: every indicator of `churnlab.contract.indicators` at the campaign month, computed from rows dated <= m
  by the features stage's own SQL (`point_in_time_features`), so an uplift model sees what the bank knew
  when it chose whom to call.
- Survival: months from the campaign month to the churn month (censored at the data's last month), from
  each customer's first wave only (a later wave could treat the same customer again, so later rows are not
  independent draws). The gain in restricted mean survival time (RMST) up to tau months is the tenure kept
  per contacted customer.
"""

import duckdb
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import restricted_mean_survival_time

from churnlab.contract.indicators import point_in_time_features
from churnlab.contract.tables import month_index, month_number
from churnlab.core.checks import check_columns

CAMPAIGN_COLUMNS = ("customer_id", "month", "treated", "cost")
EVENT_COLUMNS = ("customer_id", "churn_month")


def months_between(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Whole months from month-end `earlier` to month-end `later` (NaN where `later` is missing)."""
    return month_number(later) - month_number(earlier)


def campaign_outcomes(campaigns: pd.DataFrame, events: pd.DataFrame, *, horizon_months: int,
                      last_month: pd.Timestamp) -> pd.DataFrame:
    """One row per campaign row whose H-month window ends by `last_month`: the row plus `churned` (0/1).

    `churned` is 1 when the customer's churn month falls in (month, month + H] months.
    """
    check_columns(campaigns, CAMPAIGN_COLUMNS, table="campaigns")
    check_columns(events, EVENT_COLUMNS, table="churn_events")
    rows = campaigns.merge(events[list(EVENT_COLUMNS)], on="customer_id", how="left")
    ahead = months_between(rows["churn_month"], rows["month"])
    window_end = months_between(pd.Series(last_month, index=rows.index), rows["month"])
    rows = rows[window_end >= horizon_months].copy()
    ahead = ahead.loc[rows.index]
    rows["churned"] = ((ahead > 0) & (ahead <= horizon_months)).astype(int)
    rows["treated"] = rows["treated"].astype(bool)
    return rows.drop(columns=["churn_month"]).reset_index(drop=True)


def features_at(con: duckdb.DuckDBPyConnection, keys: pd.DataFrame, *, date_column: str = "month") -> pd.DataFrame:
    """Indicators for each (customer_id, `date_column`) row of `keys`, from data dated <= that month.

    `con` is a `churnlab.contract.tables.connect` connection. Returns customer_id, the date column and the FEATURES,
    one row per distinct key (a key with no monthly row at that month is absent).
    """
    asof = keys[["customer_id", date_column]].drop_duplicates().rename(columns={date_column: "asof_date"})
    con.complete()  # a caller's half-fetched result (e.g. `month_range`'s fetchone) would block `register`
    con.register("asof_keys", asof)
    con.execute("CREATE OR REPLACE TEMP TABLE asof_rows AS SELECT DISTINCT CAST(customer_id AS VARCHAR) AS "
                f"customer_id, {month_index('asof_date')} AS t FROM asof_keys")
    features = point_in_time_features(con, "asof_rows")
    con.complete()  # an empty result is never fetched to its end, which would block `unregister`
    con.unregister("asof_keys")
    dates = {t: pd.Timestamp(year=int(t) // 12, month=int(t) % 12 + 1, day=1) + pd.offsets.MonthEnd(0)
             for t in features["t"].unique()}
    features.insert(1, date_column, features["t"].map(dates).astype("datetime64[ns]"))
    return features.drop(columns=["t"])


def first_waves(campaigns: pd.DataFrame, events: pd.DataFrame, *, last_month: pd.Timestamp) -> pd.DataFrame:
    """Each customer's first campaign row with `duration` (months from the wave to churn) and `event` (0/1).

    A customer still present at `last_month` is censored there (event 0).
    """
    check_columns(campaigns, CAMPAIGN_COLUMNS, table="campaigns")
    check_columns(events, EVENT_COLUMNS, table="churn_events")
    first = campaigns.sort_values(["customer_id", "month"]).drop_duplicates("customer_id")
    first = first.merge(events[list(EVENT_COLUMNS)], on="customer_id", how="left")
    churn_ahead = months_between(first["churn_month"], first["month"])
    censor_ahead = months_between(pd.Series(last_month, index=first.index), first["month"])
    first["event"] = churn_ahead.notna().astype(int)
    first["duration"] = churn_ahead.fillna(censor_ahead).astype(float)
    return first.drop(columns=["churn_month"]).reset_index(drop=True)


def rmst_variance(km: KaplanMeierFitter, tau: float) -> float:
    """Variance of the KM estimate of RMST up to tau (Klein & Moeschberger 2003, sec. 4.5):

        Var = sum over event times t_j <= tau of A_j^2 d_j / (Y_j (Y_j - d_j)),  A_j = integral of S from t_j to tau,

    with d_j events and Y_j customers at risk at t_j (a time where everyone left contributes nothing).
    lifelines' own `return_variance` is the variance of min(T, tau) across customers, not of the estimate.
    """
    table = km.event_table
    total = restricted_mean_survival_time(km, t=tau)
    variance = 0.0
    for t, row in table[(table.index <= tau) & (table["observed"] > 0)].iterrows():
        d, at_risk = float(row["observed"]), float(row["at_risk"])
        if at_risk > d:
            area = total - restricted_mean_survival_time(km, t=float(t))
            variance += area**2 * d / (at_risk * (at_risk - d))
    return float(variance)


def survival_effect(lifetimes: pd.DataFrame, *, tau_months: int, grid_months: int | None = None
                    ) -> tuple[dict, pd.DataFrame]:
    """Kaplan-Meier of treated against control since the wave, a log-rank test and the RMST gain up to tau.

    `lifetimes` has columns treated, duration (months) and event. Returns the summary (RMST per arm, the
    gain treated - control in months per contacted customer with its standard error, the log-rank
    statistic and p-value) and the two KM curves on months 0..grid_months.
    """
    check_columns(lifetimes, ("treated", "duration", "event"), table="campaign lifetimes")
    arms = {"treated": lifetimes[lifetimes["treated"].astype(bool)],
            "control": lifetimes[~lifetimes["treated"].astype(bool)]}
    if any(len(arm) == 0 for arm in arms.values()):
        raise ValueError("the campaign needs both treated and control customers to estimate its effect")
    grid = np.arange(0, (grid_months or tau_months) + 1)
    summary, curves = {}, {"months": grid}
    for name, arm in arms.items():
        km = KaplanMeierFitter().fit(arm["duration"], arm["event"], label=name)
        summary[name] = {"customers": len(arm), "events": int(arm["event"].sum()),
                         "rmst": float(restricted_mean_survival_time(km, t=tau_months)),
                         "rmst_se": float(np.sqrt(rmst_variance(km, tau_months)))}
        curves[name] = km.survival_function_at_times(grid).to_numpy()
    test = logrank_test(arms["treated"]["duration"], arms["control"]["duration"],
                        arms["treated"]["event"], arms["control"]["event"])
    gain = summary["treated"]["rmst"] - summary["control"]["rmst"]
    se = float(np.hypot(summary["treated"]["rmst_se"], summary["control"]["rmst_se"]))
    summary.update({"tau_months": tau_months, "rmst_gain_months": gain, "rmst_gain_se": se,
                    "rmst_gain_ci95": [gain - 1.96 * se, gain + 1.96 * se],
                    "logrank_statistic": float(test.test_statistic), "logrank_p": float(test.p_value)})
    return summary, pd.DataFrame(curves)
