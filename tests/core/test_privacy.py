"""Pseudonyms are stable, keyed, and never contain the raw identifier."""

import pandas as pd

from churnlab.core.privacy import pseudonym_key, pseudonymise


def test_pseudonyms_are_stable_and_keyed():
    ids = pd.Series(["C00000001", "C00000002", "C00000001"], index=[10, 11, 12])
    first = pseudonymise(ids, key=b"k1")
    assert first.index.tolist() == [10, 11, 12]
    assert first.iloc[0] == first.iloc[2] != first.iloc[1]
    assert first.str.fullmatch(r"p_[0-9a-f]{16}").all()
    assert (pseudonymise(ids, key=b"k1") == first).all()
    assert (pseudonymise(ids, key=b"k2") != first).all()
    assert not any("00000001" in p for p in first)


def test_key_from_environment_or_a_local_key_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CHURNLAB_PSEUDONYM_KEY", "secret")
    assert pseudonym_key(tmp_path / "k") == b"secret"
    monkeypatch.delenv("CHURNLAB_PSEUDONYM_KEY")
    key = pseudonym_key(tmp_path / "k")
    assert len(key) == 64 and pseudonym_key(tmp_path / "k") == key
    assert oct((tmp_path / "k").stat().st_mode)[-3:] == "600"


def test_a_dvc_temp_copy_uses_the_repository_key(tmp_path, monkeypatch):
    """`dvc exp run --temp` runs in a copy inside .dvc: its pseudonyms must match the workspace's."""
    monkeypatch.delenv("CHURNLAB_PSEUDONYM_KEY", raising=False)
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.chdir(root)
    workspace_key = pseudonym_key()
    copy = root / ".dvc" / "tmp" / "exps" / "run" / "abc"
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    assert pseudonym_key() == workspace_key
    assert not (copy / ".churnlab").exists()


def test_simulated_ids_get_a_key_from_the_seed_and_real_ones_the_secret_key(tmp_path, monkeypatch):
    """Made-up ids need no secret: a seed-derived key gives the same pseudonyms on every machine."""
    monkeypatch.delenv("CHURNLAB_PSEUDONYM_KEY", raising=False)
    assert pseudonym_key(tmp_path / "k", synthetic_seed=7) == pseudonym_key(tmp_path / "other", synthetic_seed=7)
    assert pseudonym_key(tmp_path / "k", synthetic_seed=7) != pseudonym_key(tmp_path / "k", synthetic_seed=8)
    assert not (tmp_path / "k").exists()  # no secret key was needed
    assert pseudonym_key(tmp_path / "k") != pseudonym_key(tmp_path / "k", synthetic_seed=7)
    monkeypatch.setenv("CHURNLAB_PSEUDONYM_KEY", "secret")
    assert pseudonym_key(tmp_path / "k", synthetic_seed=7) == b"secret"  # the environment always wins
