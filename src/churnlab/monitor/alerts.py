"""Monthly alert states, the retrain recommendation, and the alarm rates measured on the simulator.

A month is in `alert` when any of these crosses its line, and each crossing is a reason:

- score drift: the PSI of the churn score above its no-drift (1 - alpha) quantile (`churnlab.monitor.drift`) and
  above the materiality floor `min_psi`;
- market drift: a market indicator outside its (1 - alpha) prediction interval from the reference months;
- estimated decay: the label-free expected AUC more than `max_auc_drop` below its value on the reference
  period (`churnlab.monitor.estimate`); realised decay likewise once the month's labels are in, and only below the
  band the AUC would reach by chance if calibration held (small samples give noisy realised AUCs);
- feature drift: at least `min_drifting_features` customer or banking features whose CSI is above both
  their no-drift quantile (at alpha / number of features, Bonferroni, so the month's family of tests
  fires falsely at most alpha of the time) and the materiality floor `min_csi`.

An alert recommends retraining: the fix is `dvc repro` on the new data, then `register` promotes the new
model only if it beats the champion on the latest labelled cutoff (README: "Monitoring and retraining").

On simulated data the truth is known: months from `simulate.shock_month` on are drift months (the
competitor promotion moves the market indicators, and whatever the score takes from them); the months
before it, after training, are quiet. The false-alarm rate is the share of quiet months in alert, the
detection rate the share of drift months in alert, also per signal.
"""

import numpy as np
import pandas as pd

SIGNALS = ("score_drift", "market_drift", "feature_drift", "estimated_decay", "realised_decay")
# Diagnostic only (not a reason to alert): the score PSI above its no-drift quantile, without the materiality floor.
DIAGNOSTICS = ("score_drift_statistical",)


def alert_states(months: pd.DataFrame, *, reference_auc: float, max_auc_drop: float,
                 min_drifting_features: int) -> pd.DataFrame:
    """Add the signals, `alert`, `retrain` and `reasons` to the per-month table.

    `months` needs score_psi, score_threshold, market_drifting (list), drifting_features (list),
    expected_auc and auc (NaN until labels arrive).
    """
    months = months.copy()
    months["score_drift"] = months["score_psi"] > months["score_threshold"]
    if "score_null_quantile" in months:
        months["score_drift_statistical"] = months["score_psi"] > months["score_null_quantile"]
    months["market_drift"] = months["market_drifting"].map(len) > 0
    months["feature_drift"] = months["drifting_features"].map(len) >= min_drifting_features
    line = reference_auc - max_auc_drop
    months["estimated_decay"] = months["expected_auc"] < line
    # realised: below the line and below the band the AUC would have by chance if calibration held (small samples)
    low = months.get("expected_auc_low", -np.inf)
    months["realised_decay"] = months["auc"].notna() & (months["auc"] < line) & (months["auc"] < low)

    def reasons(row) -> list[str]:
        out = []
        if row.score_drift:
            out.append(f"score PSI {row.score_psi:.4f} > its line {row.score_threshold:.4f}")
        if row.market_drift:
            out.append(f"market indicators outside their reference interval: {', '.join(row.market_drifting)}")
        if row.feature_drift:
            out.append(f"{len(row.drifting_features)} features drifting: {', '.join(row.drifting_features[:5])}"
                       + (" ..." if len(row.drifting_features) > 5 else ""))
        if row.estimated_decay:
            out.append(f"estimated AUC {row.expected_auc:.3f} < {line:.3f} (reference {reference_auc:.3f} "
                       f"- {max_auc_drop})")
        if row.realised_decay:
            out.append(f"realised AUC {row.auc:.3f} < {line:.3f}")
        return out

    months["reasons"] = [reasons(row) for row in months.itertuples(index=False)]
    months["alert"] = months["reasons"].map(len) > 0
    months["retrain"] = months["alert"]
    return months


def alarm_rates(months: pd.DataFrame, *, shock_start: pd.Timestamp, shock_end: pd.Timestamp,
                horizon_months: int) -> dict:
    """False-alarm and detection rates of the alert and of each signal (simulated data only).

    Quiet months: before `shock_start`. Drift months: from `shock_start` on; `shock_end` (the last month
    of the promotion itself) also gives the detection rate inside the promotion only. A quiet month t whose
    label window (t, t+H] reaches into the promotion sees it through its labels: realised decay there is
    the promotion's effect, not a false alarm, so such a month counts as a false alarm only if another
    signal fired (and is left out of realised decay's false-alarm rate).
    """
    month = pd.to_datetime(months["month"])
    months = months.copy()
    sees_shock = (month < shock_start) & (month + pd.offsets.MonthEnd(horizon_months) >= shock_start)
    others = [s for s in SIGNALS if s != "realised_decay" and s in months]
    months["alert"] = months["alert"].where(~sees_shock, months[others].any(axis=1))
    months["realised_decay"] = months["realised_decay"].astype(float).where(~sees_shock)
    quiet, drift = months[month < shock_start], months[month >= shock_start]
    promotion = months[(month >= shock_start) & (month <= shock_end)]

    def share(frame: pd.DataFrame, column: str) -> float | None:
        values = frame[column].dropna().astype(float)
        return float(values.mean()) if len(values) else None

    return {
        "quiet_months": len(quiet), "quiet_months_with_shock_in_label_window": int(sees_shock.sum()),
        "drift_months": len(drift), "promotion_months": len(promotion),
        "false_alarm_rate": share(quiet, "alert"), "detection_rate": share(drift, "alert"),
        "detection_rate_promotion": share(promotion, "alert"),
        "by_signal": {s: {"false_alarm_rate": share(quiet, s), "detection_rate": share(drift, s),
                          "detection_rate_promotion": share(promotion, s)}
                      for s in (*SIGNALS, *DIAGNOSTICS) if s in months},
    }


def binomial_band(n: int, alpha: float, *, z: float = 3.0) -> tuple[float, float]:
    """alpha +- z binomial standard errors for the share of n independent no-drift tests that fire."""
    half = z * np.sqrt(alpha * (1 - alpha) / n)
    return max(0.0, alpha - half), min(1.0, alpha + half)
