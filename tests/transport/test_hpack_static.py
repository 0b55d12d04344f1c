"""Our cached header encoder produces blocks any HPACK decoder reads back exactly."""

from __future__ import annotations

from hpack import Decoder
from hpack.table import HeaderTable
from hypothesis import given, settings
from hypothesis import strategies as st

from esdb_wire.transport.hpack_static import STATIC_TABLE, StaticHeaderEncoder, encode_field

names = st.one_of(
    st.sampled_from(
        [b":method", b":path", b":status", b"content-type", b"te", b"authorization", b"user-agent"]
    ),
    st.binary(min_size=1, max_size=40).map(lambda b: b.lower()),
)
values = st.one_of(st.sampled_from([b"POST", b"200", b"trailers", b""]), st.binary(max_size=300))
blocks = st.lists(st.lists(st.tuples(names, values), max_size=12), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(blocks)
def test_blocks_decode_to_the_same_headers(header_blocks: list[list[tuple[bytes, bytes]]]) -> None:
    encoder = StaticHeaderEncoder()
    decoder = Decoder()
    for headers in header_blocks:
        decoded = decoder.decode(encoder.encode(headers), raw=True)
        assert [tuple(field) for field in decoded] == headers


def test_first_block_sets_the_dynamic_table_to_zero_and_nothing_is_indexed() -> None:
    encoder = StaticHeaderEncoder()
    decoder = Decoder()
    first = encoder.encode([(b"x-a", b"1")])
    assert first[:1] == b"\x20"
    decoder.decode(first, raw=True)
    decoder.decode(encoder.encode([(b"x-b", b"2")]), raw=True)
    assert len(decoder.header_table.dynamic_entries) == 0
    assert encoder.encode([(b"x-a", b"1")]) == first[1:]  # cached, no size update again


def test_fields_use_the_static_table() -> None:
    assert encode_field(b":method", b"POST") == b"\x83"
    assert encode_field(b"content-type", b"application/grpc")[:1] == b"\x0f"  # name index 31
    assert encode_field(b"authorization", b"Basic x")[:1] == b"\x1f"  # never indexed


def test_secrets_are_not_cached() -> None:
    encoder = StaticHeaderEncoder()
    encoder.encode([(b"authorization", b"Basic secret")])
    assert all(name != b"authorization" for name, _ in encoder._fields)


def test_static_table_is_rfc_7541s() -> None:
    assert len(STATIC_TABLE) == 61
    assert list(STATIC_TABLE) == [tuple(entry) for entry in HeaderTable.STATIC_TABLE]
