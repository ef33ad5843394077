"""The simulated bank's customer dynamics: who customers are, how they behave each month, and why they leave.

Used by `simulator.simulate`. One month of one block of customers is a vectorised step over numpy arrays, so
the same `step` drives both the observed history and the oracle's forward Monte Carlo paths.

The monthly decision-to-leave hazard is the sum of four reason components (price, service, competitor offer,
life event); each reason's share of the hazard is the probability it is the latent reason. Observable drivers
scale them (sizes are monthly log-hazard effects):

- tenure: +1.1 x exp(-tenure / 6 months), i.e. three times the hazard in the first month, fading by a year;
- products: -0.28 per product above two; payroll account: -0.55;
- complaints in the last 3 months: +0.6 each (capped at 4), service contacts: +0.06 each (capped at 10);
- price: rate-sensitive customers with high deposits react to the competitor spread;
- competitor offer: proportional to the promotion index, three times stronger for rate-sensitive customers;
- macro: +0.12 per point of unemployment above 6 %; lifecycle decline: +0.8.

At the start of each month a customer may decide to leave, with the hazard given the state at the end of the
month before. A customer who decides closes 3-5 months later (life events: that month), and from the month of
the decision "quietly quits": deposits, investments, transactions and logins fall each month. Dormant
customers (no transaction for 6 months) are closed by the bank with probability 0.25 a month (involuntary
churn).
"""

import numpy as np

from churnlab.contract.schema import CHANNELS, EDUCATION, OCCUPATIONS, REASONS
from churnlab.data.simulator.offers import NO_OFFER, offer_multipliers

REGIONS = ("capital", "north", "south", "east", "west")
LEAVE_DELAYS = np.array([3, 4, 5])  # months from decision to churn month (inclusive), non-life reasons
DORMANT_MONTHS = 6  # months without a transaction before the bank may close the account
DORMANT_CLOSE_PROB = 0.25
EFFECT_MONTHS = 6  # how long a retention offer changes the hazard (simulator.offers)
PRODUCTS = ("has_savings", "has_card", "has_loan", "has_invest", "has_insurance")  # besides the current account
ANNOYED = 2  # response type: contact backfires (simulator.offers)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def draw_customers(rng: np.random.Generator, n: int, *, n_months: int, existing_share: float,
                   max_prior_tenure_months: int) -> dict[str, np.ndarray]:
    """Static attributes (observable and latent) of `n` customers; `open_month` < 0 means before the window."""
    existing = rng.random(n) < existing_share
    prior = np.minimum(np.ceil(rng.exponential(60.0, n)), max_prior_tenure_months)
    open_month = np.where(existing, -prior, rng.integers(0, n_months, n)).astype(np.int64)
    occupation = rng.choice(len(OCCUPATIONS), n, p=[0.62, 0.12, 0.14, 0.07, 0.05])
    age = np.clip(np.where(occupation == 2, rng.normal(70, 6, n),
                           np.where(occupation == 3, rng.normal(21, 2, n), rng.normal(42, 11, n))), 18, 95)
    education = rng.choice(len(EDUCATION), n, p=[0.2, 0.45, 0.35])
    log_income = (7.6 + 0.25 * education + 0.2 * (occupation == 1) - 0.5 * (occupation == 3)
                  - 0.6 * (occupation == 4) + 0.008 * np.minimum(age - 18, 35) + rng.normal(0, 0.45, n))
    income = np.exp(log_income)
    wealth = rng.lognormal(0, 0.8, n)
    segment = np.where(income * wealth > 9000, 2, np.where(income * wealth > 3800, 1, 0))
    channel = rng.choice(len(CHANNELS), n, p=[0.45, 0.35, 0.12, 0.08])
    # Rate sensitivity follows what a bank sees (segment, online channel, wealth in the balances), with a
    # little idiosyncratic noise: the hazard should depend mostly on observable behaviour.
    price_sens = _sigmoid(-1.3 + 0.8 * (segment == 1) + 1.1 * (segment == 2) + 0.7 * (channel == 1)
                          + 0.5 * (wealth > 2) + rng.normal(0, 0.35, n))
    response = np.where(rng.random(n) < 0.06, ANNOYED, np.where(price_sens > 0.25, 1, 0))
    return {
        "open_month": open_month,
        "age0": age,  # age at the window start
        "gender": rng.integers(0, 2, n),
        "education": education,
        "education_known": rng.random(n) > 0.12,
        "income": income,
        "income_known": rng.random(n) > 0.18 + 0.1 * (segment == 0),
        "occupation": occupation,
        "region": rng.choice(len(REGIONS), n, p=[0.3, 0.2, 0.2, 0.15, 0.15]),
        "segment": segment,
        "channel": channel,
        "payroll0": rng.random(n) < 0.35 + 0.25 * (occupation == 0),
        "wealth": wealth,
        "engagement": rng.lognormal(0, 0.6, n) * np.where(rng.random(n) < 0.08, 0.04, 1.0),
        "digital": _sigmoid(1.2 - 0.05 * (age - 40) + 0.8 * (channel == 1) + rng.normal(0, 0.8, n)),
        "service_prone": rng.lognormal(0, 0.7, n),
        "price_sens": price_sens,
        "response": response,
    }


