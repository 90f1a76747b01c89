"""Reference for `siyu bench ingest`: the raw readers of the same files, nothing else. CSV: DuckDB reads
each file as text into a table (`read_csv(all_varchar)`). XLSX: DuckDB's reader needs its `excel`
extension, which cannot be installed offline, so the reference is fastexcel (calamine, the reader our
importer uses too) loading the first sheet into Arrow with its default type inference: the cost of parsing
the workbook, without our checks, text rendering or anything after."""

import time

import duckdb

from siyu.benchmarks.common import child_main


def _measure(files: list[dict]) -> dict:
    con = duckdb.connect()
    csv_rows = xlsx_rows = 0
    csv_seconds = xlsx_seconds = 0.0
    for i, f in enumerate(files):
        started = time.perf_counter()
        if f["path"].endswith(".xlsx"):
            import fastexcel

            xlsx_rows += fastexcel.read_excel(f["path"]).load_sheet(0, eager=True).num_rows
            xlsx_seconds += time.perf_counter() - started
            continue
        encoding = "gb18030" if f["format"] == "taobao" else "utf-8"
        if encoding != "utf-8":
            # DuckDB's CSV reader decodes only UTF-8/UTF-16/Latin-1 without extensions; re-encode (timed).
            text = open(f["path"], encoding="gb18030").read()
            path = f["path"] + ".utf8.csv"
            open(path, "w", encoding="utf-8").write(text)
        else:
            path = f["path"]
        con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_csv(?, all_varchar=true, header=true)", [path])
        csv_rows += con.execute(f"SELECT count(*) FROM t{i}").fetchall()[0][0]
        csv_seconds += time.perf_counter() - started
    return {
        "csv": {"rows": csv_rows, "seconds": round(csv_seconds, 2)},
        "xlsx": {"rows": xlsx_rows, "seconds": round(xlsx_seconds, 2)},
    }


if __name__ == "__main__":
    child_main(_measure)
