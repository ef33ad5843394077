"""The simulator shows the behaviour a bank's data shows, its oracle is calibrated, and it is deterministic."""

import hashlib

import numpy as np
import pandas as pd
import pytest
import yaml

from churnlab.contract.validation import validate_all
from churnlab.core import paths
from churnlab.data.simulator import simulate
from churnlab.data.simulator.market import MARKET_PARAMS, market_for

HORIZON = 6
OFFER_COSTS = {"rate_match": 60.0, "fee_waiver": 30.0, "complaint_recovery": 40.0, "digital_nudge": 2.0,
               "relationship_manager_call": 120.0}
SHOCK = 24


@pytest.fixture(scope="module")
def bank() -> dict[str, pd.DataFrame]:
    """8,000 customers over 36 months, a promotion shock at month 24 and campaigns at months 12 and 18."""
    market = market_for(seed=11, n_months=36, start_month="2021-01-31", burn_in_months=12, horizon=HORIZON,
                                 oracle_survival_months=12, shock_month=SHOCK, shock_months=6, shock_spread_pp=1.2,
                                 recession_month=30)
    blocks = list(simulate.simulate(
        n_customers=8000, seed=11, market=market, n_months=36, horizon=HORIZON, existing_share=0.6,
        max_prior_tenure_months=240, base_monthly_hazard=0.0105, campaign_months=[12, 18],
        campaign_target_share=0.25, campaign_treat_share=0.833, offer_costs=OFFER_COSTS, oracle_paths=8,
        oracle_every_months=1, oracle_survival_months=12, burn_in_months=12))
    tables = {name: pd.concat([b[name] for b in blocks], ignore_index=True) for name in blocks[0]}
    tables["market"] = market.iloc[12:48].reset_index(drop=True)
    return tables


def churn_within(frame: pd.DataFrame, events: pd.DataFrame, month_col: str = "month") -> pd.Series:
    """1 if the customer's churn month falls in (month, month + H]."""
    churn = frame["customer_id"].map(events.set_index("customer_id")["churn_month"])
    return ((churn > frame[month_col]) & (churn <= frame[month_col] + pd.offsets.MonthEnd(HORIZON))).astype(int)


def test_tables_meet_the_contract(bank):
    validate_all({k: bank[k] for k in ("customers", "monthly", "market", "churn_events", "campaigns")})


def test_some_customers_open_before_the_window_and_some_join_during_it(bank):
    first = bank["market"]["month"].min()
    opened_before = (bank["customers"]["open_date"] < first - pd.offsets.MonthEnd(1)).mean()
    assert 0.5 < opened_before < 0.7
    assert bank["monthly"].groupby("customer_id")["month"].min().nunique() > 30  # joiners every month


def test_annual_churn_is_in_the_retail_banking_range(bank):
    active = bank["monthly"].groupby("month").size()
    churned = bank["churn_events"].groupby("churn_month").size().reindex(active.index, fill_value=0)
    annual = churned.iloc[12:24].sum() / active.iloc[12]
    assert 0.10 <= annual <= 0.20


def test_attributes_are_missing_at_realistic_rates(bank):
    missing = bank["customers"][["income", "education"]].isna().mean()
    assert 0.1 < missing["income"] < 0.35 and 0.05 < missing["education"] < 0.2


def test_activity_falls_before_a_voluntary_closure(bank):
    """Quiet quitting: transactions in the churn month are well below their level six months earlier."""
    leavers = bank["churn_events"].query("reason != 'life_event' and churn_type != 'involuntary'")
    monthly = bank["monthly"].merge(leavers[["customer_id", "churn_month"]], on="customer_id")
    lag = (monthly["churn_month"].dt.to_period("M") - monthly["month"].dt.to_period("M")).apply(lambda d: d.n)
    tx = monthly.assign(lag=lag).groupby("lag")[["tx_count", "deposit_balance"]].mean()
    assert tx.loc[0, "tx_count"] < 0.5 * tx.loc[6, "tx_count"]
    assert tx.loc[0, "deposit_balance"] < 0.5 * tx.loc[6, "deposit_balance"]
    assert tx.loc[2, "tx_count"] < tx.loc[6, "tx_count"]  # the decline starts months before


def test_more_products_means_lower_observed_churn(bank):
    rows = bank["monthly"][bank["monthly"]["month"] == bank["market"]["month"].iloc[12]]
    rate = churn_within(rows, bank["churn_events"]).groupby(rows["n_products"].clip(upper=4)).mean()
    assert rate.loc[1] > rate.loc[2] > rate.loc[4]


def test_the_promotion_shock_raises_churn(bank):
    active = bank["monthly"].groupby("month").size()
    churned = bank["churn_events"].query("churn_type != 'involuntary'").groupby("churn_month").size()
    rate = churned.reindex(active.index, fill_value=0) / active
    before, during = rate.iloc[SHOCK - 6:SHOCK].mean(), rate.iloc[SHOCK + 2:SHOCK + 7].mean()
    assert during > 1.4 * before


def test_oracle_probability_is_calibrated(bank):
    """The mean true probability matches the realised H-month churn rate within sampling error."""
    truth = bank["monthly_truth"]
    truth = truth[truth["p_churn_h"].notna() & (truth["month"] <= bank["market"]["month"].iloc[-1 - HORIZON])]
    label = churn_within(truth, bank["churn_events"])
    # customer-months overlap, so inflate the binomial standard error by sqrt(H) for the dependence
    se = np.sqrt(label.mean() * (1 - label.mean()) / len(label) * HORIZON)
    assert abs(truth["p_churn_h"].mean() - label.mean()) < 3 * se
    high = truth["p_churn_h"] > truth["p_churn_h"].quantile(0.9)
    assert label[high].mean() > 3 * label[~high].mean()


