"""The next retention campaign: how many customers each offer needs, who gets what, and what the campaign proved.

Sample size. Each offer is compared with the control group by a two-sided two-proportion z-test of the churn rate
within the horizon. To detect a drop from the control's churn rate p0 to p1 = p0 - uplift with power 1 - beta at
level alpha, statsmodels' `NormalIndPower` solves n per arm for Cohen's effect size h = 2 asin(sqrt(p0)) -
2 asin(sqrt(p1)) (`proportion_effectsize`, the arcsine transform that makes the variance 1 / n whatever the rate;
Cohen 1988, as R's pwr.2p.test): n = 2 (z_(1-alpha/2) + z_(1-beta))^2 / h^2, rounded up. It is close to the
pooled-variance formula of Fleiss (903 against 906 customers for 20 % -> 15 %), a little lower when the drop is
large relative to the rate. `alpha` is per comparison with the control: to hold the family-wise error over k
offers, pass alpha / k (Bonferroni).

Allocation. The next campaign mostly follows the learned policy but keeps learning:
1. the persistent control group: a customer is in it when a hash of their id (keyed by `control_key`) falls below
   `control_share`, so the same customers stay uncontacted from campaign to campaign while the key and the share
   are kept (raising the share only adds customers);
2. of the others, a random `explore_share` get an arm drawn uniformly from all the campaign's arms, control
   included, so every offer keeps being tested against no contact on every kind of customer;
3. the rest get the policy's recommended arm.
Every customer thus has a known probability > 0 of every arm, and any policy can later be valued from the
campaign's logs by inverse propensity weighting (`churnlab.retention.offpolicy`).

Realised uplift. Once outcomes arrive, each offer against the control: uplift = control churn rate - arm churn
rate (positive: the offer kept customers), its Newcombe hybrid score interval (Newcombe 1998, method 10;
statsmodels `confint_proportions_2indep(method="newcomb")`, recommended by Fagerland, Lydersen & Laake 2015) and
the two-sided p-value of the pooled two-proportion z-test (statsmodels `test_proportions_2indep(method="score",
correction=False)`, the test whose arcsine version the sample size is planned for). Near the 5 % line the two can
disagree (an interval just excluding 0 with p just above 0.05); the score interval that inverts this test exactly
is not used because statsmodels' root bracketing fails on ordinary counts (e.g. 20/100 against 10/100).
"""

import math

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, test_proportions_2indep

from churnlab.core.checks import check_columns
from churnlab.retention.offpolicy import CONTROL


def _check_probability(name: str, value: float, *, closed: bool = False) -> None:
    inside = 0 <= value <= 1 if closed else 0 < value < 1
    if not inside:
        raise ValueError(f"{name} must lie in {'[0, 1]' if closed else '(0, 1)'}, got {value}")


def rows_to_confirm(gain: float, sd: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Randomised campaign rows needed for an off-policy estimate of a policy's net gain per row to exclude 0
    (two-sided at level `alpha`) with probability `power`, if the gain is `gain` per row and one row's estimate
    has standard deviation `sd` (same currency units; the standard error at n rows is sd / sqrt(n)). The
    one-sample normal test: statsmodels' `NormalIndPower` with ratio 0, n = ((z_(1-alpha/2) + z_power) sd /
    gain)^2, rounded up."""
    for name, value in (("alpha", alpha), ("power", power)):
        _check_probability(name, value)
    if not gain > 0 or not sd > 0:
        raise ValueError(f"gain and sd must be positive, got gain {gain} and sd {sd}")
    return math.ceil(NormalIndPower().solve_power(effect_size=gain / sd, nobs1=None, alpha=alpha, power=power,
                                                  ratio=0))


def sample_size_per_arm(control_rate: float, uplift: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Customers per arm to detect a churn rate of `control_rate - uplift` against `control_rate` (both shares of
    customers churning within the horizon), two-sided at level `alpha` with probability `power`."""
    for name, value in (("control_rate", control_rate), ("alpha", alpha), ("power", power)):
        _check_probability(name, value)
    if not 0 < uplift <= control_rate:
        raise ValueError(f"uplift must lie in (0, control_rate = {control_rate}] (a drop in the churn rate), "
                         f"got {uplift}")
    effect = proportion_effectsize(control_rate, control_rate - uplift)
    return math.ceil(NormalIndPower().solve_power(effect_size=effect, nobs1=None, alpha=alpha, power=power, ratio=1))


