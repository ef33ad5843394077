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
