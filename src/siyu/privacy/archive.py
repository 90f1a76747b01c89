"""The copy of everything held about one person (PIPL art. 45): a ZIP with one JSON of everything and one CSV
per section, Chinese headers, every cell formula-safe (siyu.core.spreadsheet), UTF-8 with a BOM so that
Excel and WPS open the Chinese as Chinese. Its words are gettext messages (context COPY, the privacy
catalogue): built in Simplified Chinese unless `language="en"` asks for English.

The sections are what the domains registered (siyu.privacy.registry): privacy reads none of them itself.
The archive is built in memory for each download and never written to SIYU_HOME (a person's data is small;
nothing is left on the server to be kept sealed or swept up later). Who may build it and the audit are
siyu.privacy.actions.copy_of_person's."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

from django.utils import timezone, translation
from django.utils.translation import pgettext

from siyu.core.spreadsheet import formula_safe_writer
from siyu.privacy.registry import COPY, registered
from siyu.privacy.sections import cell, jsonable

CHINESE = "zh-hans"  # the copy's language unless another is asked for
LANGUAGES = (CHINESE, "en")
JSON_NAME = "全部数据.json"  # the names in Chinese (json_name(), readme_name() in the language being built)
README_NAME = "说明.txt"


def _w(text: str) -> str:
    return pgettext(COPY, text)


def json_name() -> str:
    return _w("All data") + ".json"


def readme_name() -> str:
    return _w("Read me") + ".txt"


def _headers(columns: dict[str, str], rows: list[dict]) -> list[str]:
    keys = list(columns)
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    return keys


def _language(language: str | None) -> str:
    if language is None:
        return CHINESE
    if language not in LANGUAGES:
        raise ValueError(f"the copy is written in {' or '.join(LANGUAGES)}, not {language!r}")
    return language


def person_sections(customer_id: int, language: str | None = None) -> list[tuple[str, str, list[str], list[dict]]]:
    """(name, label, headers, rows keyed by header) per registered section, in archive order. Built under
    `language` (Chinese unless "en"): the labels a domain takes from its catalogue come out in it."""
    out = []
    with translation.override(_language(language)):
        for data in registered():
            rows = data.export(int(customer_id))
            keys = _headers(data.columns, rows)
            named = {k: str(data.columns.get(k, k)) for k in keys}
            out.append((data.name, str(data.label), list(named.values()),
                        [{named[k]: jsonable(row.get(k)) for k in keys} for row in rows]))  # fmt: skip
    return out


def _csv(headers: list[str], rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = formula_safe_writer(buffer)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([cell(row.get(h)) for h in headers])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def build_archive(customer_id: int, now: dt.datetime | None = None, language: str | None = None) -> tuple[bytes, dict]:
    """The ZIP of one person's data, in `language` (Chinese unless "en"), and a summary ({"sections": {name:
    row count}, "rows": total})."""
    now = now or timezone.now()
    language = _language(language)
    sections = person_sections(customer_id, language)
    generated = timezone.localtime(now).isoformat(timespec="seconds")
    buffer = io.BytesIO()
    with translation.override(language), zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        everything = {_w("Customer ID"): int(customer_id), _w("Exported at"): generated,
                      _w("Data"): {label: rows for _name, label, _headers, rows in sections}}  # fmt: skip
        lines = [_w("The copy of the personal information of customer %(customer)s, exported at %(time)s.")
                 % {"customer": int(customer_id), "time": generated}, "",
                 _w("%(file)s: all the data (JSON).") % {"file": json_name()},
                 _w("Each table below (CSV, opens in Excel or WPS) is one part of it:"), ""]  # fmt: skip
        for index, (_name, label, headers, rows) in enumerate(sections, start=1):
            file_name = csv_name(index, label)
            archive.writestr(file_name, _csv(headers, rows))
            lines.append(_w("%(file)s: %(part)s, %(rows)s rows") % {"file": file_name, "part": label, "rows": len(rows)})
        archive.writestr(json_name(), json.dumps(everything, ensure_ascii=False, indent=2))
        archive.writestr(readme_name(), "\r\n".join(lines) + "\r\n")
    counts = {name: len(rows) for name, _label, _headers, rows in sections}
    return buffer.getvalue(), {"sections": counts, "rows": sum(counts.values())}


def csv_name(index: int, label: str) -> str:
    return f"{index:02d}_{label}.csv"


def archive_file_name(customer_id: int, now: dt.datetime | None = None) -> str:
    day = timezone.localtime(now or timezone.now()).strftime("%Y%m%d")
    return f"siyu-personal-data-{int(customer_id)}-{day}.zip"