def minimum_detectable_uplift(control_rate: float, n_per_arm: float, *, alpha: float = 0.05,
                              power: float = 0.8) -> float:
    """The smallest drop in the churn rate (a share, e.g. 0.03 = 3 points) that `n_per_arm` customers in the
    offer's arm and as many in the control detect with probability `power` at two-sided level `alpha`."""
    for name, value in (("control_rate", control_rate), ("alpha", alpha), ("power", power)):
        _check_probability(name, value)
    if n_per_arm <= 1:
        raise ValueError(f"n_per_arm must exceed 1, got {n_per_arm}")
    largest = 2 * math.asin(math.sqrt(control_rate))  # h of a drop to no churn at all

    def shortfall(effect: float) -> float:
        return NormalIndPower().power(effect, nobs1=n_per_arm, alpha=alpha, ratio=1) - power

    if shortfall(largest) < 0:
        raise ValueError(f"{n_per_arm} customers per arm cannot detect even a drop of the churn rate from "
                         f"{control_rate} to 0")
    # solve_power(effect_size=None) stops at a loose tolerance (power 0.80008 for 0.8); a tight root keeps
    # minimum_detectable_uplift(p, sample_size_per_arm(p, u)) <= u
    effect = brentq(shortfall, 0.0, largest, xtol=1e-12)
    return control_rate - math.sin((largest - effect) / 2) ** 2  # invert h = 2 asin sqrt(p0) - 2 asin sqrt(p1)


def _campaign_arms(arms: list[str]) -> list[str]:
    """The campaign's arms: control first, then the offers in the given order (control added if absent)."""
    return list(dict.fromkeys([CONTROL, *arms]))


def power_table(control_rate: float, uplifts: list[float], *, arms: list[str], alpha: float = 0.05,
                power: float = 0.8) -> pd.DataFrame:
    """Per arm (control included, added if absent) and candidate uplift: `customers` needed in that arm and
    `total` customers in a fully randomised campaign with equal arms (customers x number of arms)."""
    arms = _campaign_arms(arms)
    rows = []
    for uplift in uplifts:
        n = sample_size_per_arm(control_rate, uplift, alpha=alpha, power=power)
        rows += [{"arm": arm, "uplift": uplift, "control_rate": control_rate, "target_rate": control_rate - uplift,
                  "customers": n, "total": n * len(arms)} for arm in arms]
    return pd.DataFrame(rows)


def _check_design(recommended: pd.Series, arms: list[str], explore_share: float, control_share: float) -> list[str]:
    _check_probability("explore_share", explore_share, closed=True)
    _check_probability("control_share", control_share, closed=True)
    if explore_share == 0 or control_share == 1:
        raise ValueError("explore_share must be > 0 and control_share < 1: otherwise some customers can never get "
                         "some offers, and no other policy can be evaluated from the campaign")
    if recommended.isna().any() or not recommended.index.is_unique:
        raise ValueError("recommended: every customer needs one recommended arm and a unique customer_id index")
    arms = _campaign_arms(arms)
    unknown = sorted(set(recommended.unique()) - set(arms))
    if unknown:
        raise ValueError(f"recommended: arm(s) {unknown} are not among the campaign's arms {arms}")
    return arms


