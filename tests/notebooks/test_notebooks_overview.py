"""notebooks/1.0-customer-overview.ipynb: runs on the small pipeline, and on a snapshot file it describes the file."""

import json
import re

import pandas as pd
import pytest
import yaml
from notebook_runner import rendered

NAME = "1.0-customer-overview.ipynb"


@pytest.mark.slow
def test_overview_notebook_runs_on_the_small_pipeline(pipeline_dir):
    text, shown = rendered(pipeline_dir, NAME)  # the report stage's page: the notebook ran there
    match = re.search(r"annual churn rate: (\d+\.\d) %", text)
    assert match, f"the notebook did not print the annual churn rate; it printed:\n{text[:3000]}"
    reported = json.loads((pipeline_dir / "reports" / "metrics" / "data.json").read_text())["annual_churn_rate"]
    assert float(match.group(1)) == pytest.approx(100 * reported, abs=0.06)  # same definition, rounded to 0.1
    simulate = yaml.safe_load((pipeline_dir / "params.yaml").read_text())["simulate"]
    shock = re.search(r"shock month: \d{4}-\d{2} \(month (\d+) of (\d+)\)", text)
    assert shock, "the notebook detected no shock month"
    assert (int(shock.group(1)), int(shock.group(2))) == (simulate["shock_month"] + 1, simulate["n_months"])
    assert shown >= 10, f"expected a figure per chart, found {shown}"


@pytest.mark.slow
def test_overview_notebook_describes_a_snapshot_file_and_skips_the_monthly_sections(snapshot_report_dir):
    text, shown = rendered(snapshot_report_dir, NAME)  # the report stage's page: the notebook ran there
    assert "Data source: snapshot (one row per customer at a single date" in text
    for section in ("Section 1 (customers over the window)", "Section 2 (balances and activity)",
                    "Section 3 (churn by month and by type)", "Section 4 (the shock)", "Section 5 (quiet quitting)",
                    "Section 6 (past retention campaigns)"):
        assert f"{section} skipped: the snapshot source is one row per customer at a single date" in text, section
    assert "window:" not in text and "annual churn rate" not in text  # no monthly figure is made up
    data = json.loads((snapshot_report_dir / "reports" / "metrics" / "data.json").read_text())
    assert re.search(rf"customers in the file:\s+{data['customers']:,} ", text), text[:3000]
    assert f"churn rate: {data['churn_rate']:.1%} (data.json reports {data['churn_rate']:.1%})" in text
    raw = pd.read_csv(snapshot_report_dir / "Churn_Modelling.csv")
    for column in ("geography", "gender", "num_of_products", "has_cr_card", "is_active_member"):
        assert f"churn rate by {column}:" in text
    germany = raw.loc[raw["Geography"] == "Germany", "Exited"]  # a known answer from the file itself
    assert re.search(rf"Germany\s+{germany.sum()}\s+{len(germany)}\s+{100 * germany.mean():.1f}", text)
    for column in ("credit_score", "age", "balance", "estimated_salary", "tenure_months"):  # the numeric columns
        assert re.search(rf"^{column}\s+\d", text, re.MULTILINE), column
    assert not any(str(i) in text for i in raw["CustomerId"]), "the notebook printed raw customer ids"
    assert not any(name in text for name in raw["Surname"].unique()), "the notebook printed surnames"
    assert shown == 2, f"expected the churn-by-level bars and the numeric histograms, found {shown}"
