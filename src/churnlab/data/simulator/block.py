"""One block of customers, month by month: joins, closures, decisions to leave, activity, campaigns, the oracle.

Customers are independent given the market, so `simulate_block` simulates `BLOCK` of them at a time from the
random stream (seed, block). Each month it draws, in this order, the start-of-month decisions, the month's
activity (`bank.step`) and, in a campaign month, the campaign; the oracle's Monte Carlo uses streams of its own
([seed, block, month, stream]), so the observed tables do not depend on `oracle_paths`. Changing that order
changes every table drawn from the seed.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnlab.contract.schema import REASONS
from churnlab.data.simulator import bank
from churnlab.data.simulator.offers import CONTROL, OFFERS, save_probability
from churnlab.data.simulator.oracle import INVOLUNTARY, truth_curves
from churnlab.data.simulator.tables import (
    ENTRY_HORIZONS,
    concat_or_empty,
    customers_frame,
    events_frame,
    monthly_frame,
)

BLOCK = 10_000  # customers per random stream; fixed so results do not depend on chunking
RESPONSES = ("neutral", "responsive", "annoyed")
NEVER = np.iinfo(np.int64).max // 2  # the churn month of a customer who has neither decided to leave nor been closed


def _campaign_selection(rng, cust, state, deposit_3m_ago, eligible, *, month, market, target_share):
    """The bank's crude at-risk rule (observable data only): complaints, a falling deposit, rate exposure, youth."""
    n = len(eligible)
    tenure = month - cust["open_month"]
    score = (state["complaints_hist"].sum(axis=0) + 1.5 * (state["deposit"] < 0.7 * deposit_3m_ago)
             + 1.0 * ((state["deposit"] > 20000) & (market["competitor_spread"][month] > 0.3))
             + 0.8 * (tenure < 6) + rng.normal(0, 0.5, n))
    k = int(round(target_share * eligible.sum()))
    candidates = np.flatnonzero(eligible)
    return candidates[np.argsort(-score[candidates], kind="stable")[:k]]


