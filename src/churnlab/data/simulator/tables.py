"""The simulator's output tables: the frames of one block, and the Arrow schema each table is written with.

Contract tables (customers, monthly, churn_events, campaigns) follow `churnlab.contract.schema`; the oracle's
tables (monthly_truth, customer_truth, campaign_effects, survival_truth) follow `ORACLE_TYPES`.
"""

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
from churnlab.data.simulator.offers import CONTROL, OFFERS

ENTRY_HORIZONS = (12, 24, 36)  # months ahead for which customer_truth gives the true churn risk at entry
ORACLE_TYPES = {
    "monthly_truth": {"customer_id": "string", "month": "timestamp[ns]", "phase": "string",
                      "decision_hazard": "float64", "p_churn_h": "float64", "p_voluntary_h": "float64",
                      "p_churn_h_split": "float64"},
    "customer_truth": {"customer_id": "string", "price_sensitivity": "float64", "response_type": "string",
                       "engagement": "float64", "service_proneness": "float64", "digital_affinity": "float64",
                       "true_income": "float64", "open_month_index": "int64",
                       **{f"p_{kind}_{k}m_at_entry": "float64"
                          for kind in ("voluntary", "churn") for k in ENTRY_HORIZONS}},
    "campaign_effects": {"customer_id": "string", "month": "timestamp[ns]", "treated": "bool", "arm": "string",
                         **{f"p_{arm}": "float64" for arm in (CONTROL, *OFFERS)}, "p_treated": "float64",
                         "true_effect": "float64"},
    "survival_truth": {"customer_id": "string", "month": "timestamp[ns]", "months_ahead": "int64",
                       "survival_any": "float64", "survival_voluntary": "float64"},
}


def month_ends(first: pd.Timestamp, offsets: np.ndarray) -> pd.DatetimeIndex:
    """Month-end dates `offsets` months after (negative: before) the month-end `first`."""
    ordinals = first.to_period("M").ordinal + np.asarray(offsets, dtype=np.int64)
    return pd.PeriodIndex.from_ordinals(ordinals, freq="M").to_timestamp(how="end").normalize()


def customers_frame(ids: np.ndarray, cust: dict, first: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
    """The customers table of a block: traits as the contract's categories, opening dates within the month."""
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


def monthly_frame(rows: list, ids: np.ndarray, months: pd.DatetimeIndex) -> pd.DataFrame:
    """The monthly table from the observed months' (month index, customer indices, columns), sorted by
    customer and month."""
    frame = {"customer_id": np.concatenate([ids[idx] for _, idx, _ in rows]),
             "month": np.concatenate([np.repeat(months[m].to_datetime64(), len(idx)) for m, idx, _ in rows])}
    for column in rows[0][2]:
        frame[column] = np.concatenate([values[column] for _, _, values in rows])
    monthly = pd.DataFrame(frame)
    order = np.lexsort((monthly["month"].to_numpy(), monthly["customer_id"].to_numpy()))
    return monthly.iloc[order].reset_index(drop=True)


def events_frame(ids, churn_dates, churn_type, reason) -> pd.DataFrame:
    """The churn_events table: churn month, type and reason (none for involuntary closures)."""
    types = np.asarray(CHURN_TYPES, dtype=object)
    reasons = np.asarray((*REASONS, None), dtype=object)
    return pd.DataFrame({"customer_id": ids, "churn_month": churn_dates, "churn_type": types[churn_type],
                         "reason": reasons[reason]})


def concat_or_empty(frames: list[pd.DataFrame], table: str) -> pd.DataFrame:
    """The `frames` of `table` as one, or an empty frame of the table's columns when there are none."""
    return pd.concat(frames, ignore_index=True) if frames else table_schema(table).empty_table().to_pandas()


def table_schema(table: str):
    """Arrow schema of an output table: the contract's for contract tables, ORACLE_TYPES for the oracle's."""
    import pyarrow as pa

    if table in TABLES:
        return arrow_schema(table)
    return pa.schema([(column, pa.type_for_alias(kind)) for column, kind in ORACLE_TYPES[table].items()])
