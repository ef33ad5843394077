"""Simulate a retail bank month by month: the contract tables plus separate ground-truth (oracle) files.

Customers are independent given the market, so they are simulated in blocks of `BLOCK` customers, each with
its own random stream derived from (seed, block): the output does not depend on memory or chunking, and the
same seed gives byte-identical tables. The market path is drawn once from (seed, "market"). The oracle's
Monte Carlo uses streams of its own, so the observed tables do not depend on `oracle_paths`.

Outputs (see churnlab.core.paths), written by `write_simulation` for the `data` stage:
data/raw/{customers,monthly,market,churn_events,campaigns}.parquet, and
data/oracle/{monthly_truth,customer_truth,campaign_effects,survival_truth}.parquet, which no feature may read.
"""

import functools
import logging
import multiprocessing
from collections.abc import Iterator

import numpy as np
import pandas as pd

from churnlab.contract.schema import (
    CHANNELS,
    CHURN_TYPES,
    EDUCATION,
    GENDERS,
    OCCUPATIONS,
    REASONS,
    SEGMENTS,
    TABLES,
    arrow_schema,
)
from churnlab.data.simulator import bank
from churnlab.data.simulator.market import MARKET_PARAMS, market_for
from churnlab.data.simulator.oracle import INVOLUNTARY, truth_curves
from churnlab.data.simulator.summary import summarise, tally

log = logging.getLogger(__name__)

BLOCK = 10_000  # customers per random stream; fixed so results do not depend on chunking
RESPONSES = ("neutral", "responsive", "annoyed")
ENTRY_HORIZONS = (12, 24, 36)  # months ahead for which customer_truth gives the true churn risk at entry


def month_ends(first: pd.Timestamp, offsets: np.ndarray) -> pd.DatetimeIndex:
    """Month-end dates `offsets` months after (negative: before) the month-end `first`."""
    ordinals = first.to_period("M").ordinal + np.asarray(offsets, dtype=np.int64)
    return pd.PeriodIndex.from_ordinals(ordinals, freq="M").to_timestamp(how="end").normalize()