@dataclass
class Block:
    """One block's customers as the months run: their traits, the bank's state of each, and each one's churn.

    Arrays are indexed by customer and updated in place month by month; months are counted from the start of
    the burn-in (s).
    """

    seed: list[int]  # [seed, block]: the oracle's streams are [seed, block, s, stream]
    market: dict[str, np.ndarray]
    base_hazard: float
    oracle_paths: int
    cust: dict[str, np.ndarray]
    state: dict[str, np.ndarray]
    fresh: dict[str, np.ndarray]  # each customer's state drawn at opening, copied in when the customer joins
    churn_month: np.ndarray  # NEVER until the customer decides to leave or the bank closes the account
    churn_type: np.ndarray  # index into CHURN_TYPES, -1 while there is no churn
    reason: np.ndarray  # index into REASONS, -1 for no decision (and for involuntary closures)
    leaving: np.ndarray  # decided to leave: activity runs off until the churn month
    lam: np.ndarray  # the hazard of deciding to leave at the start of the next month
    parts: dict[str, np.ndarray]  # `lam` by reason
    deposits: list[np.ndarray]  # the last four month-end deposits; deposits[0]: three months before

    @classmethod
    def start(cls, rng: np.random.Generator, cust: dict, *, seed: list[int], market: dict, base_hazard: float,
              oracle_paths: int) -> "Block":
        """The block before its first month: initial states drawn, no churn, no decision yet."""
        state = bank.initial_state(rng, cust)
        n = len(cust["open_month"])
        return cls(seed=seed, market=market, base_hazard=base_hazard, oracle_paths=oracle_paths, cust=cust,
                   state=state, fresh={k: v.copy() for k, v in state.items()}, churn_month=np.full(n, NEVER),
                   churn_type=np.full(n, -1), reason=np.full(n, -1), leaving=np.zeros(n, dtype=bool),
                   lam=np.zeros(n), parts={r: np.zeros(n) for r in REASONS},
                   deposits=[state["deposit"].copy()] * 4)

    def curves(self, s: int, stream: int, idx: np.ndarray, months_ahead: int, treat_until: np.ndarray | None = None,
               offer: np.ndarray | None = None, save: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The oracle's churn curves for customers `idx` at the end of month s (`oracle.truth_curves`)."""
        return truth_curves([*self.seed, s, stream], self.cust, self.state, idx, month=s, leaving=self.leaving,
                            churn_month=self.churn_month, churn_type=self.churn_type, horizon=months_ahead,
                            market=self.market, paths=self.oracle_paths, base_hazard=self.base_hazard,
                            treat_until=treat_until, offer=offer, save=save)


def start_month(rng: np.random.Generator, b: Block, s: int) -> np.ndarray:
    """Month s begins: joiners take their opening state, dormant accounts close, customers decide to leave.

    Decisions at the start of month s come from the hazard at the end of month s-1 (joiners decide from their
    second month): what the bank saw up to s-1 is all the information there was. Returns who is present in s.
    """
    joining = b.cust["open_month"] == s
    for key, value in b.fresh.items():
        b.state[key][..., joining] = value[..., joining]
    present = (b.cust["open_month"] <= s) & (b.churn_month >= s)
    active = present & ~b.leaving & ~joining
    n = len(present)
    u_close, u_decide, u_reason, u_type = rng.random((4, n))
    delay = bank.LEAVE_DELAYS[rng.integers(0, len(bank.LEAVE_DELAYS), n)]
    closed = active & (b.state["dormant"] >= bank.DORMANT_MONTHS) & (u_close < bank.DORMANT_CLOSE_PROB)
    b.churn_month[closed], b.churn_type[closed] = s, INVOLUNTARY
    decide = active & ~closed & (u_decide < b.lam)
    shares = np.cumsum(np.stack([b.parts[r] for r in REASONS]), axis=0) / np.maximum(b.lam, 1e-12)
    why = np.minimum((u_reason[None, :] > shares).sum(axis=0), len(REASONS) - 1)
    life = why == REASONS.index("life_event")
    b.churn_month[decide] = (s + np.where(life, 1, delay) - 1)[decide]
    b.reason[decide] = why[decide]
    price_like = (why == REASONS.index("price")) | (why == REASONS.index("competitor_offer"))
    b.churn_type[decide] = np.where(u_type < np.where(price_like, 0.6, 0.15), 1, 0)[decide]
    b.leaving |= decide & ~life  # leavers' activity runs off from this month on
    return present


def run_month(rng: np.random.Generator, b: Block, s: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Simulate month s: (present in s, still a customer after s, the month's monthly-table columns)."""
    present = start_month(rng, b, s)
    row, b.parts = bank.step(rng, b.cust, b.state, month=s, market=b.market, leaving=b.leaving,
                             base_hazard=b.base_hazard)
    b.lam = bank.total_hazard(b.parts)  # the hazard of deciding at the start of next month
    b.deposits = b.deposits[1:] + [b.state["deposit"].copy()]
    return present, present & (b.churn_month > s), row


def run_campaign(rng: np.random.Generator, b: Block, s: int, alive: np.ndarray, *, ids: np.ndarray,
                 month: pd.Timestamp, horizon: int, target_share: float, treat_share: float,
                 offer_costs: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A multi-arm randomised retention campaign at the end of month s: its rows, and each chosen customer's truth.

    Each customer the at-risk rule selects gets one of the `offers.OFFERS` with probability treat_share / 5 each,
    or no contact (the control) with probability 1 - treat_share; the row logs that propensity. Every arm's churn
    risk over the horizon comes from the oracle with common random numbers (stream 2): the control arm with the
    customer's current offer (if one still runs), each offer arm with that offer from now. `true_effect` is the
    mean effect of the offers (the effect of "an offer" in a treated-against-control comparison).
    """
    chosen = _campaign_selection(rng, b.cust, b.state, b.deposits[0], alive, month=s, market=b.market,
                                 target_share=target_share)
    n_offers = len(OFFERS)
    shares = np.array([1 - treat_share, *[treat_share / n_offers] * n_offers])
    arm = rng.choice(n_offers + 1, len(chosen), p=shares) - 1  # -1: control, else index into OFFERS
    treated, u_save = arm >= 0, rng.random(len(chosen))
    offer_end = np.full(len(chosen), s + bank.EFFECT_MONTHS)
    leaving = b.leaving[chosen]  # decided to leave, churn month still ahead: an offer may turn them round
    p, save = {CONTROL: b.curves(s, 2, chosen, horizon)["any"][:, -1]}, {}
    parts = {reason: part[chosen] for reason, part in b.parts.items()}  # the hazard's motives at the campaign
    for code, name in enumerate(OFFERS):
        save[code] = np.where(leaving, save_probability(b.cust, b.state, chosen, offer=code, parts=parts, month=s,
                                                        annoyed=bank.ANNOYED), 0.0)
        p[name] = b.curves(s, 2, chosen, horizon, offer_end, np.full(len(chosen), code), save[code])["any"][:, -1]
    kept = chosen[treated & (u_save < np.choose(np.maximum(arm, 0), [save[c] for c in range(len(OFFERS))]))]
    b.leaving[kept], b.churn_month[kept], b.churn_type[kept], b.reason[kept] = False, NEVER, -1, -1
    b.state["treat_until"][chosen[treated]] = s + bank.EFFECT_MONTHS
    b.state["offer"][chosen[treated]] = arm[treated]
    names = np.asarray((*OFFERS, CONTROL), dtype=object)[arm]  # index -1 is the control
    costs = np.array([offer_costs[name] for name in OFFERS] + [0.0])[arm]
    campaign = pd.DataFrame({"customer_id": ids[chosen], "month": month, "treated": treated, "offer": names,
                             "cost": costs, "propensity": shares[arm + 1]})
    received = np.stack([p[name] for name in (*OFFERS, CONTROL)])[arm, np.arange(len(chosen))]
    effects = pd.DataFrame({"customer_id": ids[chosen], "month": month, "treated": treated, "arm": names,
                            **{f"p_{name}": p[name] for name in (CONTROL, *OFFERS)}, "p_treated": received,
                            "true_effect": np.mean([p[name] - p[CONTROL] for name in OFFERS], axis=0)})
    return campaign, effects


def monthly_truth(b: Block, s: int, idx: np.ndarray, alive: np.ndarray, *, ids: np.ndarray, month: pd.Timestamp,
                  horizon: int, oracle: bool) -> pd.DataFrame:
    """The oracle's rows for the customers `idx` present in month s: phase, decision hazard and, in an `oracle`
    month, the true probability of churning within the horizon (stream 1)."""
    p_any, p_vol, p_split = (np.full(len(idx), np.nan) for _ in range(3))
    if oracle:
        on = alive[idx]
        res = b.curves(s, 1, idx[on], horizon)
        p_any[on], p_vol[on], p_split[on] = (res[k][:, -1] for k in ("any", "voluntary", "any_split"))
    return pd.DataFrame({"customer_id": ids[idx], "month": month,
                         "phase": np.where(b.leaving[idx], "leaving", "active"),
                         "decision_hazard": np.where(b.leaving, 0.0, b.lam)[idx], "p_churn_h": p_any,
                         "p_voluntary_h": p_vol, "p_churn_h_split": p_split})


def record_entry_risk(b: Block, s: int, alive: np.ndarray, entry_risk: dict[str, np.ndarray], *, first: int,
                      survival_months: int) -> None:
    """Fill `entry_risk` for the customers first seen in month s (the window's first month or their opening)."""
    entering = np.flatnonzero(alive & (np.maximum(b.cust["open_month"], first) == s))
    if len(entering):
        res = b.curves(s, 3, entering, survival_months)
        for name, values in entry_risk.items():
            kind, k = name.split("_")[1], int(name.split("_")[2][:-1])
            if k <= survival_months:
                values[entering] = res["voluntary" if kind == "voluntary" else "any"][:, k - 1]


def survival_truth(b: Block, s: int, alive: np.ndarray, *, ids: np.ndarray, month: pd.Timestamp,
                   survival_months: int) -> pd.DataFrame:
    """The true survival curves, 1..`survival_months` ahead, of the customers left at the end of the window."""
    last = np.flatnonzero(alive)
    res = b.curves(s, 4, last, survival_months)
    return pd.DataFrame({
        "customer_id": np.repeat(ids[last], survival_months), "month": month,
        "months_ahead": np.tile(np.arange(1, survival_months + 1), len(last)),
        "survival_any": (1 - res["any"]).ravel().round(6),
        "survival_voluntary": (1 - res["voluntary"]).ravel().round(6)})


def customer_truth(b: Block, *, ids: np.ndarray, window_open: np.ndarray,
                   entry_risk: dict[str, np.ndarray]) -> pd.DataFrame:
    """Each customer's latent traits, true income, opening month (window index) and true churn risk at entry."""
    cust = b.cust
    return pd.DataFrame({
        "customer_id": ids, "price_sensitivity": cust["price_sens"].round(4),
        "response_type": np.asarray(RESPONSES, dtype=object)[cust["response"]],
        "engagement": cust["engagement"].round(4), "service_proneness": cust["service_prone"].round(4),
        "digital_affinity": cust["digital"].round(4), "true_income": cust["income"].round(0),
        "open_month_index": window_open, **{k: v.round(6) for k, v in entry_risk.items()}})


def simulate_block(block: int, n: int, *, seed: int, market: pd.DataFrame, n_months: int, horizon: int,
                   existing_share: float, max_prior_tenure_months: int, base_monthly_hazard: float,
                   campaign_months: list[int], campaign_target_share: float, campaign_treat_share: float,
                   offer_costs: dict[str, float], oracle_paths: int, oracle_every_months: int,
                   oracle_survival_months: int, burn_in_months: int) -> dict[str, pd.DataFrame]:
    """Simulate `n` customers of block `block` over `n_months`; return contract and oracle tables for them.

    `market` starts `burn_in_months` before the window. The bank runs through the burn-in unobserved, so the
    window opens with some customers already on their way out; customers who leave during the burn-in never
    appear. Inside, months are counted from the start of the burn-in (s); window month m = s - burn_in_months.
    """
    rng = np.random.default_rng([seed, block])
    months = pd.DatetimeIndex(market["month"])
    first, total = burn_in_months, burn_in_months + n_months
    cust = bank.draw_customers(rng, n, n_months=n_months, existing_share=existing_share,
                               max_prior_tenure_months=max_prior_tenure_months)
    ids = np.array([f"C{block * BLOCK + i + 1:08d}" for i in range(n)], dtype=object)
    customers = customers_frame(ids, cust, months[first], rng)
    window_open = cust["open_month"]
    cust["open_month"] = window_open + first
    b = Block.start(rng, cust, seed=[seed, block], market={c: market[c].to_numpy() for c in market if c != "month"},
                    base_hazard=base_monthly_hazard, oracle_paths=oracle_paths)
    entry_risk = {f"{kind}_{k}m_at_entry": np.full(n, np.nan) for kind in ("p_voluntary", "p_churn")
                  for k in ENTRY_HORIZONS}  # NaN beyond oracle_survival_months
    rows, truth, campaigns, effects, survival = [], [], [], [], None
    for s in range(total):
        present, alive, row = run_month(rng, b, s)
        m = s - first
        if m < 0:  # burn-in: nothing is observed
            continue
        idx = np.flatnonzero(present)
        rows.append((s, idx, {k: v[idx] for k, v in row.items()}))
        if m in campaign_months:
            campaign, effect = run_campaign(rng, b, s, alive, ids=ids, month=months[s], horizon=horizon,
                                            target_share=campaign_target_share, treat_share=campaign_treat_share,
                                            offer_costs=offer_costs)
            campaigns.append(campaign)
            effects.append(effect)
        truth.append(monthly_truth(b, s, idx, alive, ids=ids, month=months[s], horizon=horizon,
                                   oracle=(n_months - 1 - m) % oracle_every_months == 0))
        record_entry_risk(b, s, alive, entry_risk, first=first, survival_months=oracle_survival_months)
        if s == total - 1:
            survival = survival_truth(b, s, alive, ids=ids, month=months[s], survival_months=oracle_survival_months)
    seen = b.churn_month >= first  # customers who left during the burn-in never appear
    in_window = seen & (b.churn_month < total)
    return {
        "customers": customers[seen].reset_index(drop=True),
        "monthly": monthly_frame(rows, ids, months),
        "churn_events": events_frame(ids[in_window], months[b.churn_month[in_window]], b.churn_type[in_window],
                                     b.reason[in_window]),
        "campaigns": concat_or_empty(campaigns, "campaigns"),
        "monthly_truth": pd.concat(truth, ignore_index=True),
        "customer_truth": customer_truth(b, ids=ids, window_open=window_open, entry_risk=entry_risk)[seen]
        .reset_index(drop=True),
        "campaign_effects": concat_or_empty(effects, "campaign_effects"),
        "survival_truth": survival,
    }
