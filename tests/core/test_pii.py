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
    nonces = [c[5:17] for c in out if c is not None]  # after the key mark and id
    assert len(set(nonces)) == len(nonces)


@settings(deadline=None, max_examples=50)
@given(st.lists(st.binary(max_size=300), max_size=6))
def test_a_sealed_file_reads_back_chunk_by_chunk(tmp_path_factory, chunks):
    path = tmp_path_factory.mktemp("sealed") / "f.sealed"
    pii.write_sealed(path, chunks)
    assert list(pii.read_sealed(path)) == (chunks or [b""])
    assert pii.is_sealed(path) and path.stat().st_mode & 0o777 == 0o600


def test_a_sealed_file_hides_its_content_and_refuses_tampering_and_cuts(tmp_path):
    import pytest

    path = tmp_path / "f.sealed"
    pii.write_sealed(path, [b"13812345678 zhang wei", b"second", b"third"])
    data = path.read_bytes()
    assert b"13812345678" not in data and b"second" not in data
    head = len(pii.SEALED_MAGIC_KEYED) + 1  # magic and key id
    frame = 4 + int.from_bytes(data[head : head + 4], "big")
    for broken in (
        data[:-1],  # cut inside the last chunk
        data[: head + frame],  # cut after a whole chunk
        data[:-5] + bytes([data[-5] ^ 1]) + data[-4:],  # a flipped bit
    ):
        path.write_bytes(broken)
        with pytest.raises(pii.SealedFileError):
            list(pii.read_sealed(path))
    path.write_bytes(b"file,row\n1,2\n")
    assert not pii.is_sealed(path)


def test_mask_identifier_keeps_only_the_ends_of_long_values():
    assert pii.mask_identifier("tb_zhangwei_88") == "tb****88"
    assert pii.mask_identifier("M001") == "****"
    assert pii.mask_identifier(None) is None
