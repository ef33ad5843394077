"""reports/metrics/simulate.json: what the simulated bank looks like, and how good its oracle is."""

import numpy as np
import pandas as pd

from churnlab.contract.schema import CHURN_TYPES


def summarise(tallies: list[dict], *, n_months: int, horizon: int) -> dict:
    """simulate.json: row counts, annual churn rate, churn share by type, treated share, oracle quality.

    Annual churn rate: for each complete 12-month period of the window, churn events in it divided by the
    customers with a row in its first month, averaged. The oracle AUC pools every customer-month whose H-month
    future lies inside the window; its Monte Carlo standard error is the RMS difference between the AUC from
    all paths and from half of them (the half-path AUC has twice the Monte Carlo variance).
    """
    from sklearn.metrics import roc_auc_score

    total = {key: sum(t[key] for t in tallies) for key in ("active", "events", "by_type")}
    total["rows"] = {name: sum(t["rows"][name] for t in tallies) for name in tallies[0]["rows"]}
    years = [(y * 12, y * 12 + 12) for y in range(n_months // 12)]
    annual = [total["events"][a:b].sum() / total["active"][a] for a, b in years if total["active"][a] > 0]
    p, split, label, month = (np.concatenate([t["oracle"][k] for t in tallies]) for k in range(4))
    per_month = [(roc_auc_score(label[month == m], p[month == m]), roc_auc_score(label[month == m], split[month == m]))
                 for m in np.unique(month) if 0 < label[month == m].sum() < (month == m).sum()]
    diffs = np.array([a - b for a, b in per_month])
    n_events = int(total["by_type"].sum())
    treated = sum(t["treated"] for t in tallies)
    return {
        "rows": {k: int(v) for k, v in total["rows"].items()},
        "annual_churn_rate": round(float(np.mean(annual)), 4),
        "churn_share_by_type": {k: round(float(v / max(n_events, 1)), 4)
                                for k, v in zip(CHURN_TYPES, total["by_type"], strict=True)},
        "treated_share_of_customers": round(treated / max(total["rows"]["customers"], 1), 4),
        "treated_share_of_campaign": round(treated / max(total["rows"]["campaigns"], 1), 4),
        "oracle": {"horizon_months": horizon, "label_rate": round(float(label.mean()), 4),
                   "mean_probability": round(float(p.mean()), 4), "auc": round(float(roc_auc_score(label, p)), 4),
                   "auc_mc_standard_error": round(float(np.sqrt(np.mean(diffs ** 2))), 5) if len(diffs) else None},
    }


def tally(tables: dict[str, pd.DataFrame], months: pd.DatetimeIndex, horizon: int) -> dict:
    """Small per-block counts from which `summarise` builds simulate.json."""
    n_months = len(months)
    events = tables["churn_events"]
    churn_idx = months.get_indexer(events["churn_month"])
    truth = tables["monthly_truth"]
    month_idx = months.get_indexer(truth["month"])
    churned = pd.Series(churn_idx, index=events["customer_id"]).reindex(truth["customer_id"]).to_numpy()
    keep = truth["p_churn_h"].notna().to_numpy() & (month_idx + horizon < n_months)
    label = (churned > month_idx) & (churned <= month_idx + horizon)
    return {
        "rows": {name: len(frame) for name, frame in tables.items() if name in ("customers", "monthly", "churn_events",
                                                                                 "campaigns")},
        "active": np.bincount(months.get_indexer(tables["monthly"]["month"]), minlength=n_months),
        "events": np.bincount(churn_idx, minlength=n_months),
        "by_type": events["churn_type"].value_counts().reindex(list(CHURN_TYPES), fill_value=0).to_numpy(),
        "treated": int(tables["campaigns"]["treated"].sum()),
        "oracle": (truth["p_churn_h"].to_numpy()[keep].astype(np.float32),
                   truth["p_churn_h_split"].to_numpy()[keep].astype(np.float32), label[keep], month_idx[keep]),
    }
