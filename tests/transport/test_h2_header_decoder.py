"""The server's remembering HPACK decoder decodes exactly like hpack's own, whatever the
encoder does to its dynamic table, and fails the way h2 expects."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import pytest
from hpack import Decoder, Encoder
from hpack.exceptions import HPACKError, OversizedHeaderListError
from hypothesis import given, settings
from hypothesis import strategies as st

from esdb_wire.transport.http2.header_block import H2HeaderDecoder

names = st.sampled_from([b":path", b"content-type", b"x-a", b"x-b", b"grpc-timeout", b"te"])
values = st.one_of(
    st.sampled_from([b"/s/M", b"application/grpc", b"1", b""]), st.binary(max_size=80)
)
header_lists = st.lists(st.tuples(names, values), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(header_lists, min_size=1, max_size=12),
    st.integers(min_value=0, max_value=4096),
    st.booleans(),
)
def test_decodes_like_hpack(
    header_blocks: list[list[tuple[bytes, bytes]]], table_size: int, huffman: bool
) -> None:
    encoder = Encoder()
    encoder.header_table_size = table_size
    reference = Decoder()
    remembering = H2HeaderDecoder()
    for headers in header_blocks * 2:  # every block twice: the second may come from memory
        block = encoder.encode(headers, huffman=huffman)
        expected = [tuple(field) for field in reference.decode(block, raw=True)]
        assert remembering.decode(block, raw=True) == expected == headers


def test_repeated_blocks_are_remembered_and_table_changes_forget_them() -> None:
    encoder = Encoder()
    decoder = H2HeaderDecoder()
    first = encoder.encode([(b":path", b"/s/M"), (b"x-a", b"1")])
    again = encoder.encode([(b":path", b"/s/M"), (b"x-a", b"1")])
    assert first != again  # the first one filled the dynamic table
    assert decoder.decode(first) == decoder.decode(again) == [(b":path", b"/s/M"), (b"x-a", b"1")]
    assert decoder.remembered == {again: ((b":path", b"/s/M"), (b"x-a", b"1"))}
    changed = encoder.encode([(b":path", b"/s/N")])
    assert decoder.decode(changed) == [(b":path", b"/s/N")]
    assert decoder.remembered == {}
    # The indices of `again` now point elsewhere: it must be decoded afresh, correctly.
    reference = Decoder()
    for block in (first, again, changed):
        reference.decode(block)
    fresh = encoder.encode([(b":path", b"/s/M"), (b"x-a", b"1")])
    assert decoder.decode(fresh) == [tuple(f) for f in reference.decode(fresh, raw=True)]


def test_errors_are_hpacks() -> None:
    decoder = H2HeaderDecoder()
    with pytest.raises(HPACKError):
        decoder.decode(b"\xff\xff\xff\xff\xff\xff")  # index far beyond any table
    decoder.max_header_list_size = 10
    with pytest.raises(OversizedHeaderListError):
        decoder.decode(Encoder().encode([(b"x-long", b"v" * 100)]))
    decoder.max_allowed_table_size = 0
    assert decoder.max_allowed_table_size == 0


def test_an_h2_server_uses_it() -> None:
    server = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding=None)
    )
    server.decoder = H2HeaderDecoder()  # type: ignore[assignment]
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    request = [(":method", "POST"), (":scheme", "http"), (":path", "/s/M"), (":authority", "a")]
    seen = []
    for stream_id in (1, 3, 5):
        client.send_headers(stream_id, request, end_stream=True)
        for event in server.receive_data(client.data_to_send()):
            if isinstance(event, h2.events.RequestReceived):
                seen.append(dict(event.headers)[b":path"])
    assert seen == [b"/s/M"] * 3
