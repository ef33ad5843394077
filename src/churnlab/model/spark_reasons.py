"""The early-warning list's reasons on Spark: TreeSHAP in Spark tasks, not on the driver (issue #14).

TreeSHAP costs each customer the champion's trees times their depth; at 20M customers it was projected to dominate
`score` on the driver (docs/scale.md). `reasons_in_tasks` runs `churnlab.model.reasons.reasons_of` in a
`mapInPandas` task per Arrow batch of a Spark DataFrame of snapshot rows: XGBoost's `pred_contribs` on the batch,
then the top reasons in the catalogue's words with their directions against the driver's medians. The champion's
ChurnModel travels to the tasks in the function's closure (a few MB, shipped once per task; Spark Connect has no
`SparkContext.broadcast`), and each task runs XGBoost on one thread, as Spark runs one task per core. Only the
rows' key columns and the reason columns come back. `reasons_on_spark` does the same for a pandas frame, handed to
Spark with each row's position and put back in order by it (`score.spark_rows` keys the stage's rows by customer
and cutoff instead).

Same answers: a row's TreeSHAP values depend on that row alone, and `top_reasons` reads each row on its own, so any
split into batches and partitions gives the local engine's reasons and doubles (`tests/model/test_spark_reasons.py`;
the score stage's Spark test compares the whole list). Categories reach the tasks as text, which the model's own
`prepare` turns back into its codes.
"""

import pandas as pd

from churnlab.model.churn import ChurnModel
from churnlab.model.reasons import reasons_of
from churnlab.model.spark_scoring import ROW, check_one_a_row, with_positions


def reason_schema(top: int) -> str:
    """The Spark schema of `top_reasons`' columns for `top` ranks."""
    return ", ".join(f"reason_{k} string, reason_{k}_feature string, reason_{k}_direction string, "
                     f"reason_{k}_shap double" for k in range(1, top + 1))


def reasons_in_tasks(model: ChurnModel, frame, *, keys: list[str], labels: dict[str, str], reference: pd.Series,
                     top: int = 3, partitions: int | None = None) -> pd.DataFrame:
    """`churnlab.model.reasons.reasons_of` of each row of the Spark `frame` (its `keys` columns and the model's
    features), computed in Spark tasks: a pandas frame of the `keys` and the reason columns, in no particular order.
    The rows are first spread over `partitions` tasks (None: `spark.sql.shuffle.partitions`), so every core works
    even where the rows were read as one file split."""
    top = min(top, len(model.features))  # top_reasons gives at most one rank a feature
    frame = frame.repartition(partitions or int(frame.sparkSession.conf.get("spark.sql.shuffle.partitions")))
    types = dict(frame.dtypes)

    def explain(batches):
        for batch in batches:
            found = reasons_of(model, batch, labels=labels, reference=reference, top=top, threads=1)
            yield pd.concat([batch[keys].reset_index(drop=True), found.reset_index(drop=True)], axis=1)

    schema = ", ".join([*(f"`{k}` {types[k]}" for k in keys), reason_schema(top)])
    return frame.mapInPandas(explain, schema=schema).toPandas()


def reasons_on_spark(spark, model: ChurnModel, rows: pd.DataFrame, *, labels: dict[str, str], reference: pd.Series,
                     top: int = 3, partitions: int | None = None) -> pd.DataFrame:
    """`reasons_in_tasks` of the pandas frame `rows`, handed to Spark with their positions, returned in the rows'
    order with their index. `partitions`: see `reasons_in_tasks`."""
    found = reasons_in_tasks(model, with_positions(spark, rows, model.features), keys=[ROW], labels=labels,
                             reference=reference, top=top, partitions=partitions)
    check_one_a_row(found[ROW], len(rows), what="rows of reasons")
    return found.sort_values(ROW).drop(columns=ROW).set_index(rows.index)
