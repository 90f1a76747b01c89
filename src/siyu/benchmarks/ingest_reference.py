"""Reference for `siyu bench ingest`: DuckDB reads the same CSV files as text into a table."""

import time

import duckdb

from siyu.benchmarks.common import child_main


def _measure(files: list[dict]) -> dict:
    con = duckdb.connect()
    rows = 0
    started = time.perf_counter()
    for i, f in enumerate(files):
        encoding = "gb18030" if f["format"] == "taobao" else "utf-8"
        if encoding != "utf-8":
            # DuckDB's CSV reader decodes only UTF-8/UTF-16/Latin-1 without extensions; re-encode (timed).
            text = open(f["path"], encoding="gb18030").read()
            path = f["path"] + ".utf8.csv"
            open(path, "w", encoding="utf-8").write(text)
        else:
            path = f["path"]
        con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_csv(?, all_varchar=true, header=true)", [path])
        rows += con.execute(f"SELECT count(*) FROM t{i}").fetchall()[0][0]
    return {"seconds": round(time.perf_counter() - started, 2), "rows": rows}


if __name__ == "__main__":
    child_main(_measure)
