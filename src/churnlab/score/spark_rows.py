"""The score stage's snapshot rows on Spark: read where they lie, only keys and results on the driver (issue #14).

With `engine.name: spark` the stage reads the four cutoffs it needs (validation, test, the previous and the scoring
cutoff) twice: on the driver only their keys and labels (customer_id, cutoff, label, labeled: what the split, the
grade table and the list need), and with Spark the whole rows, from the snapshots' file or lake folder
(`core.lake_spark.spark_rows`). The ~45 indicator columns stay on Spark. `SparkRows` then answers `score.run`'s
three questions about any set of those keys, in the keys' order:

- `probability`: the champion's churn probability (`SparkScorer.score`, the `spark_udf`);
- `explain`: the top reasons (`model.spark_reasons.reasons_in_tasks`, TreeSHAP in Spark tasks);
- `medians`: the medians the reasons' directions compare with (`core.spark_values.medians_on_spark`, exact).

A set of keys is found on Spark as every row of its cutoffs when it holds all of them (a filter: the test, previous
and scoring cutoffs, usually the validation cutoffs too), else by a semi-join on (customer_id, the cutoff's date), so
each answer covers exactly the rows the local engine's frame holds (the split keeps only labelled validation rows, a
snapshot file's list leaves out customers who already churned), and the results come back keyed and are put in the
keys' order. Same answers as the local engine: the probabilities to 1e-12 (the UDF), the reasons and medians
exactly.
"""

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churnlab.core.spark_values import medians_on_spark
from churnlab.model.churn import ChurnModel
from churnlab.model.spark_reasons import reasons_in_tasks
from churnlab.model.spark_scoring import SparkScorer

log = logging.getLogger(__name__)
KEYS = ["customer_id", "cutoff_day"]  # a row's key on Spark: the id and the cutoff's date as text (YYYY-MM-DD)
COLUMNS = ["customer_id", "cutoff", "label", "labeled"]  # what the driver reads of each row


def keyed(keys: pd.DataFrame) -> pd.DataFrame:
    """`KEYS` of pandas snapshot rows (customer_id, cutoff), in their order."""
    return pd.DataFrame({"customer_id": keys["customer_id"].astype(str).to_numpy(),
                         "cutoff_day": pd.to_datetime(keys["cutoff"]).dt.strftime("%Y-%m-%d").to_numpy()})


def in_key_order(found: pd.DataFrame, keys: pd.DataFrame, *, what: str) -> pd.DataFrame:
    """The rows of `found` (with `KEYS` columns) in the order of the pandas `keys`, without the key columns;
    RuntimeError unless each key has exactly one."""
    ordered = keyed(keys).merge(found, on=KEYS, how="left", indicator=True)
    if len(found) != len(keys) or found.duplicated(KEYS).any() or (ordered["_merge"] != "both").any():
        raise RuntimeError(f"Spark returned {len(found)} {what} for {len(keys)} snapshot rows, not one a row")
    return ordered.drop(columns=[*KEYS, "_merge"])


@dataclass
class SparkRows:
    """Snapshot rows on Spark (`rows`, a Spark DataFrame with every column), the same rows' keys on the driver
    (`keys`: customer_id and cutoff of each, a pandas frame) and the champion's `scorer`; see the module docstring."""

    rows: Any
    keys: pd.DataFrame
    scorer: SparkScorer

    def __post_init__(self):
        from pyspark.sql import functions as F

        self.spark = self.scorer.spark
        self.rows = self.rows.withColumn("cutoff_day", F.to_date("cutoff").cast("string"))
        self.per_day = keyed(self.keys)["cutoff_day"].value_counts().to_dict()

    def at(self, keys: pd.DataFrame):
        """The Spark rows at the (customer_id, cutoff) of the pandas `keys` (distinct rows of `self.keys`): every row
        of their cutoffs when they are all of them (a filter), else a semi-join on `KEYS`."""
        from pyspark.sql import functions as F

        wanted = keyed(keys)
        days = sorted(wanted["cutoff_day"].unique())
        if len(wanted) == sum(self.per_day.get(day, 0) for day in days):
            return self.rows.where(F.col("cutoff_day").isin(days))
        return self.rows.join(self.spark.createDataFrame(wanted), on=KEYS, how="left_semi")

    def probability(self, keys: pd.DataFrame) -> np.ndarray:
        """The champion's churn probability of the row at each key, in the keys' order."""
        scored = self.scorer.score(self.at(keys)).select(*KEYS, "p_churn").toPandas()
        log.info("scored %d rows on Spark with %s", len(keys), self.scorer.model_uri)
        return in_key_order(scored, keys, what="scores")["p_churn"].to_numpy(dtype=float)

    def explain(self, model: ChurnModel, keys: pd.DataFrame, *, labels: dict[str, str], reference: pd.Series,
                top: int) -> pd.DataFrame:
        """`model.reasons.reasons_of` of the row at each key, computed in Spark tasks, in the keys' order and with
        their index."""
        found = reasons_in_tasks(model, self.at(keys).select(*KEYS, *model.features), keys=KEYS, labels=labels,
                                 reference=reference, top=top)
        log.info("explained %d rows in Spark tasks (TreeSHAP, top %d reasons)", len(keys), top)
        return in_key_order(found, keys, what="rows of reasons").set_index(keys.index)

    def medians(self, keys: pd.DataFrame, features: list[str]) -> pd.Series:
        """The median of each numeric one of `features` over the rows at `keys` (`model.reasons.reference_values`)."""
        medians = medians_on_spark(self.at(keys), features)
        log.info("medians of %d numeric features over %d rows on Spark (value counts)", len(medians), len(keys))
        return medians
