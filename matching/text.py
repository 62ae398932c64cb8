"""Folding free text to comparable ASCII: the first step for every name and place.

Registers write the same name with and without accents, apostrophes (``Ng'ombeni``), hyphens
and dots, in any case; after folding those differences are gone. Letters outside the Latin
script that have no ASCII decomposition are dropped (documented in docs/matching.md).
"""

from __future__ import annotations

import re
import unicodedata

# Letters NFKD does not decompose into ASCII.
_SPECIAL = str.maketrans(
    {
        "ß": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o",
        "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "ł": "l", "Ł": "l", "ı": "i",
        "þ": "th", "Þ": "th", "ŋ": "ng", "Ŋ": "ng", "ɛ": "e", "Ɛ": "e", "ɔ": "o", "Ɔ": "o",
    }
)  # fmt: skip
# Apostrophes of every kind join the letters around them: Ng'ombeni = Ngombeni.
_APOSTROPHES = re.compile(r"['’‘ʼʻ`´]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case ASCII words, single spaces: "Hélène  Ng'ombeni-X" -> "helene ngombeni x"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    lowered = _APOSTROPHES.sub("", stripped.lower())
    return _NOT_ALNUM.sub(" ", lowered.encode("ascii", "ignore").decode()).strip()
