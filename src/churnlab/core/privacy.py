"""Pseudonymisation of customer identifiers before they reach MLflow, reports or logs.

A keyed hash (HMAC-SHA256, truncated to 16 hex characters) maps each identifier to a stable pseudonym.
The key comes from the environment variable CHURNLAB_PSEUDONYM_KEY; without it, a random key is created
once in `.churnlab/pseudonym.key` (git-ignored) at the repository root, so pseudonyms are stable on one machine
and cannot be reversed by hashing guessed identifiers without the key. The root is the real repository even in
the temporary copy of `dvc exp run --temp` or `--queue` (`paths.repository_root`), so their pseudonyms match the
workspace's.
"""

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pandas as pd

from churnlab.core import paths

KEY_FILE = Path(".churnlab/pseudonym.key")


def pseudonym_key(key_file: Path | None = None, *, synthetic_seed: int | None = None) -> bytes:
    """The pseudonymisation key: CHURNLAB_PSEUDONYM_KEY, else the key file (created on first use).

    `key_file` defaults to `.churnlab/pseudonym.key` under the repository root (`paths.repository_root`).
    `synthetic_seed`: the data are simulated, so the ids are made up and not personal data; the key is then derived
    from the seed, so the same params give byte-identical pseudonymised outputs (and the same dvc.lock) on every
    machine. Never pass it for a bank's data: a key anyone can derive protects nothing.
    """
    if os.environ.get("CHURNLAB_PSEUDONYM_KEY"):
        return os.environ["CHURNLAB_PSEUDONYM_KEY"].encode()
    if synthetic_seed is not None:
        return f"churnlab-synthetic-{synthetic_seed}".encode()
    key_file = key_file or paths.repository_root() / KEY_FILE
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32), encoding="utf-8")
        key_file.chmod(0o600)
    return key_file.read_text(encoding="utf-8").strip().encode()


def pseudonymise(ids: pd.Series, *, key: bytes) -> pd.Series:
    """Map each identifier to `p_` + 16 hex characters of HMAC-SHA256(key, id); equal ids map equally."""
    codes, uniques = pd.factorize(ids.astype(str))
    mapped = [
        "p_" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16] for value in uniques
    ]
    return pd.Series(pd.Index(mapped).take(codes), index=ids.index, name=ids.name)
