import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.core import pii


@given(st.text())
def test_encrypt_round_trip_and_ciphertext_hides_plaintext(text):
    blob = pii.encrypt_json({"name": text})
    assert pii.decrypt_json(blob) == {"name": text}
    if len(text) >= 4:
        assert text.encode() not in blob


def test_keyed_hash_is_stable_and_distinguishes_values():
    assert pii.keyed_hash("+8613812345678") == pii.keyed_hash("+8613812345678")
    assert pii.keyed_hash("+8613812345678") != pii.keyed_hash("+8613812345679")
    assert pii.keyed_hash(None) is None and pii.keyed_hash("") is None
    assert pii.keyed_hash_many(["a", None]) == [pii.keyed_hash("a"), None]


@given(st.lists(st.one_of(st.none(), st.text()), max_size=20))
def test_keyed_hash_many_equals_keyed_hash_per_value(values):
    """keyed_hash_many reuses one keyed hasher; the hashes must stay what keyed_hash (and every
    warehouse already written) gives."""
    assert pii.keyed_hash_many(values) == [pii.keyed_hash(v) for v in values]


def test_masks_show_what_a_guide_may_see():
    assert pii.mask_phone("+8613812345678") == "138****5678"
    assert pii.mask_phone("138****5678") == "138****5678"
    assert pii.mask_name("张三") == "张*"
    assert pii.mask_name("欧阳娜娜") == "欧***"
    assert pii.mask_email("li.lei@example.com") == "l***@example.com"


@settings(deadline=None)
@given(st.lists(st.one_of(st.none(), st.text()), max_size=30), st.integers(0, 5))
def test_keyed_hash_array_equals_keyed_hash_per_value(values, offset):
    """The Arrow form reads values in place (a sliced array too); the hashes must stay keyed_hash's."""
    array = pa.array(["x"] * offset + values, pa.string()).slice(offset)
    assert pii.keyed_hash_array(array).to_pylist() == [pii.keyed_hash(v) for v in values]
    assert pii.keyed_hash_array(array.cast(pa.large_string())).to_pylist() == [
        pii.keyed_hash(v) for v in values
    ]


@settings(deadline=None)
@given(st.lists(st.one_of(st.none(), st.binary()), max_size=30), st.integers(0, 5))
def test_encrypt_array_round_trips_each_value_with_its_own_nonce(values, offset):
    array = pa.array([b"x"] * offset + values, pa.binary()).slice(offset)
    out = pii.encrypt_array(array).to_pylist()
    assert [None if c is None else pii.decrypt(c) for c in out] == values
    nonces = [c[:12] for c in out if c is not None]
    assert len(set(nonces)) == len(nonces)
