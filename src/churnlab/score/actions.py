"""The retention actions catalogue and the recommendation of one action per customer.

Each action (params.yaml `score.actions`) has a cost (EUR per customer contacted, offer included), a contact
channel, the reasons it addresses (`reasons`: a snapshot feature name, matching that feature whatever its
direction, or "feature:direction", e.g. "fees_3m:up", matching only that direction: a fee waiver answers high fees,
not low ones), and a response model: the relative reduction of the churn probability it brings when one of those
reasons is among the customer's top reasons (`response`), and otherwise (`response_unmatched`, 0 unless the
action helps whatever the reason). An action may be
limited to some bank segments (`segments`; e.g. only affluent and private customers have a relationship manager);
where the data hold no segment (a snapshot file without one), such an action is offered to no one. An action
whose reasons name no feature of the model (e.g. the bank's indicators on a snapshot file) matches no customer
and can only act through `response_unmatched` (`actions_without_reasons` lists them).

For a customer with churn probability p, customer lifetime value CLV and response r, an action is worth

    expected benefit = p * CLV * r   (the churn it prevents, valued at the CLV that would be lost)
    expected net benefit = expected benefit - cost

and the recommendation is the eligible action with the highest net benefit if that is positive, else "no action".

The response rates are assumptions (params), not measurements: every row with an action says so in `action_basis`
(the code "assumed"; the early-warning list adds its words, `action_basis_text`). Where the data
hold a randomised multi-arm campaign, the retention stage (which runs after score) learns each offer's effect from it
and writes the measured choice per customer to reports/retention/offers.csv, keyed by the same pseudonymous id.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

NO_ACTION = "no action"
ASSUMED = "assumed"  # action_basis: the response rates are params, not measured (words.yaml action_basis)


@dataclass(frozen=True)
class Action:
    """One catalogue entry."""

    name: str
    cost: float
    channel: str
    response: float
    reasons: tuple[str, ...] = ()
    response_unmatched: float = 0.0
    segments: tuple[str, ...] = field(default=())  # empty: every segment

    def __post_init__(self):
        for what, value in (("response", self.response), ("response_unmatched", self.response_unmatched)):
            if not 0 <= value <= 1:
                raise ValueError(f"score.actions.{self.name}.{what} = {value}: a relative reduction must be in [0, 1]")
        if self.cost < 0:
            raise ValueError(f"score.actions.{self.name}.cost = {self.cost} must be >= 0")


def catalogue(actions: dict[str, dict]) -> list[Action]:
    """The catalogue from params: {name: {cost, channel, response, reasons, response_unmatched, segments}}.

    A misspelt key raises TypeError naming the action.
    """
    entries = []
    for name, spec in actions.items():
        spec = dict(spec)
        try:
            entries.append(Action(name=name, reasons=tuple(spec.pop("reasons", ()) or ()),
                                  segments=tuple(spec.pop("segments", ()) or ()), **spec))
        except TypeError as err:
            raise TypeError(f"score.actions.{name}: {err}") from None
    return entries


def actions_without_reasons(actions: list[Action], features: list[str]) -> list[str]:
    """Names of the actions with reasons, none of which names one of `features` (they can match no customer)."""
    return [a.name for a in actions if a.reasons and not {r.split(":")[0].strip() for r in a.reasons} & set(features)]


def responses(reasons: pd.DataFrame, segment: pd.Series | None, actions: list[Action]) -> pd.DataFrame:
    """Relative reduction of churn probability of each action (columns) for each customer (rows).

    `reasons` holds the top reasons as `reason_k_feature` and `reason_k_direction` columns (missing allowed), as
    `churnlab.model.reasons.top_reasons` returns them. An action outside a customer's eligible segments responds 0, and
    so does an action limited to segments when `segment` is None (the data hold none).
    """
    ranks = sorted(c.removesuffix("_feature") for c in reasons.columns if c.endswith("_feature"))
    if not ranks:
        raise KeyError("reasons: no reason_k_feature column to match actions on")
    features = reasons[[f"{r}_feature" for r in ranks]].astype("object").to_numpy()
    directions = reasons.reindex(columns=[f"{r}_direction" for r in ranks]).astype("object").to_numpy()
    keys = np.char.add(np.char.add(features.astype(str), ":"), directions.astype(str))
    out = {}
    for action in actions:
        matched = (np.isin(features, [r for r in action.reasons if ":" not in r])
                   | np.isin(keys, [r.replace(" ", "") for r in action.reasons if ":" in r])).any(axis=1)
        r = np.where(matched, action.response, action.response_unmatched)
        if action.segments:
            eligible = segment.astype(str).isin(action.segments).to_numpy() if segment is not None else False
            r = np.where(eligible, r, 0.0)
        out[action.name] = r
    return pd.DataFrame(out, index=reasons.index)


def recommend(p: pd.Series, clv: pd.Series, reasons: pd.DataFrame, segment: pd.Series | None,
              actions: list[Action]) -> pd.DataFrame:
    """The best action per customer: action, channel, cost, expected_benefit and expected_net_benefit.

    Customers for whom no action's expected benefit exceeds its cost (or without a CLV) get "no action" with
    zero cost, benefit and net benefit.
    """
    if not actions:
        raise ValueError("score.actions is empty: the catalogue needs at least one action")
    r = responses(reasons, segment, actions)
    saved = (p.astype(float) * clv.astype(float)).to_numpy()[:, None]
    benefit = saved * r.to_numpy()
    costs = np.array([a.cost for a in actions], dtype=float)
    net = np.nan_to_num(benefit - costs, nan=-np.inf)  # no CLV: no benefit to weigh against the cost
    rows, best = np.arange(len(p)), net.argmax(axis=1)
    act = net[rows, best] > 0
    names = np.array([a.name for a in actions] + [NO_ACTION], dtype=object)
    channels = np.array([a.channel for a in actions] + [""], dtype=object)
    pick = np.where(act, best, len(actions))
    return pd.DataFrame({
        "action": names[pick], "action_channel": channels[pick],
        "action_cost": np.where(act, costs[best], 0.0),
        "expected_benefit": np.where(act, benefit[rows, best], 0.0),
        "expected_net_benefit": np.where(act, net[rows, best], 0.0),
        "action_basis": np.where(act, ASSUMED, ""),
    }, index=p.index)
