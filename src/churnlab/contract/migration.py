"""Moves between states (risk grades, lifecycle stages) from one cutoff to the next, as a row-share matrix.

Snapshots are quarterly (features.cutoff_every_months), so a move is cutoff to cutoff, not month to month.
A customer at one cutoff who has no row at the next has left the bank in between: the destination is
`exit_label`. Customers new at the later cutoff are not counted. Over several cutoffs, the moves of every
consecutive pair are pooled.
"""

import pandas as pd

EXIT = "left"


def _levels(values: pd.Series) -> list[str]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [str(c) for c in values.cat.categories]
    return sorted(str(v) for v in values.dropna().unique())


def _moves(before: pd.DataFrame, after: pd.DataFrame, *, key: str, state: str, exit_label: str) -> pd.DataFrame:
    pairs = before[[key, state]].merge(after[[key, state]], on=key, how="left", suffixes=("_from", "_to"))
    destination = pairs[f"{state}_to"].astype("object")
    return pd.DataFrame({"origin": pairs[f"{state}_from"].astype(str),
                         "destination": destination.where(destination.notna(), exit_label).astype(str)})


def migration_matrix(rows: pd.DataFrame, *, state: str, key: str = "customer_id", time: str = "cutoff",
                     exit_label: str = EXIT) -> pd.DataFrame:
    """Row shares of moving from each `state` at one `time` to each state (or `exit_label`) at the next.

    `rows` has one row per (key, time). Returns one row per starting state: `{state}_from`, `customers` (moves
    counted, pooled over consecutive pairs of times), then the share going to each state and to `exit_label`.
    """
    missing = [c for c in (key, state, time) if c not in rows.columns]
    if missing:
        raise KeyError(f"missing column(s) {missing} for the {state} migration matrix")
    times = sorted(rows[time].unique())
    if len(times) < 2:
        raise ValueError(f"a {state} migration matrix needs two {time}s, found {len(times)}")
    moves = pd.concat([_moves(rows[rows[time] == a], rows[rows[time] == b], key=key, state=state,
                              exit_label=exit_label) for a, b in zip(times, times[1:], strict=False)])
    levels = _levels(rows[state])
    counts = pd.crosstab(moves["origin"], moves["destination"])
    counts = counts.reindex(index=[s for s in levels if s in counts.index],
                            columns=[*levels, exit_label], fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    shares.insert(0, "customers", counts.sum(axis=1))
    shares.index.name = f"{state}_from"
    shares.columns.name = None
    return shares.reset_index()
