"""The snapshot source: one row per customer with a churn flag becomes pseudonymous, typed, labelled rows."""

import logging

import pandas as pd
import pytest

from churnlab.contract.snapshot_file import (
    build_snapshot,
    infer_kind,
    is_personal,
    screen,
    snake_case,
    snapshot_lifetimes,
    snapshot_table,
)
from churnlab.core.checks import DataError
from churnlab.core.privacy import pseudonymise
from churnlab.core.readers import read_table

KEY = b"test-key"
PARAMS = {"key": KEY, "id_column": "CustomerId", "target": "Exited", "tenure": "Tenure"}


@pytest.fixture
def raw() -> pd.DataFrame:
    """Six customers shaped like Churn_Modelling.csv (two churners)."""
    return pd.DataFrame({
        "RowNumber": [1, 2, 3, 4, 5, 6],
        "CustomerId": [15634602, 15647311, 15619304, 15701354, 15737888, 15574012],
        "Surname": ["Hargrave", "Hill", "Onio", "Boni", "Mitchell", "Chu"],
        "CreditScore": [619, 608, 502, 699, 850, 645],
        "Geography": ["France", "Spain", "France", "France", "Spain", "Spain"],
        "Age": [42, 41, 42, 39, 43, 44],
        "Tenure": [2, 1, 8, 1, 2, 8],
        "Balance": [0.0, 83807.86, 159660.8, 0.0, 125510.82, 113755.78],
        "NumOfProducts": [1, 1, 3, 2, 1, 2],
        "HasCrCard": [1, 0, 1, 0, 1, 1],
        "Exited": [1, 0, 1, 0, 0, 0],
    })


def test_output_columns_types_and_label(raw):
    rows = build_snapshot(raw, **PARAMS)
    assert list(rows.columns) == ["customer_id", "label", "labeled", "tenure_months", "credit_score", "geography",
                                  "age", "balance", "num_of_products", "has_cr_card"]
    assert rows["label"].dtype == "Int8" and rows["label"].tolist() == [1, 0, 1, 0, 0, 0]
    assert rows["labeled"].all()
    assert rows["tenure_months"].tolist() == [24, 12, 96, 12, 24, 96]
    assert rows["geography"].dtype == "category"
    assert rows["num_of_products"].dtype == "category"  # integer codes with <= 5 levels
    assert rows["has_cr_card"].dtype == bool
    assert rows["credit_score"].dtype == "int64" and rows["balance"].dtype == "float64"


def test_ids_are_pseudonymised_with_the_key(raw):
    rows = build_snapshot(raw, **PARAMS)
    assert rows["customer_id"].tolist() == pseudonymise(raw["CustomerId"].astype(str), key=KEY).tolist()
    assert rows["customer_id"].str.fullmatch(r"p_[0-9a-f]{16}").all()
    other = build_snapshot(raw, **(PARAMS | {"key": b"other"}))
    assert not set(rows["customer_id"]) & set(other["customer_id"])


def test_personal_columns_never_pass(raw, caplog):
    with caplog.at_level(logging.WARNING):
        rows = build_snapshot(raw, **PARAMS)
    text = rows.astype(str).to_numpy().ravel().tolist()
    assert not set(text) & (set(raw["Surname"]) | set(raw["CustomerId"].astype(str)))
    assert "dropped column 'Surname'" in caplog.text and "dropped column 'RowNumber'" in caplog.text
    assert "Hargrave" not in caplog.text and "15634602" not in caplog.text


def test_changing_only_the_id_changes_only_customer_id(raw):
    moved = raw.assign(CustomerId=raw["CustomerId"] + 1)
    before, after = build_snapshot(raw, **PARAMS), build_snapshot(moved, **PARAMS)
    pd.testing.assert_frame_equal(before.drop(columns="customer_id"), after.drop(columns="customer_id"))
    assert not set(before["customer_id"]) & set(after["customer_id"])


def test_overrides_win(raw):
    rows = build_snapshot(raw, **PARAMS, feature_types={"NumOfProducts": "numeric", "Age": "categorical",
                                                        "HasCrCard": "categorical"})
    assert rows["num_of_products"].dtype == "int64"
    assert rows["age"].dtype == "category" and "42" in rows["age"].cat.categories
    assert rows["has_cr_card"].dtype == "category"


def test_declared_flag_with_other_values_is_an_error(raw):
    with pytest.raises(DataError, match=r"column 'Age' is declared a flag"):
        build_snapshot(raw, **PARAMS, feature_types={"Age": "flag"})


