"""The text of a user's file: its declared encoding, else a detected one, logged as a guess.

`decode` tries, in this order:
1. `encoding` when declared (params `data.read.encoding`, any Python codec name: gb18030, gbk, big5, cp1252...).
2. A UTF-16 byte-order mark: UTF-16.
3. UTF-8 (a UTF-8 BOM is dropped). Bytes that are valid UTF-8 are almost never legacy text by accident, so UTF-8
   wins whenever it decodes.
4. Chinese: each of `CJK_ENCODINGS` that decodes the bytes strictly (GB18030, a superset of GBK and GB2312, then
   Big5) is scored by plausibility: the share of its non-ASCII characters that are everyday characters of that
   standard (`everyday`: GB2312's hanzi and full-width punctuation; Big5's symbols and level-1 frequent hanzi).
   Decoding alone proves nothing, since GB18030 accepts most byte strings; the mojibake of another encoding is
   made of rare characters: Western text read as GB18030 gives GBK extension characters (an accented letter
   followed by an ASCII letter), Big5 read as GB18030 scores ~0.25 and GB2312 text read as Big5 ~0.55, while
   real Chinese scores ~1. The best score of at least `PLAUSIBLE` wins, GB18030 on a tie.
5. Western: the first of `FALLBACK_ENCODINGS` that decodes the bytes and renders the most non-ASCII bytes as
   letters (cp1252 ties win over cp1250: byte-for-byte the two differ mostly in which accented letter a byte
   means, which no byte statistic can settle).
A guess (4 or 5) is logged as a warning naming the encoding: declare `encoding` when the guess is wrong.
"""

import codecs
import logging
from collections import Counter

import numpy as np

from churnlab.core.checks import DataError

log = logging.getLogger(__name__)

FALLBACK_ENCODINGS = ("cp1252", "cp1250", "latin-1")
CJK_ENCODINGS = ("gb18030", "big5")
PLAUSIBLE = 0.5  # share of everyday characters above which a Chinese reading is believed (mojibake: <= ~0.55)
SAMPLE_CHARS = 200_000  # characters scored: enough for any header and thousands of rows


def everyday(char: str, encoding: str) -> bool:
    """True when `char` is an everyday character of `encoding`'s standard: for GB18030, in GB2312's punctuation
    (row A1), full-width forms (A3) or its 6,763 hanzi (rows B0-F7); for Big5, in its symbols (lead bytes A1-A3)
    or its 5,401 level-1 frequent hanzi (A4-C6)."""
    try:
        lead = char.encode("gb2312" if encoding == "gb18030" else encoding)[0]
    except UnicodeEncodeError:
        return False
    return (lead in (0xA1, 0xA3) or lead >= 0xB0) if encoding == "gb18030" else (0xA1 <= lead <= 0xC6)


def plausibility(text: str, encoding: str) -> float:
    """The share of the non-ASCII characters of `text` (its first SAMPLE_CHARS) that are `everyday` in
    `encoding`: ~1 for real Chinese, low for another encoding's bytes read as this one."""
    counts = Counter(ch for ch in text[:SAMPLE_CHARS] if ord(ch) > 127)
    total = sum(counts.values())
    return sum(n for ch, n in counts.items() if everyday(ch, encoding)) / total if total else 0.0


def _chinese(raw: bytes) -> tuple[str, str, float] | None:
    """(text, encoding, score) of the most plausible Chinese reading of `raw`, or None."""
    readings = []
    for rank, name in enumerate(CJK_ENCODINGS):
        try:
            text = raw.decode(name)
        except UnicodeDecodeError:
            continue
        readings.append((plausibility(text, name), -rank, name, text))
    if not readings:
        return None
    score, _, name, text = max(readings)
    return (text, name, score) if score >= PLAUSIBLE else None


def _western(raw: bytes) -> str:
    counts = np.bincount(np.frombuffer(raw, dtype=np.uint8), minlength=256)
    high = [(bytes([b]), int(counts[b])) for b in range(128, 256) if counts[b]]
    candidates = []  # (score, preference, name): single-byte codecs map each byte on its own
    for rank, name in enumerate(FALLBACK_ENCODINGS):
        try:
            chars = [(byte.decode(name), n) for byte, n in high]
        except UnicodeDecodeError:
            continue
        candidates.append((sum(n if ch.isalpha() else -2 * n for ch, n in chars), -rank, name))
    return max(candidates)[2]  # latin-1 decodes any byte: never empty


def decode(raw: bytes, *, encoding: str | None = None, source: str = "file") -> str:
    """The text of `raw`: declared `encoding`, else UTF-16/UTF-8 (BOM-aware), else a Chinese or single-byte guess."""
    if encoding:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as err:
            raise DataError(f"{source}: not valid {encoding} at byte {err.start} ({raw[err.start:err.end]!r}); "
                            f"check the declared encoding") from None
        except LookupError:
            raise DataError(f"{source}: unknown encoding {encoding!r}") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    chinese = _chinese(raw)
    if chinese:
        text, name, score = chinese
        log.warning("%s: not UTF-8; read as %s (guessed: %.0f %% of its non-ASCII characters are everyday Chinese; "
                    "declare data.read.encoding if the text looks wrong)", source, name, 100 * score)
        return text
    name = _western(raw)
    log.warning("%s: not UTF-8; read as %s (guessed; declare the file's encoding if accents look wrong)",
                source, name)
    return raw.decode(name)
