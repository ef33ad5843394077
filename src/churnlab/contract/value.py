"""What a customer earns the bank each month, from the balances and fees in the contract tables.

The survival stage turns it into lifetime value; segment and retention use it directly. Margins (annual rates)
come from params `survival.clv.margins`.
"""

import pandas as pd

from churnlab.core.checks import check_columns

MARGIN_COLUMNS = ("deposit_balance", "investment_balance", "loan_balance", "fees_3m")


def monthly_margin(covariates: pd.DataFrame, *, deposit_margin: float, investment_fee_rate: float,
                   loan_margin: float) -> pd.Series:
    """EUR per month the bank earns on a customer: annual rates on balances / 12 plus the average monthly fee."""
    check_columns(covariates, MARGIN_COLUMNS, table="covariates")
    c = covariates[list(MARGIN_COLUMNS)].astype("float64").fillna(0.0)
    annual = (c["deposit_balance"] * deposit_margin + c["investment_balance"] * investment_fee_rate
              + c["loan_balance"] * loan_margin)
    return (annual / 12 + c["fees_3m"] / 3).rename("monthly_margin")
