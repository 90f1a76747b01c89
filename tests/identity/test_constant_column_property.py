"""Property: adding a column of one constant value, mapped as any identifier type, to any import never
lowers pairwise precision (the issue's `**` in 买家支付宝账号, a store landline in a till export).

The imports are generated person tables (several records per person, names sometimes masked, phones full,
masked or missing, a few people sharing a family phone): every person in an import is told apart from the
others by a name of their own. Two people with the same name and nothing else to tell them apart cannot be
told from one person with two records, by any rule."""

from __future__ import annotations

import csv
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.benchmarks.resolve import pairwise_scores
from siyu.identity.actions import resolve_identities
from siyu.identity.probabilistic import MatchSettings
from siyu.ingest.actions import import_files

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明"]
MAPPING = {"rec": "record_id", "name": "name", "phone": "phone", "card": "id:card"}
# A plausible value of each type (placeholders never become identifiers at all: see test_normalise_identifiers)
CONSTANTS = {
    "id:phone": "13912345678",
    "id:email": "shop@brand.cn",
    "email": "shop@brand.cn",
    "id:alipay": "13912345678",
    "id:taobao_buyer": "store_default",
    "id:jd_account": "jd_store_default",
    "id:unionid": "oAbCdEfGhIjKlMnOpQrStUvWxYz1",
    "id:external_userid": "wmAbCdEfGhIjKlMnOpQrStUvWxYz1234",
    "id:member_no": "8000000001",
    "id:store_code": "SH-001",
}

person_st = st.fixed_dictionaries(
    {
        "records": st.integers(1, 3),
        "phone": st.sampled_from(["own", "masked", "none", "family"]),
        "card": st.booleans(),
        "masked_name": st.booleans(),  # some of the person's records show 张* instead of 张伟
    }
)


@st.composite
def imports(draw):
    names = draw(
        st.lists(
            st.tuples(st.sampled_from(SURNAMES), st.sampled_from(GIVEN)), min_size=2, max_size=8, unique=True
        )
    )
    people = [draw(person_st) for _ in names]
    return [(f"{s}{g}", p) for (s, g), p in zip(names, people, strict=True)]


def _write(path, people, extra: tuple[str, str] | None):
    rows, truth = [], []
    for i, (name, p) in enumerate(people):
        phone = {"own": f"1391234{i:04d}", "masked": f"139****{i:04d}", "none": "", "family": "13711112222"}
        for r in range(p["records"]):
            shown = name[0] + "*" if p["masked_name"] and r % 2 else name
            row = {
                "rec": f"r{i}-{r}",
                "name": shown,
                "phone": phone[p["phone"]],
                "card": f"C{i:05d}" if p["card"] else "",
            }
            if extra:
                row["x"] = extra[1]
            rows.append(row)
            truth.append((row["rec"], i))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return truth


def _precision(tmp_path, settings, people, extra) -> float:
    from siyu.warehouse import connection

    connection.close()
    settings.WAREHOUSE_PATH = tmp_path / f"{uuid.uuid4().hex}.duckdb"
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    truth = _write(path, people, extra)
    mapping = dict(MAPPING)
    if extra:
        mapping["x"] = extra[0]
    import_files([path], source="crm", format="generic", mapping=mapping)
    resolve_identities(match=MatchSettings(enabled=False))
    truth_path = tmp_path / f"{uuid.uuid4().hex}.truth.csv"
    truth_path.write_text("source,record_id,person_id\n" + "".join(f"crm,{r},{p}\n" for r, p in truth))
    scores = pairwise_scores(connection.raw_connection(), str(truth_path))
    connection.close()
    return scores["precision"]


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=imports(), target=st.sampled_from(sorted(CONSTANTS)))
def test_a_constant_column_mapped_as_any_identifier_never_lowers_precision(
    tmp_path, settings, people, target
):
    before = _precision(tmp_path, settings, people, None)
    after = _precision(tmp_path, settings, people, (target, CONSTANTS[target]))
    assert after >= before
