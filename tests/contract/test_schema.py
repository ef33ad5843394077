"""churnlab.contract.schema: the data dictionary documents every column, and docs/data-contract.md is its output."""

from churnlab.contract import schema


def test_dictionary_documents_every_column():
    dictionary = schema.data_dictionary()
    assert (dictionary["meaning"].str.len() > 10).all()
    assert set(dictionary["table"]) == set(schema.TABLES)
    markdown = schema.dictionary_markdown()
    for table in schema.TABLES:
        assert f"## `{table}`" in markdown


def test_docs_data_contract_is_current():
    from conftest import ROOT

    assert (ROOT / "docs" / "data-contract.md").read_text(encoding="utf-8") == schema.dictionary_markdown()


def test_every_contract_column_has_a_chinese_meaning():
    import re

    from churnlab.core.words import glossary

    meanings = glossary()["contract_fields"]
    for table, (fields, _) in schema.TABLES.items():
        assert set(meanings[table]) == {f.name for f in fields}, table  # a new column without Chinese fails here
        for column, meaning in meanings[table].items():
            assert re.search(r"[\u4e00-\u9fff]", meaning), f"{table}.{column}"


def test_docs_data_contract_zh_is_current_and_keeps_the_column_names():
    from conftest import ROOT

    chinese = schema.dictionary_markdown("zh")
    assert (ROOT / "docs" / "data-contract.zh.md").read_text(encoding="utf-8") == chinese
    assert chinese.startswith("# 数据契约\n") and "## `monthly`（每个`customer_id`、`month`一行）" in chinese
    assert "| `income` | float64 | 客户申报的税后月收入；未申报时为空 | 欧元/月 | >= 0 | 是 |" in chinese
    assert "| `birth_year` | int64 | 出生年份 | 年份 | >= 1900 且 <= 2015 | 否 |" in chinese
    rows = [line.split(" | ")[0] for line in chinese.splitlines() if line.startswith("| `")]
    english = [line.split(" | ")[0] for line in schema.dictionary_markdown().splitlines() if line.startswith("| `")]
    assert rows == english  # the same columns, in the same order, by their machine names
