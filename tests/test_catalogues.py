"""An app's own Chinese catalogue never says a word differently from the shared one: Django reads
LOCALE_PATHS (src/siyu/locale) before the apps' catalogues, so an app's different translation of the same
English would silently never show."""

from __future__ import annotations

import re
from pathlib import Path

import siyu

ROOT = Path(siyu.__file__).parent
ENTRY = re.compile(r'^(?:msgctxt "(?P<context>.*)"\n)?msgid "(?P<id>.*)"\nmsgstr "(?P<str>.*)"$', re.M)


def translations(path: Path) -> dict[tuple[str, str], str]:
    return {
        (m["context"] or "", m["id"]): m["str"] for m in ENTRY.finditer(path.read_text()) if m["id"] and m["str"]
    }


def test_no_app_catalogue_translates_a_shared_word_differently():
    shared = translations(ROOT / "locale/zh_Hans/LC_MESSAGES/django.po")
    apps = sorted(ROOT.glob("*/locale/zh_Hans/LC_MESSAGES/django.po"))
    assert apps, "the apps' own catalogues are where this test looks"
    clashes = [
        f"{path.parts[-5]}: {key[1]!r} is {text!r} there but {shared[key]!r} in the shared catalogue"
        for path in apps
        for key, text in translations(path).items()
        if key in shared and shared[key] != text
    ]
    assert clashes == []