def _customers_frame(ids: np.ndarray, cust: dict, first: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
    opened = month_ends(first, cust["open_month"]) - pd.to_timedelta(rng.integers(0, 27, len(ids)), "D")
    return pd.DataFrame({
        "customer_id": ids,
        "open_date": opened.astype("datetime64[ns]"),
        "birth_year": (first.year - np.round(cust["age0"])).astype(np.int64),
        "gender": np.asarray(GENDERS, dtype=object)[cust["gender"]],
        "education": np.where(cust["education_known"], np.asarray(EDUCATION, dtype=object)[cust["education"]], None),
        "income": np.where(cust["income_known"], np.round(cust["income"], 0), np.nan),
        "occupation": np.asarray(OCCUPATIONS, dtype=object)[cust["occupation"]],
        "region": np.asarray(bank.REGIONS, dtype=object)[cust["region"]],
        "segment": np.asarray(SEGMENTS, dtype=object)[cust["segment"]],
        "acquisition_channel": np.asarray(CHANNELS, dtype=object)[cust["channel"]],
        "payroll": cust["payroll0"].astype(bool),
    })


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


def simulate_block(block: int, n: int, *, seed: int, market: pd.DataFrame, n_months: int, horizon: int,
                   existing_share: float, max_prior_tenure_months: int, base_monthly_hazard: float,
                   campaign_months: list[int], campaign_target_share: float, campaign_treat_share: float,
                   campaign_cost: float, oracle_paths: int, oracle_every_months: int,
                   oracle_survival_months: int, burn_in_months: int) -> dict[str, pd.DataFrame]:
    """Simulate `n` customers of block `block` over `n_months`; return contract and oracle tables for them.

    `market` starts `burn_in_months` before the window. The bank runs through the burn-in unobserved, so the
    window opens with some customers already on their way out; customers who leave during the burn-in never
    appear. Inside, months are counted from the start of the burn-in (s); window month m = s - burn_in_months.
    """
    rng = np.random.default_rng([seed, block])
    mk = {c: market[c].to_numpy() for c in market.columns if c != "month"}
    months = pd.DatetimeIndex(market["month"])
    first, total = burn_in_months, burn_in_months + n_months
    cust = bank.draw_customers(rng, n, n_months=n_months, existing_share=existing_share,
                               max_prior_tenure_months=max_prior_tenure_months)
    ids = np.array([f"C{block * BLOCK + i + 1:08d}" for i in range(n)], dtype=object)
    customers = _customers_frame(ids, cust, months[first], rng)
    window_open = cust["open_month"]
    cust["open_month"] = window_open + first
    state = bank.initial_state(rng, cust)
    fresh = {k: v.copy() for k, v in state.items()}
    never = np.iinfo(np.int64).max // 2
    churn_month, churn_type, reason = np.full(n, never), np.full(n, -1), np.full(n, -1)
    leaving = np.zeros(n, dtype=bool)
    lam, parts = np.zeros(n), {r: np.zeros(n) for r in REASONS}  # no decision before the first month
    entry_risk = {f"{kind}_{k}m_at_entry": np.full(n, np.nan) for kind in ("p_voluntary", "p_churn")
                  for k in ENTRY_HORIZONS}  # NaN beyond oracle_survival_months
    deposits = [state["deposit"].copy()] * 4  # deposits[0]: three months before the current month
    rows, truth, campaigns, effects, survival = [], [], [], [], None

    def curves(stream: int, idx: np.ndarray, months_ahead: int, treat_until: np.ndarray | None = None) -> dict:
        return truth_curves([seed, block, s, stream], cust, state, idx, month=s, leaving=leaving,
                            churn_month=churn_month, churn_type=churn_type, horizon=months_ahead, market=mk,
                            paths=oracle_paths, base_hazard=base_monthly_hazard, treat_until=treat_until)

    for s in range(total):
        m = s - first
        joining = cust["open_month"] == s
        for key, value in fresh.items():
            state[key][..., joining] = value[..., joining]
        present = (cust["open_month"] <= s) & (churn_month >= s)
        # Decisions at the start of month s, from the hazard at the end of month s-1 (joiners decide from
        # their second month): what the bank saw up to s-1 is all the information there was.
        active = present & ~leaving & ~joining
        u_close, u_decide, u_reason, u_type = rng.random((4, n))
        delay = bank.LEAVE_DELAYS[rng.integers(0, len(bank.LEAVE_DELAYS), n)]
        closed = active & (state["dormant"] >= bank.DORMANT_MONTHS) & (u_close < bank.DORMANT_CLOSE_PROB)
        churn_month[closed], churn_type[closed] = s, INVOLUNTARY
        decide = active & ~closed & (u_decide < lam)
        shares = np.cumsum(np.stack([parts[r] for r in REASONS]), axis=0) / np.maximum(lam, 1e-12)
        why = np.minimum((u_reason[None, :] > shares).sum(axis=0), len(REASONS) - 1)
        life = why == REASONS.index("life_event")
        churn_month[decide] = (s + np.where(life, 1, delay) - 1)[decide]
        reason[decide] = why[decide]
        price_like = (why == REASONS.index("price")) | (why == REASONS.index("competitor_offer"))
        churn_type[decide] = np.where(u_type < np.where(price_like, 0.6, 0.15), 1, 0)[decide]
        leaving |= decide & ~life  # leavers' activity runs off from this month on
        row, parts = bank.step(rng, cust, state, month=s, market=mk, leaving=leaving, base_hazard=base_monthly_hazard)
        lam = bank.total_hazard(parts)  # the hazard of deciding at the start of next month
        idx = np.flatnonzero(present)
        hazard_now = np.where(leaving, 0.0, lam)[idx]
        phase_now = np.where(leaving[idx], "leaving", "active")
        alive = present & (churn_month > s)
        deposits = deposits[1:] + [state["deposit"].copy()]
        if m < 0:  # burn-in: nothing is observed
            continue
        rows.append((s, idx, {k: v[idx] for k, v in row.items()}))
        if m in campaign_months:
            chosen = _campaign_selection(rng, cust, state, deposits[0], alive, month=s, market=mk,
                                         target_share=campaign_target_share)
            treated = rng.random(len(chosen)) < campaign_treat_share
            offer_end = np.full(len(chosen), s + bank.EFFECT_MONTHS)
            p_control = curves(2, chosen, horizon, state["treat_until"][chosen])["any"][:, -1]
            p_treated = curves(2, chosen, horizon, offer_end)["any"][:, -1]
            state["treat_until"][chosen[treated]] = s + bank.EFFECT_MONTHS
            campaigns.append(pd.DataFrame({"customer_id": ids[chosen], "month": months[s], "treated": treated,
                                           "offer": "rate_match", "cost": np.where(treated, campaign_cost, 0.0)}))
            effects.append(pd.DataFrame({"customer_id": ids[chosen], "month": months[s], "treated": treated,
                                         "p_control": p_control, "p_treated": p_treated,
                                         "true_effect": p_treated - p_control}))
        p_any, p_vol, p_split = (np.full(len(idx), np.nan) for _ in range(3))
        if (n_months - 1 - m) % oracle_every_months == 0:
            on = alive[idx]
            res = curves(1, idx[on], horizon)
            p_any[on], p_vol[on], p_split[on] = (res[k][:, -1] for k in ("any", "voluntary", "any_split"))
        entering = np.flatnonzero(alive & (np.maximum(cust["open_month"], first) == s))
        if len(entering):
            res = curves(3, entering, oracle_survival_months)
            for name, values in entry_risk.items():
                kind, k = name.split("_")[1], int(name.split("_")[2][:-1])
                if k <= oracle_survival_months:
                    values[entering] = res["voluntary" if kind == "voluntary" else "any"][:, k - 1]
        if s == total - 1:
            last = np.flatnonzero(alive)
            res = curves(4, last, oracle_survival_months)
            survival = pd.DataFrame({
                "customer_id": np.repeat(ids[last], oracle_survival_months), "month": months[s],
                "months_ahead": np.tile(np.arange(1, oracle_survival_months + 1), len(last)),
                "survival_any": (1 - res["any"]).ravel().round(6),
                "survival_voluntary": (1 - res["voluntary"]).ravel().round(6)})
        truth.append(pd.DataFrame({"customer_id": ids[idx], "month": months[s], "phase": phase_now,
                                   "decision_hazard": hazard_now, "p_churn_h": p_any, "p_voluntary_h": p_vol,
                                   "p_churn_h_split": p_split}))
    seen = churn_month >= first  # customers who left during the burn-in never appear
    in_window = seen & (churn_month < total)
    return {
        "customers": customers[seen].reset_index(drop=True),
        "monthly": _monthly_frame(rows, ids, months),
        "churn_events": _events_frame(ids[in_window], months[churn_month[in_window]], churn_type[in_window],
                                      reason[in_window]),
        "campaigns": _concat(campaigns, "campaigns"),
        "monthly_truth": pd.concat(truth, ignore_index=True),
        "customer_truth": pd.DataFrame({
            "customer_id": ids, "price_sensitivity": cust["price_sens"].round(4),
            "response_type": np.asarray(RESPONSES, dtype=object)[cust["response"]],
            "engagement": cust["engagement"].round(4), "service_proneness": cust["service_prone"].round(4),
            "digital_affinity": cust["digital"].round(4), "true_income": cust["income"].round(0),
            "open_month_index": window_open, **{k: v.round(6) for k, v in entry_risk.items()}})[seen]
        .reset_index(drop=True),
        "campaign_effects": _concat(effects, "campaign_effects"),
        "survival_truth": survival,
    }


def _concat(frames: list[pd.DataFrame], table: str) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else table_schema(table).empty_table().to_pandas()


def table_schema(table: str):
    """Arrow schema of an output table: the contract's for contract tables, ORACLE_TYPES for the oracle's."""
    import pyarrow as pa

    if table in TABLES:
        return arrow_schema(table)
    return pa.schema([(column, pa.type_for_alias(kind)) for column, kind in ORACLE_TYPES[table].items()])


def _monthly_frame(rows: list, ids: np.ndarray, months: pd.DatetimeIndex) -> pd.DataFrame:
    frame = {"customer_id": np.concatenate([ids[idx] for _, idx, _ in rows]),
             "month": np.concatenate([np.repeat(months[m].to_datetime64(), len(idx)) for m, idx, _ in rows])}
    for column in rows[0][2]:
        frame[column] = np.concatenate([values[column] for _, _, values in rows])
    monthly = pd.DataFrame(frame)
    order = np.lexsort((monthly["month"].to_numpy(), monthly["customer_id"].to_numpy()))
    return monthly.iloc[order].reset_index(drop=True)


def _events_frame(ids, churn_dates, churn_type, reason) -> pd.DataFrame:
    types = np.asarray(CHURN_TYPES, dtype=object)
    reasons = np.asarray((*REASONS, None), dtype=object)
    return pd.DataFrame({"customer_id": ids, "churn_month": churn_dates, "churn_type": types[churn_type],
                         "reason": reasons[reason]})


def simulate(*, n_customers: int, seed: int, market: pd.DataFrame, workers: int = 1,
             **kwargs) -> Iterator[dict[str, pd.DataFrame]]:
    """Yield the tables block by block (BLOCK customers each, in order), so callers can write them in chunks.

    Blocks are independent, so `workers` processes simulate them in parallel; each block has its own random
    stream, so the result does not depend on `workers`.
    """
    blocks = [(block, min(BLOCK, n_customers - first)) for block, first in enumerate(range(0, n_customers, BLOCK))]
    run = functools.partial(_run_block, seed=seed, market=market, **kwargs)
    if workers <= 1 or len(blocks) == 1:
        yield from map(run, blocks)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(run, blocks)


def _run_block(block_size: tuple[int, int], **kwargs) -> dict[str, pd.DataFrame]:
    return simulate_block(*block_size, **kwargs)


ORACLE_TYPES = {
    "monthly_truth": {"customer_id": "string", "month": "timestamp[ns]", "phase": "string",
                      "decision_hazard": "float64", "p_churn_h": "float64", "p_voluntary_h": "float64",
                      "p_churn_h_split": "float64"},
    "customer_truth": {"customer_id": "string", "price_sensitivity": "float64", "response_type": "string",
                       "engagement": "float64", "service_proneness": "float64", "digital_affinity": "float64",
                       "true_income": "float64", "open_month_index": "int64",
                       **{f"p_{kind}_{k}m_at_entry": "float64"
                          for kind in ("voluntary", "churn") for k in ENTRY_HORIZONS}},
    "campaign_effects": {"customer_id": "string", "month": "timestamp[ns]", "treated": "bool",
                         "p_control": "float64", "p_treated": "float64", "true_effect": "float64"},
    "survival_truth": {"customer_id": "string", "month": "timestamp[ns]", "months_ahead": "int64",
                       "survival_any": "float64", "survival_voluntary": "float64"},
}


def write_simulation(*, seed: int, horizon: int, params: dict) -> dict:
    """Simulate with the `simulate` params section; write data/raw and data/oracle; return the summary.

    Called by the `data` stage's `main()` when `data.source` is simulator. Every file is written atomically
    (chunked Parquet renamed into place at the end), so a failed run leaves the last good tables.
    """
    from tqdm import tqdm

    from churnlab.contract.schema import validate, validate_relations
    from churnlab.core import paths
    from churnlab.core.io import ParquetChunks, write_parquet

    burn_in = params["burn_in_months"]
    market = market_for(seed=seed, horizon=horizon, **{k: params[k] for k in MARKET_PARAMS})
    window = market.iloc[burn_in: burn_in + params["n_months"]].reset_index(drop=True)
    validate(window, "market")
    targets = {"customers": paths.CUSTOMERS, "monthly": paths.MONTHLY, "churn_events": paths.CHURN_EVENTS,
               "campaigns": paths.CAMPAIGNS, "monthly_truth": paths.ORACLE_MONTHLY,
               "customer_truth": paths.ORACLE_CUSTOMERS, "campaign_effects": paths.ORACLE_EFFECTS,
               "survival_truth": paths.ORACLE_SURVIVAL}
    writers = {name: ParquetChunks(target, table_schema(name)) for name, target in targets.items()}
    months, tallies, ok = pd.DatetimeIndex(window["month"]), [], False
    log.info("simulating %d customers over %d months in blocks of %d", params["n_customers"], params["n_months"], BLOCK)
    try:
        market_only = set(MARKET_PARAMS) - {"n_months", "burn_in_months", "oracle_survival_months"}
        blocks = simulate(seed=seed, market=market, horizon=horizon,
                          **{k: v for k, v in params.items() if k not in market_only})
        for tables in tqdm(blocks, total=-(-params["n_customers"] // BLOCK), desc="simulate", unit="block"):
            contract = ("customers", "monthly", "churn_events", "campaigns")
            validate_relations({k: validate(tables[k], k) for k in contract})
            for name, writer in writers.items():
                writer.write(tables[name])
            tallies.append(tally(tables, months, horizon))
        ok = True
    finally:
        for writer in writers.values():
            writer.close(ok)
    write_parquet(window, paths.MARKET)
    metrics = summarise(tallies, n_months=params["n_months"], horizon=horizon)
    metrics["rows"]["market"] = len(window)
    log.info("annual churn %.1f %%, oracle AUC %.3f", 100 * metrics["annual_churn_rate"], metrics["oracle"]["auc"])
    return metrics
