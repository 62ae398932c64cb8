"""English and Swahili for the web pages.

Message ids are the English texts themselves; ``locale/sw.json`` maps each to Swahili, and
``locale/en.json`` gives English labels to the few ids that are names in code (record fields). A
text with no translation falls back to its id, and a test checks that every text the templates
use has one, so a missing translation is caught before a caseworker sees it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import cache
from importlib import resources

LANGUAGES = {"en": "English", "sw": "Kiswahili"}
log = logging.getLogger("tafuta.web")


@cache
def catalogue(language: str) -> dict[str, str]:
    text = resources.files("node.web").joinpath(f"locale/{language}.json").read_text("utf-8")
    return json.loads(text)


def translator(language: str) -> Callable[[str], str]:
    language = language if language in LANGUAGES else "en"
    table = catalogue(language)

    def translate(text: str, **values) -> str:
        translated = table.get(text)
        if translated is None:
            translated = text
            if language != "en" and text not in _reported:
                _reported.add(text)  # once per text and process, so the log stays readable
                log.warning("no %s translation for %r; shown in English", language, text)
        return translated.format(**values) if values else translated

    return translate


_reported: set[str] = set()
