"""The simulated bank's retention offers and their true effect on each reason for leaving.

The menu is the actions catalogue of params.yaml `score.actions` (costs in `simulate.offer_costs`, EUR per
customer contacted, offer included). While an offer runs (`bank.EFFECT_MONTHS` months from the campaign month) it
multiplies the reason components of the monthly decision-to-leave hazard (`bank.hazard_components`):

- rate_match: price and competitor-offer components x (1 - 0.8 price sensitivity), at least x 0.2: it keeps
  rate-driven leavers, and does nothing for service-driven ones;
- fee_waiver: price component x 0.6 for mass-market customers, who pay full fees, x 0.9 for the others;
- complaint_recovery: service component x 0.35 after a complaint in the last three months, x 0.85 otherwise;
  price and competitor components untouched;
- digital_nudge: price, service and competitor components x 0.95 (a nudge, nearly free);
- relationship_manager_call: for affluent and private customers, service x 0.7 and price and competitor
  x (1 - 0.4 price sensitivity); for mass-market customers every component x 0.9.
- No offer changes the life-event component (a move, a death, a divorce).
- A customer who has already decided to leave (and is moving money out before the churn month) stays with
  probability SAVE_SHARE x the cut the offer brings to their hazard, each reason weighted by its share of it
  (`save_probability`): a rate match wins back up to 0.6 x 0.48 = 29 % of leavers with price sensitivity 0.6
  whose motives are all price, complaint recovery up to 0.6 x 0.65 = 39 % of complainers leaving over service.
- Annoyed customers (6 %, `bank.ANNOYED`) react badly to any contact: their service component x 1.8 while a
  phone or letter offer runs, x 1.4 for the app nudge (Ascarza, Iyengar and Schleicher 2016 found proactive
  contact raised churn among some customers of a wireless carrier).

Calibration (order of magnitude only, not a fit to any one bank): published randomised retention campaigns
lower churn in the contacted group by roughly 10-30 % relative, 1-5 percentage points absolute, with much larger
effects in the groups the offer fits and none or harmful effects elsewhere: Ascarza (2018, "Retention futility:
targeting high-risk customers might be ineffective", Journal of Marketing Research 55(1)) reports a campaign
effect of a few points concentrated in customers who were not the riskiest; Guelman, Guillen and Perez-Marin
(2015, "Uplift random forests", Cybernetics and Systems 46) an insurance retention uplift of ~2-3 points;
Lemmens and Gupta (2020, "Managing churn to maximize profits", Marketing Science 39(5)) effects of a few points
varying in sign across customers; Verbraken et al. (2013, after Neslin et al. 2006) an acceptance rate of
~30 % of contacted would-be churners. On the simulated campaigns the multipliers above give effects of that size
(reports/metrics/retention.json, `offers.campaign`).
"""

import numpy as np

from churnlab.contract.schema import REASONS

OFFERS = ("rate_match", "fee_waiver", "complaint_recovery", "digital_nudge", "relationship_manager_call")
CONTROL = "control"  # the campaign arm with no contact
NO_OFFER = -1  # state["offer"] of a customer without an offer in force
NUDGE = OFFERS.index("digital_nudge")
SAVE_SHARE = 0.6  # of an offer's cut in a reason's hazard, the chance it also turns round a decided leaver


def offer_multipliers(cust: dict, state: dict, *, month: int, annoyed: int) -> dict[str, np.ndarray]:
    """Multipliers of the price, service and competitor-offer hazard components from the offer each customer
    has in force in `month` (1 where none runs); `annoyed` is the response type that contact backfires on."""
    n = len(cust["open_month"])
    offer = np.where(state["treat_until"] >= month, state["offer"], NO_OFFER)
    price, service, competitor = np.ones(n), np.ones(n), np.ones(n)
    sens = cust["price_sens"]
    mass = cust["segment"] == 0
    complained = state["complaints_hist"].sum(axis=0) > 0
    cases = {
        "rate_match": (np.maximum(1 - 0.8 * sens, 0.2), 1.0, np.maximum(1 - 0.8 * sens, 0.2)),
        "fee_waiver": (np.where(mass, 0.6, 0.9), 1.0, 1.0),
        "complaint_recovery": (1.0, np.where(complained, 0.35, 0.85), 1.0),
        "digital_nudge": (0.95, 0.95, 0.95),
        "relationship_manager_call": (np.where(mass, 0.9, 1 - 0.4 * sens), np.where(mass, 0.9, 0.7),
                                      np.where(mass, 0.9, 1 - 0.4 * sens)),
    }
    for code, name in enumerate(OFFERS):
        on = offer == code
        p, s, c = (np.broadcast_to(x, n) for x in cases[name])
        price, service, competitor = (np.where(on, new, old) for new, old in ((p, price), (s, service),
                                                                              (c, competitor)))
    contacted = offer != NO_OFFER
    bad = contacted & (cust["response"] == annoyed)
    service = np.where(bad, np.where(offer == NUDGE, 1.4, 1.8), service)
    price = np.where(bad, 1.0, price)
    competitor = np.where(bad, 1.0, competitor)
    return {"price": price, "service": service, "competitor_offer": competitor}


def save_probability(cust: dict, state: dict, idx: np.ndarray, *, offer: int, parts: dict[str, np.ndarray],
                     month: int, annoyed: int) -> np.ndarray:
    """Probability that offer `offer` (index into OFFERS), made in `month`, keeps customers `idx` who already
    decided to leave: SAVE_SHARE x the cut the offer brings to their hazard, sum_r share_r x (1 - multiplier_r),
    with share_r each reason's share of the customer's hazard components `parts` (rows `idx`) at the campaign. A
    decision has mixed motives; the offer wins the customer back in proportion to the motives it answers (none of
    a life event's, none of an annoyed customer's)."""
    sub_cust = {k: cust[k][idx] for k in ("open_month", "price_sens", "segment", "response")}
    sub_state = {"complaints_hist": state["complaints_hist"][:, idx], "treat_until": np.full(len(idx), month),
                 "offer": np.full(len(idx), offer)}
    multipliers = offer_multipliers(sub_cust, sub_state, month=month, annoyed=annoyed)
    total = np.maximum(sum(parts[r] for r in REASONS), 1e-12)
    cut = sum(parts[r] / total * (1 - multipliers[r]) for r in REASONS if r in multipliers)
    return np.clip(SAVE_SHARE * cut, 0.0, 1.0)