def design_propensities(recommended: pd.Series, arms: list[str], *, explore_share: float,
                        control_share: float) -> pd.DataFrame:
    """Each customer's probability of each arm under the mixed design (index = customer_id, one column per arm):

        P(a) = c 1[a = control] + (1 - c) e / K + (1 - c) (1 - e) 1[a = recommended],

    with c the control share, e the explore share and K the number of arms, control included.
    """
    arms = _check_design(recommended, arms, explore_share, control_share)
    chosen = recommended.to_numpy()[:, None] == np.array(arms)[None, :]
    probabilities = (1 - control_share) * (explore_share / len(arms) + (1 - explore_share) * chosen)
    probabilities[:, 0] += control_share  # column 0 is control
    return pd.DataFrame(probabilities, index=recommended.index, columns=arms)


def allocate(recommended: pd.Series, arms: list[str], *, explore_share: float, control_share: float, seed: int,
             control_key: int = 0) -> pd.DataFrame:
    """The next campaign's arm for each customer (index = customer_id, as in `recommended`).

    Columns: `arm`; `propensity`, the exact probability of that arm under the design (`design_propensities`);
    `source`: "control" (the persistent control group, drawn by hashing the customer id with `control_key`),
    "explore" (a uniform draw over all arms, control included, from `seed`) or "policy" (the recommended arm).
    """
    probabilities = design_propensities(recommended, arms, explore_share=explore_share, control_share=control_share)
    arms = list(probabilities.columns)
    ids = pd.Series(recommended.index.astype(str))
    hashed = pd.util.hash_pandas_object(ids, index=False, hash_key=f"{control_key:016d}"[-16:]).to_numpy()
    in_control = hashed / 2.0**64 < control_share
    rng = np.random.default_rng(seed)
    explore = ~in_control & (rng.random(len(ids)) < explore_share)
    drawn = np.array(arms)[rng.integers(0, len(arms), len(ids))]
    arm = np.where(in_control, CONTROL, np.where(explore, drawn, recommended.to_numpy()))
    source = np.where(in_control, "control", np.where(explore, "explore", "policy"))
    propensity = probabilities.to_numpy()[np.arange(len(ids)), probabilities.columns.get_indexer(arm)]
    return pd.DataFrame({"arm": arm, "propensity": propensity, "source": source}, index=recommended.index)


def realised_uplift(outcomes: pd.DataFrame, *, control: str = CONTROL, level: float = 0.95) -> pd.DataFrame:
    """Per offer against the control: customers `n`, `churn_rate`, `control_n`, `control_rate`, `uplift`
    (control_rate - churn_rate, shares of customers churning within the horizon; positive = fewer churners),
    `low`/`high` (its Newcombe interval at `level`) and `p_value` (pooled two-proportion z-test, two-sided; NaN when
    no customer in either arm churned, or all did). `outcomes` has `arm` and `churned` (0/1) per customer."""
    check_columns(outcomes, ("arm", "churned"), table="campaign outcomes", needed_by="realised_uplift")
    _check_probability("level", level)
    churned = outcomes["churned"]
    if churned.isna().any() or not churned.isin([0, 1]).all():
        raise ValueError("campaign outcomes: column 'churned' must be 0 or 1 for every customer")
    counts = outcomes.groupby("arm", sort=False)["churned"].agg(["size", "sum"])
    if control not in counts.index:
        raise ValueError(f"campaign outcomes: column 'arm' has no {control!r} customers to compare the offers with")
    n0, k0 = counts.loc[control]
    rows = []
    for arm, (n, k) in counts.drop(index=control).iterrows():
        low, high = confint_proportions_2indep(k0, n0, k, n, method="newcomb", compare="diff", alpha=1 - level)
        test = test_proportions_2indep(k0, n0, k, n, method="score", correction=False, compare="diff")
        rows.append({"arm": arm, "n": int(n), "churn_rate": k / n, "control_n": int(n0), "control_rate": k0 / n0,
                     "uplift": k0 / n0 - k / n, "low": float(low), "high": float(high),
                     "p_value": float(test.pvalue)})
    columns = ["arm", "n", "churn_rate", "control_n", "control_rate", "uplift", "low", "high", "p_value"]
    return pd.DataFrame(rows, columns=columns)
