"""The simulated market environment: policy rate, competitor spread, unemployment and promotion intensity.

One row per month-end, from the start of the simulator's burn-in to as far past the window as its oracle
looks. Drawn from its own random stream (seed, MARKET_STREAM), so it does not depend on the customers.
"""

import numpy as np
import pandas as pd

MARKET_STREAM = 7_436_911  # arbitrary constant separating the market stream from the customer blocks


def simulate_market(*, seed: int, n_months: int, start_month: str | pd.Timestamp, shock_month: int, shock_months: int,
                    shock_spread_pp: float, recession_month: int) -> pd.DataFrame:
    """Monthly market environment for `n_months` month-ends (the simulator also needs months past the window).

    The competitor-promotion shock lifts the promotion index to 1 and widens the competitor spread by
    `shock_spread_pp` from `shock_month` for `shock_months`, then fades with a 2-month half-life. The
    recession adds 2 points of unemployment from `recession_month`, phased in over 6 months.
    """
    rng = np.random.default_rng([seed, MARKET_STREAM])
    t = np.arange(n_months)
    policy = np.clip(1.0 + np.cumsum(rng.normal(0.03, 0.12, n_months)), 0.0, 8.0)
    in_shock = (t >= shock_month) & (t < shock_month + shock_months)
    fade = np.where(t >= shock_month + shock_months, 0.5 ** ((t - shock_month - shock_months + 1) / 2.0), 0.0)
    shock = np.where(in_shock, 1.0, fade)
    spread = 0.3 + 0.15 * np.sin(t / 7.0) + rng.normal(0, 0.05, n_months) + shock_spread_pp * shock
    recession = 2.0 * np.clip((t - recession_month + 1) / 6.0, 0.0, 1.0)
    unemployment = 6.0 + 0.3 * np.sin(t / 11.0) + recession + rng.normal(0, 0.08, n_months)
    promo = np.clip(0.08 + 0.04 * rng.random(n_months) + 0.9 * shock, 0.0, 1.0)
    return pd.DataFrame({
        "month": pd.date_range(start_month, periods=n_months, freq="ME"),
        "policy_rate": policy.round(3),
        "competitor_spread": spread.round(3),
        "unemployment": unemployment.round(2),
        "promo_index": promo.round(3),
    })


MARKET_PARAMS = ("n_months", "start_month", "burn_in_months", "oracle_survival_months", "shock_month", "shock_months",
                 "shock_spread_pp", "recession_month")


def market_for(*, seed: int, n_months: int, start_month: str, burn_in_months: int, horizon: int,
               oracle_survival_months: int, shock_month: int, shock_months: int, shock_spread_pp: float,
               recession_month: int) -> pd.DataFrame:
    """The market the simulation needs: from the start of the burn-in to as far past the window as the oracle looks.

    `shock_month` and `recession_month` count from the first month of the window (0), as in params.yaml.
    """
    ahead = max(horizon, oracle_survival_months)
    return simulate_market(seed=seed, n_months=burn_in_months + n_months + ahead + 1,
                           start_month=pd.Timestamp(start_month) - pd.offsets.MonthEnd(burn_in_months),
                           shock_month=burn_in_months + shock_month, shock_months=shock_months,
                           shock_spread_pp=shock_spread_pp, recession_month=burn_in_months + recession_month)
