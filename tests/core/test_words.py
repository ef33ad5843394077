"""The words a reader sees: every label in both languages, p-values and infinities written out, clear errors."""

import numpy as np
import pandas as pd
import pytest

from churnlab.core.words import LANGUAGES, glossary, label, p_value_text, readable, word


def test_every_entry_has_both_languages_and_no_empty_word():
    for section in ("columns", "values"):
        for name, entry in glossary()[section].items():
            assert set(entry) == set(LANGUAGES), f"{section}.{name}"
            assert all(str(entry[lang]).strip() for lang in LANGUAGES), f"{section}.{name}"


def test_chinese_labels_hold_chinese_characters():
    for name, entry in glossary()["columns"].items():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in entry["zh"]), f"columns.{name}: {entry['zh']!r}"


@pytest.mark.parametrize(("p", "text"), [(3.49e-187, "< 0.001"), (0.0009, "< 0.001"), (0.001, "0.001"),
                                         (0.04567, "0.046"), (np.nan, "n/a")])
def test_p_values_are_written_as_a_reader_expects(p, text):
    assert p_value_text(p) == text


def test_readable_labels_columns_and_writes_out_p_values_infinities_and_flags():
    frame = pd.DataFrame({"covariate": ["age"], "hazard_ratio": [1.23456], "p": [3.49e-187],
                          "median_months": [np.inf], "violates": [True]}, index=pd.Index(["cox"], name="model"))
    shown = readable(frame)
    assert list(shown.columns) == ["Characteristic", "Hazard ratio", "p-value", "Median lifetime (months)",
                                   "Violates proportional hazards"]
    assert shown.iloc[0].tolist() == ["age", 1.235, "< 0.001", "not reached", "yes"]
    assert shown.index.tolist() == ["Cox (stratified)"] and shown.index.name == "Model"
    assert readable(frame, "zh").iloc[0].tolist() == ["age", 1.235, "< 0.001", "未达到", "是"]


def test_a_column_without_a_label_is_a_clear_error():
    with pytest.raises(KeyError, match="core/words.yaml has no label for column 'metrics.val_auc'"):
        readable(pd.DataFrame({"metrics.val_auc": [0.8]}))


def test_an_unknown_language_is_refused_and_an_unknown_value_is_itself():
    with pytest.raises(ValueError, match="language must be one of en, zh, not 'fr'"):
        label("grade", "fr")
    assert word("mars") == "mars"
