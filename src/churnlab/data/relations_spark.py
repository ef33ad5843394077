"""The data contract's rules between tables, on Spark: `churnlab.contract.validation.relation_problems`, rule for
rule, in its words and order, for the contract source on Spark (`churnlab.data.contract_spark`).

Each rule is a join and a count; the driver receives the counts and the first three rows of a broken rule. A rule
whose columns are absent or mistyped is skipped (the table's own problems say why), as in the pandas rules.
"""

import functools

from pyspark.sql import Window
from pyspark.sql import functions as F

from churnlab.contract import validation
from churnlab.core.readers import mask
from churnlab.core.words import message
from churnlab.data.spark_rows import ROW, at_once, examples

ID = "_id"  # the id the rules compare: customer_id, or without its '.0' when the files' id types differ


def _is_dates(frame, column: str) -> bool:
    return frame is not None and dict(frame.dtypes).get(column) == "timestamp"


def _whole(column):
    """Ids with a trailing '.0' dropped ('1234.0' -> '1234'), as `validation._whole`."""
    return F.regexp_replace(column, r"^([+-]?\d+)\.0+$", "$1")


def _month_end(column: str):
    """The timestamp moved forward to its month's last day, its time kept (pandas' `+ MonthEnd(0)`)."""
    return F.expr(f"timestampadd(DAY, datediff(last_day(`{column}`), to_date(`{column}`)), `{column}`)")


def _month_number(column: str):
    return F.year(column) * 12 + F.month(column) - 1


def _unknown(ids: dict) -> dict:
    """Per table but customers: its rows whose id is present and has no row in customers."""
    known = ids["customers"].select(ID)  # an anti join needs no distinct ids (nor a shuffle to make them)
    return {t: f.where(F.col(ID).isNotNull()).join(known, ID, "left_anti") for t, f in ids.items() if t != "customers"}


def _known_ids(ids: dict, where, errors: dict, language: str) -> dict:
    """Unknown ids, or the files' id types differing ('1234.0' against '1234'), as `validation._known_ids`;
    returns the tables with the ids the other rules compare."""
    unknown = _unknown(ids)
    tagged = [u.select(F.lit(t).alias("_table")) for t, u in unknown.items()]
    counts = dict(tuple(r) for r in functools.reduce(lambda a, b: a.unionAll(b), tagged).groupBy("_table")
                  .count().collect())  # one job for every table
    counts = {t: counts.get(t, 0) for t in unknown}
    if not any(counts.values()):
        return ids
    whole = {t: f.withColumn(ID, _whole(F.col(ID))) for t, f in ids.items()}
    known = whole["customers"].select(F.col(ID).alias("_whole"))
    matched = False
    for t, u in unknown.items():
        if not counts[t]:
            continue
        same = u.withColumn("_whole", _whole(F.col(ID))).join(known, "_whole", "left_semi")
        first = same.orderBy(ROW).select("customer_id", "_whole").first()
        if first is None:
            continue
        matched = True
        example, common = first
        twin = whole["customers"].where(F.col(ID) == common).orderBy(ROW).select("customer_id").first()[0]
        here, there = ("id_decimals", "id_whole") if str(example) != common else ("id_whole", "id_decimals")
        errors[t].append(message("id_types", language, file=where(t), customers=where("customers"),
                                 count=same.select("customer_id").distinct().count(), here=message(here, language),
                                 there=message(there, language), example=mask(example), twin=mask(twin)))
    if matched:
        ids, unknown = whole, _unknown(whole)
    for t, u in unknown.items():
        found = u.agg(F.count(F.lit(1)), F.countDistinct("customer_id")).first()
        if not found[0]:
            continue
        firsts = u.groupBy("customer_id").agg(F.min(ROW).alias("_first")).orderBy("_first").limit(3).collect()
        shown_ids = [(r[0], [row for row, _ in examples(u, F.col("customer_id") == r[0], [], limit=3)])
                     for r in firsts]
        errors[t].append(validation.unknown_ids_problem(shown_ids, count=int(found[1]), rows=int(found[0]),
                                                        customers=where("customers", True), language=language))
    return ids


def _first_by_id(frame, column: str, name: str):
    """`column` of each id's first row (rows without an id left out), as `validation._by_id`."""
    return frame.where(F.col(ID).isNotNull()).groupBy(ID).agg(F.min_by(column, ROW).alias(name))


def _broken(frame, rules: list[tuple], columns: list[str], language: str) -> list[str]:
    """'<rule> in N row(s), e.g. data row ...' for each (rule text, condition) that `frame` breaks (one job counts)."""
    counts = frame.agg(*[F.sum(F.when(condition, 1).otherwise(0)) for _, condition in rules]).first()
    return [message("rule_rows", language, rule=rule, count=int(count),
                    examples=validation.show_rows(examples(frame, condition, columns), language))
            for (rule, condition), count in zip(rules, counts, strict=True) if count]