def test_unknown_kind_is_an_error(raw):
    with pytest.raises(DataError, match=r"feature_types \{'Age': 'number'\} must be one of"):
        build_snapshot(raw, **PARAMS, feature_types={"Age": "number"})


def test_drop_and_months_tenure(raw):
    rows = build_snapshot(raw, **PARAMS | {"tenure_unit": "months"}, drop=["CreditScore"])
    assert "credit_score" not in rows
    assert rows["tenure_months"].tolist() == raw["Tenure"].tolist()


def test_unknown_target_value_is_an_error(raw):
    raw.loc[2, "Exited"] = 2
    with pytest.raises(DataError, match=r"target column 'Exited' has value\(s\) \[2\] that are neither"):
        build_snapshot(raw, **PARAMS)


def test_target_with_one_class_is_an_error(raw):
    with pytest.raises(DataError, match=r"target column 'Exited' has one class only"):
        build_snapshot(raw.assign(Exited=0), **PARAMS)


def test_repeated_id_is_an_error_with_masked_ids(raw):
    raw.loc[5, "CustomerId"] = raw.loc[0, "CustomerId"]
    with pytest.raises(DataError, match=r"id column 'CustomerId' repeats 1 id\(s\).*'\*\*\*\*\*\*02': \[1, 6\]"):
        build_snapshot(raw, **PARAMS)


def test_misspelt_column_param_is_an_error(raw):
    with pytest.raises(DataError, match=r"names column\(s\) \['Exitted'\] not in the file"):
        build_snapshot(raw, **PARAMS | {"target": "Exitted"})


def test_text_target_and_missing_target(raw):
    raw["Exited"] = pd.Series(["Yes", "no", " YES ", None, "No", "no"], dtype=object)
    rows = build_snapshot(raw, **PARAMS, positive="yes", negative="no")
    assert rows["label"].tolist()[:3] == [1, 0, 1] and rows["label"].isna().tolist()[3]
    assert rows["labeled"].tolist() == [True, True, True, False, True, True]


def test_free_text_is_dropped_unless_declared(raw):
    raw["Comment"] = [f"note {i}" for i in range(6)]
    assert "comment" not in build_snapshot(raw, **PARAMS, max_levels=5)
    assert "comment" in build_snapshot(raw, **PARAMS, max_levels=5, feature_types={"Comment": "categorical"})


def test_reserved_name_is_an_error(raw):
    with pytest.raises(DataError, match=r"column 'Label' becomes 'label', which is reserved"):
        build_snapshot(raw.assign(Label=1.5), **PARAMS)


def test_helpers():
    assert snake_case("NumOfProducts") == "num_of_products" and snake_case("HasCrCard") == "has_cr_card"
    assert is_personal("Surname") and is_personal("first name") and is_personal("CustomerId")
    assert is_personal("e-mail") and is_personal("RowNumber") and not is_personal("Geography")
    assert infer_kind(pd.Series([1.0, 0.0, None]), max_code_levels=5) == "flag"
    assert infer_kind(pd.Series([1.5, 2.0]), max_code_levels=5) == "numeric"
    assert infer_kind(pd.Series(list(range(10))), max_code_levels=5) == "numeric"


@pytest.mark.shared_data
def test_churn_modelling_known_facts(shared_data):
    """Churn_Modelling.csv: 10,000 customers, 2,037 churners, France/Germany/Spain 5014/2509/2477."""
    raw = read_table(shared_data / "churn_modelling" / "Churn_Modelling.csv")
    rows = build_snapshot(raw, key=KEY, id_column="CustomerId", target="Exited", tenure="Tenure",
                          source="Churn_Modelling.csv")
    assert len(rows) == 10_000 and rows["customer_id"].is_unique
    assert int(rows["label"].sum()) == 2037 and rows["labeled"].all()
    assert rows["geography"].value_counts().to_dict() == {"France": 5014, "Germany": 2509, "Spain": 2477}
    assert rows["tenure_months"].between(0, 120).all()
    personal = set(raw["Surname"].astype(str)) | set(raw["CustomerId"].astype(str))
    for column in rows.columns:
        values = rows[column]
        assert not set(values.astype(str)) & personal, column
        if pd.api.types.is_numeric_dtype(values):
            assert not values.isin(raw["CustomerId"]).any(), column
    assert not {"surname", "customer_id_raw", "row_number"} & set(rows.columns)


