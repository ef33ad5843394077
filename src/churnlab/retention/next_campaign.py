"""The next campaign: what the last one proved, how many customers each arm needs, and who gets which arm.

- Realised uplift of the last campaign wave, per offer against its control (`design.realised_uplift`): the drop
  in the H-month churn rate, with a Newcombe interval and a p-value.
- Power (`design.power_table`): customers per arm to detect each candidate uplift (a drop of the churn rate
  from the campaigns' control rate, in shares) with power 0.8 at two-sided alpha 0.05.
- Allocation (`design.allocate`): the latest cutoff's riskiest customers, as many as the last wave selected
  (the bank's at-risk rule keeps its size); a persistent control group (`control_share`, by hashed id, so the
  same customers stay uncontacted campaign after campaign), a randomised share (`explore_share`, uniform over
  every arm, control included) that keeps every offer's effect measurable, and the rest the learned policy's
  offer (no contact where no offer pays). Every row keeps its exact propensity, so the next campaign can be
  valued off-policy like this one.
"""

import numpy as np
import pandas as pd

from churnlab.core.privacy import pseudonymise
from churnlab.retention.design import allocate, power_table, realised_uplift
from churnlab.retention.offer_policy import CONTROL


def recommended_arms(net: pd.DataFrame) -> pd.Series:
    """Each customer's best offer where its net value (EUR) is positive, else the control."""
    best = net.idxmax(axis=1)
    return best.where(net.max(axis=1) > 0, CONTROL)


def design_next(rows: pd.DataFrame, latest: pd.DataFrame, net: pd.DataFrame, *, uplifts: list[float],
                explore_share: float, control_share: float, seed: int, key: bytes) -> tuple[dict, dict]:
    """Metrics and tables of the next campaign's design (module docstring).

    `rows` are the campaign rows (month, arm, churned); `latest` the latest cutoff's customers (customer_id, risk)
    and `net` their learned net value per offer (EUR, same index). Tables: realised_uplift, power,
    next_campaign (pseudonymous ids only), next_campaign_arms (customers per arm and source).
    """
    offers = list(net.columns)
    last = rows[rows["month"] == rows["month"].max()]
    realised = realised_uplift(last[["arm", "churned"]])
    control_rate = float(rows.loc[rows["arm"] == CONTROL, "churned"].mean())
    power = power_table(control_rate, uplifts, arms=offers)
    size = min(len(last), len(latest))
    top = np.argsort(-latest["risk"].to_numpy(float), kind="stable")[:size]
    recommended = recommended_arms(net.iloc[top]).set_axis(latest["customer_id"].iloc[top].to_numpy())
    plan = allocate(recommended, offers, explore_share=explore_share, control_share=control_share, seed=seed)
    arms = plan.groupby(["arm", "source"]).size().unstack(fill_value=0)
    arms["customers"] = arms.sum(axis=1)
    needed = power.groupby("uplift")["customers"].max()
    metrics = {
        "last_wave": str(pd.Timestamp(last["month"].iloc[0]).date()), "control_rate": control_rate,
        "realised_uplift": realised.set_index("arm")[["uplift", "low", "high", "p_value"]].to_dict("index"),
        "customers_per_arm_needed": {f"{u:g}": int(n) for u, n in needed.items()},
        "next_campaign": {"customers": size, "explore_share": explore_share, "control_share": control_share,
                          "per_arm": arms["customers"].to_dict(),
                          "policy_share": float((plan["source"] == "policy").mean())},
    }
    public = plan.reset_index(names="customer_id")
    public.insert(0, "customer", pseudonymise(public.pop("customer_id"), key=key))
    return metrics, {"realised_uplift": realised, "power": power, "next_campaign": public,
                     "next_campaign_arms": arms.reset_index()}