def initial_state(rng: np.random.Generator, cust: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Dynamic state of each customer in the month they first appear (opening month or window start)."""
    n = len(cust["open_month"])
    tenure = np.maximum(-cust["open_month"], 0)
    seasoned = np.minimum(tenure / 36.0, 1.0)
    income = cust["income"]
    state = {
        "has_savings": rng.random(n) < 0.25 + 0.35 * seasoned,
        "has_card": rng.random(n) < 0.3 + 0.3 * seasoned,
        "has_loan": rng.random(n) < 0.1 + 0.2 * seasoned,
        "has_invest": rng.random(n) < (0.05 + 0.25 * seasoned) * (1 + cust["segment"]),
        "has_insurance": rng.random(n) < 0.05 + 0.15 * seasoned,
        "payroll": cust["payroll0"].copy(),
        "decline": (tenure > 24) & (rng.random(n) < 0.08),
        "deposit": income * cust["wealth"] * rng.lognormal(0.7, 0.4, n) * (0.4 + 0.6 * seasoned),
        "invest": np.zeros(n),
        "loan": np.zeros(n),
        "card_limit": np.zeros(n),
        "complaints_hist": np.zeros((3, n)),  # complaints in the last three months (row 0 = latest)
        "contacts_hist": np.zeros((3, n)),
        "dormant": np.zeros(n),  # consecutive months without a transaction
        "incident": np.zeros(n),  # months left of a service incident
        "treat_until": np.full(n, -1),  # last month index at which a retention offer is in force
        "offer": np.full(n, NO_OFFER),  # index into offers.OFFERS of the last offer made
    }
    state["invest"] = np.where(state["has_invest"], income * cust["wealth"] * rng.lognormal(1.2, 0.7, n), 0.0)
    state["loan"] = np.where(state["has_loan"], income * rng.uniform(3, 25, n), 0.0)
    state["card_limit"] = np.where(state["has_card"], np.round(income * 1.5, -2) + 500, 0.0)
    return state


def n_products(state: dict[str, np.ndarray]) -> np.ndarray:
    """Products held: the current account plus savings, card, loan, investments and insurance."""
    return 1 + sum(state[k].astype(np.int64) for k in PRODUCTS)


def step(rng: np.random.Generator, cust: dict, state: dict, *, month: int, market: dict, leaving: np.ndarray,
         base_hazard: float, observe: bool = True) -> tuple[dict[str, np.ndarray] | None, dict[str, np.ndarray]]:
    """Advance every customer in `state` by one month (in place) and return (observed row, hazard components).

    `leaving` marks customers who already decided to leave (their activity runs off). Hazard components are
    monthly decision-to-leave probabilities by reason, given the state at the end of the month. With
    `observe=False` only the hazard drivers evolve and the row is None (the oracle's paths need no more).
    """
    n = len(cust["open_month"])
    tenure = np.maximum(month - cust["open_month"], 0)
    income = cust["income"]
    stage_growth = (tenure >= 6) & (tenure < 24)
    decline = state["decline"]
    # Lifecycle: mature customers drift into decline and sometimes recover.
    enter, leave_decline = rng.random(n) < np.where(tenure >= 24, 0.006, 0.0), rng.random(n) < 0.04
    state["decline"] = decline = (decline & ~leave_decline) | enter
    # Products: growth customers add, declining and leaving customers drop.
    add_p = np.where(leaving | decline, 0.0, np.where(stage_growth, 0.035, np.where(tenure < 6, 0.02, 0.008)))
    drop_p = np.where(leaving, 0.25, np.where(decline, 0.035, 0.004))
    for key, u in zip(PRODUCTS, rng.random((len(PRODUCTS), n)), strict=True):
        state[key] = np.where(state[key], u >= drop_p, u < add_p / 3)
    switch = rng.random(n)
    state["payroll"] = np.where(state["payroll"], switch >= np.where(leaving, 0.4, 0.003), switch < 0.003)
    # Deposits: log-AR(1) towards a target; recession and decline pull down; leavers move money out.
    unemp = market["unemployment"][month]
    target = income * cust["wealth"] * (2.0 + 1.5 * state["has_savings"]) * np.where(decline, 0.6, 1.0)
    pull = 0.15 * (np.log(target + 1) - np.log(state["deposit"] + 1)) - 0.01 * max(unemp - 6.0, 0.0)
    runoff = np.where(leaving, rng.uniform(0.35, 0.65, n), 1.0)
    state["deposit"] = (state["deposit"] + 1) * np.exp(pull + rng.normal(0, 0.08, n)) * runoff
    # Activity and service.
    prods = n_products(state)
    mu = (cust["engagement"] * (6.0 + 2.0 * prods) * (1.0 + 0.3 * state["payroll"])
          * np.where(decline, 0.6, 1.0) * np.where(leaving, 0.45, 1.0))
    tx = rng.poisson(mu)
    state["dormant"] = np.where(tx == 0, state["dormant"] + 1, 0)
    state["incident"] = np.where(rng.random(n) < 0.015, 3, np.maximum(state["incident"] - 1, 0))
    complaints = rng.poisson(0.012 * cust["service_prone"] * (1 + 6 * (state["incident"] > 0)))
    contacts = rng.poisson(0.1 + 1.2 * complaints + 0.04 * prods + 0.3 * (state["incident"] > 0))
    for key, new in (("complaints_hist", complaints), ("contacts_hist", contacts)):
        state[key] = np.vstack([new[None, :], state[key][:2]])
    hazards = hazard_components(cust, state, month=month, market=market, base_hazard=base_hazard)
    if not observe:  # the oracle's forward paths need only what drives the hazard
        return None, hazards
    # What the bank observes beyond the hazard drivers: loans, cards, investments, channels, fees, salary.
    new_loan = state["has_loan"] & (state["loan"] <= 0)
    state["loan"] = np.where(state["has_loan"], np.where(new_loan, income * rng.uniform(3, 25, n),
                                                         state["loan"] * 0.988), 0.0)
    card_floor = np.round(income * 1.5, -2) + 500
    state["card_limit"] = np.where(state["has_card"], np.maximum(state["card_limit"], card_floor), 0.0)
    inv_target = income * cust["wealth"] * 8.0 * np.where(decline, 0.7, 1.0)
    inv = np.where(state["has_invest"] & (state["invest"] <= 0), inv_target * 0.3, state["invest"])
    inv = inv * np.exp(0.05 * (np.log(inv_target + 1) - np.log(inv + 1)) + rng.normal(0.003, 0.03, n))
    state["invest"] = np.where(state["has_invest"], inv * np.where(leaving, 0.5, 1.0), 0.0)
    stress = 1 + 0.5 * decline + 0.05 * max(unemp - 6, 0)
    utilisation = np.where(state["has_card"], np.clip(rng.beta(2, 5, n) * stress, 0, 1.5), np.nan)
    fee_rate = np.where(cust["segment"] > 0, 0.3, 1.0)
    row = {
        "deposit_balance": np.round(state["deposit"], 2),
        "investment_balance": np.round(state["invest"], 2),
        "loan_balance": np.round(state["loan"], 2),
        "card_limit": state["card_limit"],
        "card_utilisation": np.round(utilisation, 4),
        "n_products": prods,
        "tx_count": tx,
        "tx_amount": np.round(tx * income * 0.04 * rng.lognormal(0, 0.3, n), 2),
        "digital_logins": rng.poisson(mu * cust["digital"] * 1.6 * np.where(leaving, 0.6, 1.0)),
        "branch_visits": rng.poisson(mu * (1 - cust["digital"]) * 0.12),
        "complaints": complaints,
        "service_contacts": contacts,
        "fees_paid": np.round((2.0 + 1.5 * prods + 0.03 * tx) * fee_rate, 2),
        "salary_inflow": np.round(np.where(state["payroll"], income * rng.uniform(0.97, 1.03, n), 0.0), 2),
    }
    return row, hazards


def hazard_components(cust: dict, state: dict, *, month: int, market: dict, base_hazard: float) -> dict:
    """Monthly decision-to-leave probability by latent reason, given the state at the end of `month`."""
    tenure = np.maximum(month - cust["open_month"], 0)
    offer = offer_multipliers(cust, state, month=month, annoyed=ANNOYED)  # the offer in force this month
    log_m = (1.1 * np.exp(-tenure / 6.0) - 0.28 * (n_products(state) - 2) - 0.55 * state["payroll"]
             + 0.8 * state["decline"] + 0.12 * (market["unemployment"][month] - 6.0))
    scale = base_hazard * np.exp(log_m)
    c3 = np.minimum(state["complaints_hist"].sum(axis=0), 4)
    s3 = np.minimum(state["contacts_hist"].sum(axis=0), 10)
    exposure = cust["price_sens"] * np.clip(state["deposit"] / 20000.0, 0, 3)
    spread = max(market["competitor_spread"][month], 0.0)
    promo = market["promo_index"][month]
    return {
        "price": scale * 0.35 * (1 + 2.5 * exposure * spread) * offer["price"],
        "service": scale * 0.3 * np.exp(0.6 * c3 + 0.06 * s3) * offer["service"],
        "competitor_offer": scale * 0.6 * promo * (1 + 3 * cust["price_sens"]) * offer["competitor_offer"],
        "life_event": np.full(len(tenure), base_hazard * 0.2) * (1 + (cust["age0"] > 70)),
    }


def total_hazard(parts: dict[str, np.ndarray]) -> np.ndarray:
    """The decision-to-leave probability: the sum of the reason components, capped at 0.9."""
    return np.minimum(sum(parts[r] for r in REASONS), 0.9)