def test_snapshot_table_has_one_cutoff_and_numbers_as_double(raw):
    rows = build_snapshot(raw, **PARAMS)
    table = snapshot_table(rows, as_of="2024-12-31")
    assert list(table.columns[:4]) == ["customer_id", "cutoff", "label", "labeled"]
    assert table["tenure_months"].tolist() == [24.0, 12.0, 96.0, 12.0, 24.0, 96.0]  # a feature, as in the simulator
    assert (table["cutoff"] == pd.Timestamp("2024-12-31")).all() and table["cutoff"].dtype == "datetime64[ns]"
    assert table["credit_score"].dtype == "float64" and str(table["label"].dtype) == "Int8"
    with pytest.raises(DataError, match="data.as_of '2024-12-15' must be a month-end"):
        snapshot_table(rows, as_of="2024-12-15")


def test_snapshot_lifetimes_take_whole_years_at_mid_year(raw):
    """Tenure 2, 1, 8, 1, 2, 8 years -> 30, 18, 102, 18, 30, 102 months; churners (rows 1 and 3) are events."""
    lifetimes = snapshot_lifetimes(build_snapshot(raw, **PARAMS), as_of="2024-12-31", tenure_unit="years")
    assert lifetimes["duration"].tolist() == [30, 18, 102, 18, 30, 102]
    assert lifetimes["event"].tolist() == [1, 0, 1, 0, 0, 0] and (lifetimes["entry_tenure"] == 0).all()
    assert lifetimes["churn_type"].tolist()[:2] == ["voluntary_closure", pd.NA]
    assert lifetimes["censor_reason"].tolist()[:2] == [pd.NA, "end_of_data"]
    scores = raw["CreditScore"].tolist()
    assert lifetimes["entry_credit_score"].tolist() == lifetimes["last_credit_score"].tolist() == scores
    in_months = build_snapshot(raw.assign(Tenure=[0, 5, 9, 1, 2, 3]), **PARAMS | {"tenure_unit": "months"})
    months = snapshot_lifetimes(in_months, as_of="2024-12-31", tenure_unit="months")
    assert months["duration"].tolist() == [1, 5, 9, 1, 2, 3]  # at least one month at risk


def test_the_screen_decides_by_content_as_well_as_by_name():
    """A yes/no `PhoneService` is a feature; phone numbers, e-mails and account numbers are not, whatever their
    column is called; `keep` overrules a false alarm."""
    n = 40
    frame = pd.DataFrame({
        "PhoneService": ["Yes", "No"] * (n // 2),
        "Contact": [f"+44 20 7946 {1000 + i}" for i in range(n)],
        "Remarks": [f"client{i}@example.org" for i in range(n)],
        "Ref": [40_000_000 + 7 * i for i in range(n)],
        "MonthlyCharges": [20.5 + i for i in range(n)],
        "Surname": [f"Name{i}" for i in range(n)],
    })
    assert screen(frame) == {"Contact": "its values are phone numbers",
                             "Remarks": "its values are e-mail addresses",
                             "Ref": "near-unique large integers: an account, card or customer number",
                             "Surname": "its name says personal data or an identifier"}
    assert "Ref" not in screen(frame, keep=["Ref"])


def test_a_name_match_on_a_tiny_column_is_still_dropped():
    """Four surnames are four distinct values: too few rows to call it a flag, so the name decides."""
    assert screen(pd.DataFrame({"Surname": ["Hill", "Onio", "Boni", "Chu"]})) == {
        "Surname": "its name says personal data or an identifier"}


def test_build_snapshot_keeps_a_flag_named_like_personal_data_and_honours_keep(raw):
    raw = raw.assign(PhoneService=["Yes", "No", "Yes", "No", "Yes", "No"])
    rows = build_snapshot(raw, **PARAMS)
    assert "phone_service" in rows and rows["phone_service"].dtype == "category"
    kept = build_snapshot(raw, **PARAMS, keep=["Surname"])
    assert "surname" in kept  # the user overruled the screen
    with pytest.raises(DataError, match=r"names column\(s\) \['Nope'\]"):
        build_snapshot(raw, **PARAMS, keep=["Nope"])


def test_a_few_repeated_surnames_are_still_personal():
    """Only a two-valued flag escapes the name rule: five surnames over many rows are still surnames."""
    frame = pd.DataFrame({"Surname": ["Hill", "Onio", "Boni", "Chu", "Mitchell"] * 20})
    assert screen(frame) == {"Surname": "its name says personal data or an identifier"}