def test_treated_arm_churn_matches_the_oracle_effect(bank):
    """Observed treated-minus-control churn agrees with the mean true effect within sampling error."""
    effects = bank["campaign_effects"]
    label = churn_within(effects, bank["churn_events"])
    arms = label.groupby(effects["treated"]).agg(["mean", "size"])
    observed = arms.loc[True, "mean"] - arms.loc[False, "mean"]
    se = np.sqrt(sum(arms.loc[a, "mean"] * (1 - arms.loc[a, "mean"]) / arms.loc[a, "size"] for a in (True, False)))
    assert abs(observed - effects["true_effect"].mean()) < 3 * se
    for arm, rows in effects.groupby("arm"):  # each arm's churn is the oracle's churn probability under that arm
        p = rows[f"p_{arm}"].mean()
        assert abs(label[rows.index].mean() - p) < 3 * np.sqrt(p * (1 - p) / len(rows)), arm


def test_each_offer_works_on_the_customers_it_fits(bank):
    """The oracle's effects (common random numbers): a rate match helps the price-sensitive far more than the
    others, complaint recovery the service-prone, and any contact hurts the annoyed."""
    effect = bank["campaign_effects"].merge(bank["customer_truth"], on="customer_id")
    for offer in OFFER_COSTS:
        effect[offer] = effect[f"p_{offer}"] - effect["p_control"]
    price = pd.qcut(effect["price_sensitivity"], 4, labels=False)
    service = pd.qcut(effect["service_proneness"], 4, labels=False)
    assert effect.loc[price == 3, "rate_match"].mean() < 2 * effect.loc[price == 0, "rate_match"].mean() < 0
    assert effect.loc[service == 3, "complaint_recovery"].mean() < effect.loc[service == 0, "complaint_recovery"].mean()
    assert (effect.loc[effect["response_type"] == "annoyed", list(OFFER_COSTS)].mean() > 0).all()
    assert effect.loc[effect["response_type"] != "annoyed", list(OFFER_COSTS)].mean().max() < 0


def test_campaign_arms_are_randomised_with_their_propensity_logged(bank):
    campaigns = bank["campaigns"]
    shares = campaigns["offer"].value_counts(normalize=True)
    assert set(shares.index) == {"control", *OFFER_COSTS}
    np.testing.assert_allclose(campaigns.groupby("offer")["propensity"].first(), 1 / 6, atol=0.001)
    assert (shares - 1 / 6).abs().max() < 4 * np.sqrt(1 / 6 * 5 / 6 / len(campaigns))
    assert (campaigns["cost"] == campaigns["offer"].map(OFFER_COSTS).fillna(0.0)).all()


def small_simulation(**overrides) -> dict:
    """The repository's `simulate` params, shrunk to a few hundred customers over about a year."""
    from conftest import ROOT

    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["simulate"]
    return params | {"n_customers": 600, "n_months": 14, "campaign_months": [8], "shock_month": 10, "oracle_paths": 4,
                     "oracle_survival_months": 8} | overrides


def test_same_seed_gives_byte_identical_tables(tmp_path, monkeypatch):
    digests = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        monkeypatch.chdir(tmp_path / run)
        summary = simulate.write_simulation(seed=7, horizon=HORIZON, params=small_simulation())
        files = sorted([*paths.RAW.glob("*.parquet"), *paths.ORACLE.glob("*.parquet")])
        digests.append({f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files})
    assert len(digests[0]) == 9 and digests[0] == digests[1]
    assert 500 < summary["rows"]["customers"] < 600 and set(summary["churn_share_by_type"]) == {
        "voluntary_closure", "transfer_out", "involuntary"}


def test_the_observed_tables_do_not_depend_on_the_oracles_paths():
    """The oracle draws from streams of its own, so more Monte Carlo paths change only the oracle's tables."""
    params = small_simulation(n_customers=300, n_months=12, oracle_survival_months=6)
    market = market_for(seed=3, horizon=HORIZON, **{k: params[k] for k in MARKET_PARAMS})
    two, four = (simulate.simulate_block(0, 300, seed=3, market=market, horizon=HORIZON,
                                         **simulate.block_params(params | {"oracle_paths": n})) for n in (2, 4))
    for table in ("customers", "monthly", "churn_events", "campaigns"):
        pd.testing.assert_frame_equal(two[table], four[table])
    assert len(two["campaigns"]) > 0 and len(two["churn_events"]) > 0
    assert not two["monthly_truth"]["p_churn_h"].equals(four["monthly_truth"]["p_churn_h"])


def test_a_failed_run_leaves_the_last_good_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = small_simulation(n_customers=300, n_months=12, campaign_months=[], shock_month=8, oracle_paths=2,
                              oracle_survival_months=6, workers=1)
    simulate.write_simulation(seed=7, horizon=HORIZON, params=params)
    before = paths.MONTHLY.read_bytes()
    blocks = []
    original = simulate.simulate_block

    def failing(block, *args, **kwargs):
        blocks.append(block)
        if block == 1:
            raise RuntimeError("disk full")
        return original(block, *args, **kwargs)

    monkeypatch.setattr(simulate, "simulate_block", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        simulate.write_simulation(seed=8, horizon=HORIZON, params=params | {"n_customers": 10_300})  # two blocks
    assert blocks == [0, 1]  # block 0 was simulated (and its chunk written) before block 1 failed
    assert paths.MONTHLY.read_bytes() == before
    assert not list(paths.RAW.glob(".*.tmp"))
