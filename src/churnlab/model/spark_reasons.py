"""The early-warning list's reasons on Spark: TreeSHAP in Spark tasks, not on the driver (issue #14).

TreeSHAP costs each customer the champion's trees times their depth; at 20M customers it was projected to dominate
`score` on the driver (docs/scale.md). `reasons_on_spark` hands the scoring rows to Spark with their position and
runs `churnlab.model.reasons.reasons_of` in a `mapInPandas` task per Arrow batch: XGBoost's `pred_contribs` on the
batch, then the top reasons in the catalogue's words with their directions against the driver's medians. The
champion's ChurnModel travels to the tasks in the function's closure (a few MB, shipped once per task), and each
task runs XGBoost on one thread, as Spark runs one task per core. Only the reason columns and the position come
back, and the rows are put back in their order by it.

Same answers: a row's TreeSHAP values depend on that row alone, and `top_reasons` reads each row on its own, so any
split into batches and partitions gives the local engine's reasons and doubles (`tests/model/test_spark_reasons.py`;
the score stage's Spark test compares the whole list). The rows reach the tasks as `SparkScorer` hands them to the
UDF: categories as their text, which the model's own `prepare` turns back into its codes.
"""

import pandas as pd

from churnlab.model.churn import ChurnModel
from churnlab.model.reasons import reasons_of
from churnlab.model.spark_scoring import ROW, check_one_a_row, with_positions


def reason_schema(top: int) -> str:
    """The Spark schema of `top_reasons`' columns for `top` ranks, after the row's position."""
    ranks = [f"reason_{k} string, reason_{k}_feature string, reason_{k}_direction string, reason_{k}_shap double"
             for k in range(1, top + 1)]
    return ", ".join([f"{ROW} long", *ranks])


def reasons_on_spark(spark, model: ChurnModel, rows: pd.DataFrame, *, labels: dict[str, str], reference: pd.Series,
                     top: int = 3, partitions: int | None = None) -> pd.DataFrame:
    """`churnlab.model.reasons.reasons_of` of each row of the pandas frame `rows`, computed in Spark tasks on `spark`
    and returned in the rows' order, with their index. `partitions`: see `spark_scoring.with_positions`."""
    features = model.features
    top = min(top, len(features))  # top_reasons gives at most one rank a feature

    def explain(batches):
        for batch in batches:
            found = reasons_of(model, batch, labels=labels, reference=reference, top=top, threads=1)
            yield found.assign(**{ROW: batch[ROW].to_numpy()})

    frame = with_positions(spark, rows, features, partitions=partitions)
    found = frame.mapInPandas(explain, schema=reason_schema(top)).toPandas()
    check_one_a_row(found[ROW], len(rows), what="rows of reasons")
    return found.sort_values(ROW).drop(columns=ROW).set_index(rows.index)
