"""Where every stage reads and writes, relative to the project root (the folder holding dvc.yaml).

DVC runs each stage from the project root, so these relative paths resolve there; tests `chdir` into a
temporary copy. Only `main()` functions use these paths.
"""

from pathlib import Path

PARAMS = Path("params.yaml")

RAW = Path("data/raw")
CUSTOMERS = RAW / "customers.parquet"
MONTHLY = RAW / "monthly.parquet"
MARKET = RAW / "market.parquet"
CHURN_EVENTS = RAW / "churn_events.parquet"
CAMPAIGNS = RAW / "campaigns.parquet"

# Simulator ground truth. No feature may read these; only evaluation against the oracle does.
ORACLE = Path("data/oracle")
ORACLE_MONTHLY = ORACLE / "monthly_truth.parquet"
ORACLE_CUSTOMERS = ORACLE / "customer_truth.parquet"
ORACLE_EFFECTS = ORACLE / "campaign_effects.parquet"
ORACLE_SURVIVAL = ORACLE / "survival_truth.parquet"

PROCESSED = Path("data/processed")
SNAPSHOTS = PROCESSED / "snapshots.parquet"
LIFETIMES = PROCESSED / "lifetimes.parquet"
CLV = PROCESSED / "clv.parquet"

MODELS = Path("models")
REPORTS = Path("reports")
METRICS = REPORTS / "metrics"
PLOTS = REPORTS / "plots"
INDICATORS = REPORTS / "indicators.csv"

MLRUNS = Path("mlruns")
