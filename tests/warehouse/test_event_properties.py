"""An event's property reads the same whether it was written as a number or a text, and an event without
it never matches (segments' and journeys' `with`)."""

import ibis
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from siyu.warehouse.events import event_property, with_properties

CON = ibis.duckdb.connect()


def _events(properties: list[str]) -> ibis.Table:
    return ibis.memtable(pa.table({"properties": pa.array(properties, pa.string())}))


def test_a_number_and_a_text_read_alike_and_a_missing_property_is_null():
    events = _events(['{"code_id": 5}', '{"code_id": "5"}', "{}", '{"code_id": 6.5, "channel": "门店"}'])
    read = CON.to_pyarrow(events.select(v=event_property(events, "code_id"))).column("v").to_pylist()
    assert read == ["5", "5", None, "6.5"]
    assert CON.to_pyarrow(with_properties(events, {"code_id": 5})).num_rows == 2
    assert CON.to_pyarrow(with_properties(events, {"code_id": "6.5", "channel": "门店"})).num_rows == 1
    assert CON.to_pyarrow(with_properties(events, {"campaign": "x"})).num_rows == 0


# what the rules accept: identifier names; texts without control characters (a NUL would not survive
# Ibis' literal compilation, and rules refuse control characters anyway)
NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)
TEXTS = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), max_size=12)


@given(st.dictionaries(NAMES, TEXTS | st.integers(-10**6, 10**6), min_size=1, max_size=4))
def test_every_written_property_is_found_by_its_own_value(props):
    import json

    events = _events([json.dumps(props, ensure_ascii=False)])
    assert CON.to_pyarrow(with_properties(events, {k: str(v) for k, v in props.items()})).num_rows == 1
