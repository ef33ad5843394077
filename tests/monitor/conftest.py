"""A tiny bank for the monitor tests: 40 customers over 16 months, a stand-in champion, quick settings.

Fixtures only (test modules cannot import this file by name: tests/conftest.py holds that name).
"""

from dataclasses import dataclass, field
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest
from frames import customer, month, months, tables

from churnlab.contract.snapshots import snapshot_at
from churnlab.contract.tables import connect, month_number
from churnlab.core.tracking import Champion
from churnlab.model.split import TimeSplit
from churnlab.monitor.stage import Settings

N_MONTHS = 16
TRAIN = (month(5), month(8))  # training cutoffs: months 9..15 are monitored
SPLIT = TimeSplit(TRAIN, (month(11),), month(12))
CHURN = {"definition": "closure", "dormancy_months": 3, "value_drop_pct": 50, "value_window_months": 3,
         "partial_drop": 1}


def bank_tables() -> dict[str, pd.DataFrame]:
    """Customer i holds 500 + 100 i in deposits; every third customer closes in month 4 + i % 12 (4..15)."""
    customers, monthly, events = [], [], []
    for i in range(40):
        cid = f"c{i:02d}"
        last = 4 + i % 12 if i % 3 == 0 else N_MONTHS - 1
        customers.append(customer(cid))
        monthly += months(cid, 0, last, deposit_balance=500.0 + 100 * i)
        if last < N_MONTHS - 1:
            events.append((cid, last, "voluntary_closure"))
    return tables(customers, monthly, events, n_months=N_MONTHS)


class DepositModel:
    """Stands in for the champion's pyfunc: p_churn = 1000 / (deposits + 2000), from the one column it declares."""

    metadata = SimpleNamespace(get_input_schema=lambda: SimpleNamespace(input_names=lambda: ["deposit_balance"]))

    def predict(self, rows: pd.DataFrame) -> pd.DataFrame:
        assert list(rows.columns) == ["deposit_balance"]  # only the signature's columns reach the model
        return pd.DataFrame({"p_churn": 1000 / (rows["deposit_balance"].to_numpy(float) + 2000)})


@dataclass
class Bank:
    """The tiny bank in DuckDB (`con`), its out-of-time split and label definition, and the months it covers."""

    con: duckdb.DuckDBPyConnection
    split: TimeSplit = SPLIT
    churn: dict = field(default_factory=lambda: dict(CHURN))
    horizon_months: int = 3

    def month(self, i: int) -> int:
        """Month number of month-end i (0 = the first month)."""
        return month_number(month(i))


@pytest.fixture
def bank():
    con = connect(bank_tables())
    yield Bank(con)
    con.close()


@pytest.fixture
def spark_tables(spark):
    """The tiny bank's contract tables as views of the Spark engine (the monitor stage's `con` on spark)."""
    from churnlab.core.engine import SparkSql

    return connect(bank_tables(), engine=SparkSql(spark))


@pytest.fixture
def reference(bank) -> pd.DataFrame:
    """The snapshot rows at the training cutoffs, as the features stage writes them."""
    last = bank.month(N_MONTHS - 1)
    return pd.concat([snapshot_at(bank.con, month_number(t), last_month=last, horizon_months=bank.horizon_months,
                                  **bank.churn)[0] for t in bank.split.train], ignore_index=True)


@pytest.fixture
def model() -> DepositModel:
    return DepositModel()


@pytest.fixture
def champion(model) -> Champion:
    return Champion(model, "churn-model", 3, "run-abc")


@pytest.fixture
def settings() -> Settings:
    """The monitor settings with a lax alpha and few draws: quick (the thresholds are not what these tests check)."""
    return Settings(every_months=1, bins=10, alpha=0.1, null_draws=200, min_psi=0.1, min_csi=0.1,
                    market_reference_months=12, min_drifting_features=3,
                    shock_indicators=["competitor_spread", "promo_index"], max_auc_drop=0.03, auc_draws=20,
                    auc_band_rows=100_000, ece_bins=5, recalibration_months=1)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
