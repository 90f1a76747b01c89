"""The copy of everything held about one person (PIPL art. 45): a ZIP with one JSON of everything and one CSV
per section, Chinese headers, every cell formula-safe (siyu.core.spreadsheet), UTF-8 with a BOM so that
Excel and WPS open the Chinese as Chinese.

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

from siyu.core.spreadsheet import formula_safe_writer
from siyu.privacy.registry import registered
from siyu.privacy.sections import cell, jsonable

JSON_NAME = "全部数据.json"
README_NAME = "说明.txt"


def _headers(columns: dict[str, str], rows: list[dict]) -> list[str]:
    keys = list(columns)
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    return keys


def person_sections(customer_id: int) -> list[tuple[str, str, list[str], list[dict]]]:
    """(name, Chinese label, Chinese headers, rows keyed by Chinese header) per registered section, in
    archive order. Built under zh-hans: the labels a domain takes from its catalogue come out Chinese."""
    out = []
    with translation.override("zh-hans"):
        for data in registered():
            rows = data.export(int(customer_id))
            keys = _headers(data.columns, rows)
            headers = [data.columns.get(k, k) for k in keys]
            out.append((data.name, data.label, headers,
                        [{data.columns.get(k, k): jsonable(row.get(k)) for k in keys} for row in rows]))  # fmt: skip
    return out


def _csv(headers: list[str], rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = formula_safe_writer(buffer)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([cell(row.get(h)) for h in headers])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def build_archive(customer_id: int, now: dt.datetime | None = None) -> tuple[bytes, dict]:
    """The ZIP of one person's data and a summary ({"sections": {name: row count}, "rows": total})."""
    now = now or timezone.now()
    sections = person_sections(customer_id)
    generated = timezone.localtime(now).isoformat(timespec="seconds")
    everything = {"客户编号": int(customer_id), "导出时间": generated,
                  "数据": {label: rows for _name, label, _headers, rows in sections}}  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        lines = [f"客户编号 {int(customer_id)} 的个人信息副本，导出于 {generated}。", "",
                 f"{JSON_NAME}：全部数据（JSON）。", "以下每个表格（CSV，可用 Excel 或 WPS 打开）是其中一部分：", ""]  # fmt: skip
        for index, (_name, label, headers, rows) in enumerate(sections, start=1):
            file_name = csv_name(index, label)
            archive.writestr(file_name, _csv(headers, rows))
            lines.append(f"{file_name}：{label}，{len(rows)} 行")
        archive.writestr(JSON_NAME, json.dumps(everything, ensure_ascii=False, indent=2))
        archive.writestr(README_NAME, "\r\n".join(lines) + "\r\n")
    counts = {name: len(rows) for name, _label, _headers, rows in sections}
    return buffer.getvalue(), {"sections": counts, "rows": sum(counts.values())}


def csv_name(index: int, label: str) -> str:
    return f"{index:02d}_{label}.csv"


def archive_file_name(customer_id: int, now: dt.datetime | None = None) -> str:
    day = timezone.localtime(now or timezone.now()).strftime("%Y%m%d")
    return f"siyu-personal-data-{int(customer_id)}-{day}.zip"