def month_gaps(monthly, language: str = "en", limit: int = 3) -> tuple[int, int, str]:
    """Customers whose monthly rows skip a month: how many, the month-ends missing in all, and examples (each
    customer's first gap, customers in the order they first appear), as `validation.month_gaps`."""
    pairs = (monthly.where(F.col(ID).isNotNull() & F.col("month").isNotNull())
             .groupBy(ID, _month_number("month").alias("_n"))
             .agg(F.min(ROW).alias("_row"), F.min_by("customer_id", ROW).alias("_raw")))
    order = Window.partitionBy(ID).orderBy("_n")
    steps = (pairs.withColumns({"_prev": F.lag("_n").over(order), "_prev_row": F.lag("_row").over(order),
                                "_prev_raw": F.lag("_raw").over(order)}).where(F.col("_n") - F.col("_prev") > 1))
    customers, months = steps.agg(F.countDistinct(ID), F.sum(F.col("_n") - F.col("_prev") - 1)).first()
    if not customers:
        return 0, 0, ""
    appears = monthly.where(F.col(ID).isNotNull()).groupBy(ID).agg(F.min(ROW).alias("_first"))
    gaps = steps.groupBy(ID).agg(F.min_by(F.struct("_prev", "_n", "_prev_row", "_row", "_prev_raw"), "_n").alias("g"))
    found = gaps.join(appears, ID).orderBy("_first").limit(limit).select("g.*").collect()
    text = "; ".join(validation.month_gap_example(g["_prev_raw"], g["_prev"], g["_n"], before=g["_prev_row"],
                                                  after=g["_row"], language=language) for g in found)
    return int(customers), int(months), text


def relation_problems(tables: dict, sources: dict[str, str] | None = None,
                      language: str = "en") -> tuple[dict[str, list[str]], list[str]]:
    """The cross-table rules on Spark DataFrames (typed, with `ROW`): errors by table, and warnings; the same
    text as `validation.relation_problems` gives for the same tables."""
    sources = sources or {}

    def where(table: str, named: bool = False) -> str:
        return f"{table} ({sources[table]})" if named and sources.get(table) else sources.get(table) or table

    errors, warnings = {t: [] for t in tables}, []
    ids = {t: f.withColumn(ID, F.col("customer_id")) for t, f in tables.items()
           if t != "market" and "customer_id" in f.columns}
    if "customers" not in ids:
        return errors, warnings
    ids = _known_ids(ids, where, errors, language)
    customers, monthly, market = ids["customers"], ids.get("monthly"), tables.get("market")
    events, campaigns = ids.get("churn_events"), ids.get("campaigns")
    opened = _first_by_id(customers, "open_date", "_opened") if _is_dates(customers, "open_date") else None
    churned = _first_by_id(events, "churn_month", "_churned") if _is_dates(events, "churn_month") else None

    def monthly_rules() -> list[str]:
        rules, joined = [], monthly
        if opened is not None:
            joined = joined.join(opened, ID, "left")
            rules.append((message("month_before_open", language, customers=where("customers", True)),
                          F.col("month") < _month_end("_opened")))
        if churned is not None:
            joined = joined.join(churned, ID, "left")
            rules.append((message("month_after_churn", language, events=where("churn_events", True)),
                          F.col("month") > F.col("_churned")))
        if _is_dates(market, "month"):
            first, last = market.agg(F.min("month").cast("timestamp_ntz"), F.max("month").cast("timestamp_ntz")).first()
            if first is not None:
                rules.append((message("month_outside_market", language, market=where("market", True),
                                       first=first.date(), last=last.date()),
                               (F.col("month") < F.lit(str(first)).cast("timestamp"))  # text: read in UTC
                               | (F.col("month") > F.lit(str(last)).cast("timestamp"))))
        return _broken(joined, rules, ["customer_id", "month"], language) if rules else []

    def gaps() -> list[str]:
        gapped, missing, text = month_gaps(monthly, language)
        return [message("month_gaps", language, file=where("monthly"), count=gapped, months=missing,
                        examples=text)] if gapped else []

    def without_months() -> list[str]:
        alone = customers.where(F.col(ID).isNotNull()).join(monthly.select(ID), ID, "left_anti")
        count = alone.count()
        return [message("no_monthly_rows", language, file=where("customers"), count=count,
                        monthly=where("monthly", True), examples=validation.show_rows(
                            examples(alone, F.lit(True), ["customer_id"]), language))] if count else []

    def churn_before_open() -> list[str]:
        rule = message("churn_before_open", language, customers=where("customers", True))
        return _broken(events.join(opened, ID, "left"), [(rule, F.col("churn_month") < _month_end("_opened"))],
                       ["customer_id", "churn_month"], language)

    def campaign_after_churn() -> list[str]:
        after = campaigns.join(churned, ID, "left").where(F.col("month") > F.col("_churned"))
        count = after.count()
        return [message("campaign_after_churn", language, file=where("campaigns"),
                        events=where("churn_events", True), count=count, examples=validation.show_rows(
                            examples(after, F.lit(True), ["customer_id", "month"]), language))] if count else []

    dated = monthly is not None and _is_dates(monthly, "month")
    rules = {  # (rule, whether it applies, errors of this table or None for warnings), in the pandas rules' order
        "monthly": (monthly_rules, dated, "monthly"), "gaps": (gaps, dated, None),
        "without_months": (without_months, monthly is not None, None),
        "churn_before_open": (churn_before_open, churned is not None and opened is not None, "churn_events"),
        "campaign_after_churn": (campaign_after_churn, churned is not None and campaigns is not None
                                 and _is_dates(campaigns, "month"), None)}
    found = at_once({name: rule for name, (rule, applies, _) in rules.items() if applies})
    for name, lines in found.items():
        (errors[rules[name][2]] if rules[name][2] else warnings).extend(lines)
    return errors, warnings
