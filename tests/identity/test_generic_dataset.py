"""Any dataset: a generic CSV mapped with --map resolves with the same engine, comparing the fields the user
names (`compare`), and `export identities` covers its records."""

from __future__ import annotations

import csv
import random

import pytest

from siyu.benchmarks.resolve import pairwise_scores
from siyu.identity.actions import resolve_identities
from siyu.identity.errors import IdentityError
from siyu.identity.probabilistic import MatchSettings
from siyu.ingest.actions import import_files

FIRST = ["olivia", "jack", "mia", "noah", "ava", "leo", "isla", "liam", "zoe", "ethan", "ruby", "oscar"]
LAST = [
    "smith",
    "jones",
    "williams",
    "brown",
    "wilson",
    "taylor",
    "nguyen",
    "martin",
    "white",
    "walker",
    "king",
]
MAPPING = {"rec_id": "record_id", "given_name": "first_name", "surname": "last_name", "date_of_birth": "birthday",
           "suburb": "city", "postcode": "postcode", "soc_sec_id": "id:ssn"}  # fmt: skip


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(len(word))
    return word[:i] + rng.choice("aeiou") + word[i + 1 :]


def _write(path, people: int, seed: int = 5) -> dict[str, int]:
    """Each person twice: an original with a national id, and a duplicate without it (sometimes with a typo
    in the surname). Returns record_id -> person."""
    rng = random.Random(seed)
    truth, rows = {}, []
    for p in range(people):
        person = {
            "given_name": rng.choice(FIRST),
            "surname": rng.choice(LAST) + rng.choice(["", "son", "ley", "er"]),
            "date_of_birth": f"19{rng.randint(40, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "suburb": rng.choice(["Carlton", "Fitzroy", "Richmond", "Brunswick"]),
            "postcode": str(rng.randint(3000, 3999)),
            "soc_sec_id": str(1_000_000 + p),
        }
        dup = dict(person, soc_sec_id="")
        if rng.random() < 0.3:
            dup["surname"] = _typo(rng, dup["surname"])
        for n, row in enumerate((person, dup)):
            rows.append({"rec_id": f"rec-{p}-{'org' if n == 0 else 'dup'}", **row})
            truth[rows[-1]["rec_id"]] = p
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return truth


def test_a_mapped_generic_dataset_resolves_on_the_fields_the_user_compares(warehouse, tmp_path):
    path = tmp_path / "people.csv"
    truth = _write(path, 400)
    report = import_files([path], source="census", format="generic", mapping=MAPPING)
    assert report.files[0].imported == 800
    # the mapped fields the matcher may compare are kept, encrypted, with the record
    from siyu.core.pii import decrypt_json

    blob = warehouse.raw_connection().execute("SELECT pii FROM records WHERE record_id = 'rec-0-dup'").fetchone()[0]
    kept = decrypt_json(blob)
    assert kept["postcode"] and kept["first_name"] and kept["last_name"] and kept["name"]
    with open(tmp_path / "truth.csv", "w", newline="") as f:
        f.write("source,record_id,person_id\n" + "".join(f"census,{r},{p}\n" for r, p in truth.items()))

    resolve_identities(match=MatchSettings(enabled=False))
    alone = pairwise_scores(warehouse.raw_connection(), str(tmp_path / "truth.csv"))
    assert alone["recall"] == 0  # nothing shares an identifier
    report = resolve_identities(match=MatchSettings(compare=("first_name", "last_name", "postcode")))
    scores = pairwise_scores(warehouse.raw_connection(), str(tmp_path / "truth.csv"))
    assert report.probabilistic["ran"]
    assert scores["precision"] >= 0.99 and scores["recall"] >= 0.9


def test_labelled_pairs_train_the_model(warehouse, tmp_path):
    path = tmp_path / "people.csv"
    truth = _write(path, 300, seed=9)
    import_files([path], source="census", format="generic", mapping=MAPPING)
    with open(tmp_path / "truth.csv", "w", newline="") as f:
        f.write("source,record_id,person_id\n" + "".join(f"census,{r},{p}\n" for r, p in truth.items()))
    labels = tmp_path / "labels.csv"
    labels.write_text("source_a,record_id_a,source_b,record_id_b\n" + "".join(
        f"census,rec-{p}-org,census,rec-{p}-dup\n" for p in range(60)
    ))  # fmt: skip
    report = resolve_identities(match=MatchSettings(compare=("postcode",), labels=str(labels)))
    scores = pairwise_scores(warehouse.raw_connection(), str(tmp_path / "truth.csv"))
    assert report.probabilistic["ran"]
    assert scores["precision"] >= 0.99 and scores["recall"] >= 0.9

    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(IdentityError, match="record_key_a,record_key_b"):
        resolve_identities(match=MatchSettings(labels=str(tmp_path / "bad.csv")))
