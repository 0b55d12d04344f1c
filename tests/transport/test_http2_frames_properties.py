"""Property-based fuzzing of the HTTP/2 frame decoders (``esdb_wire.transport.http2``).

Reference model for :class:`FrameReader`: the byte stream is a sequence of 9-byte headers
each followed by its payload; a frame is returned by the feed that supplies its last byte,
and a frame over the limit is refused by the feed that supplies the last byte of its
header. :class:`ClientHttp2Connection` must turn any input into events or an
:class:`Http2ProtocolError` (after queueing a GOAWAY), and nothing else.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from esdb_wire.transport.hpack_static import encode_field
from esdb_wire.transport.http2 import frames as f
from esdb_wire.transport.http2.engine import ENGINES, create_engine
from esdb_wire.transport.http2.errors import ErrorCode, Http2ProtocolError, StreamClosedError
from esdb_wire.transport.http2.events import (
    DataReceived,
    Event,
    GoAwayReceived,
    PingAcknowledged,
    ResponseReceived,
    SettingsChanged,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

EVENT_TYPES = (
    DataReceived,
    GoAwayReceived,
    PingAcknowledged,
    ResponseReceived,
    SettingsChanged,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)

# -- helpers ---------------------------------------------------------------------------------


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the (unsorted, possibly repeated: empty chunks) offsets ``cuts``."""
    points = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in zip(points, points[1:])]


def reference_parse(data: bytes, limit: int) -> tuple[list[f.Frame], int | None]:
    """The complete frames of ``data``, and the offset just past the header of the first
    frame over ``limit`` (None if there is none among the complete headers)."""
    frames: list[f.Frame] = []
    pos = 0
    while len(data) - pos >= f.HEADER_SIZE:
        length = int.from_bytes(data[pos : pos + 3], "big")
        if length > limit:
            return frames, pos + f.HEADER_SIZE
        end = pos + f.HEADER_SIZE + length
        if end > len(data):
            break
        kind, flags = data[pos + 3], data[pos + 4]
        stream_id = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
        frames.append((kind, flags, stream_id, data[pos + f.HEADER_SIZE : end]))
        pos = end
    return frames, None


def parse_all(data: bytes) -> list[f.Frame]:
    """Every frame of ``data`` (which must hold whole frames only)."""
    reader = f.FrameReader(f.MAX_FRAME_SIZE_LIMIT)
    frames = reader.feed(data)
    assert reader.buffered == 0
    return frames


def goaway_codes(data: bytes) -> list[int]:
    return [f.goaway_payload(p)[1] for kind, _, _, p in parse_all(data) if kind == f.GOAWAY]


def described(events: Sequence[Event]) -> list[tuple[str, dict[str, object]]]:
    """Events in a comparable form: the class name and the fields."""
    return [
        (type(event).__name__, {name: getattr(event, name) for name in event.__slots__})
        for event in events
    ]


def connected(engine: str, **kwargs: int) -> Any:
    """A client of ``engine`` that has sent its preface and seen the server's (empty)
    SETTINGS."""
    conn: Any = create_engine(
        engine,
        stream_window_size=kwargs.get("stream_window_size", 65535),
        connection_window_size=kwargs.get("connection_window_size", 65535),
        max_frame_size=kwargs.get("max_frame_size", 16384),
    )
    conn.initiate()
    conn.data_to_send()
    assert described(conn.receive_data(f.encode_settings([]))) == [
        ("SettingsChanged", {"changed": {}})
    ]
    assert (f.SETTINGS, f.FLAG_ACK, 0, b"") in parse_all(conn.data_to_send())
    return conn


def open_streams(conn: Any) -> None:
    """Open streams 1, 3 and 5, and deliver the response headers of stream 1."""
    for _ in OPEN_STREAMS:
        conn.start_stream(encode_field(b":method", b"POST"))
    conn.data_to_send()
    block = encode_field(b":status", b"200")
    events = conn.receive_data(f.encode_frame(f.HEADERS, f.FLAG_END_HEADERS, 1, block))
    headers = ((b":status", b"200"),)
    assert described(events) == [
        ("ResponseReceived", {"stream_id": 1, "headers": headers, "end_stream": False})
    ]


def check_failed(conn: Any, exc: Http2ProtocolError) -> None:
    """After a connection error: one GOAWAY with its code is queued, input is ignored."""
    assert isinstance(exc.code, ErrorCode)
    assert conn.failure is exc
    assert conn.closed
    assert goaway_codes(conn.data_to_send()) == [exc.code]
    assert conn.receive_data(f.encode_frame(f.PING, 0, 0, b"12345678")) == []
    assert conn.receive_data(b"\xff" * 50) == []
    assert conn.data_to_send() == b""
    assert conn.open_streams == 0


# -- strategies ------------------------------------------------------------------------------

frame_tuples = st.tuples(  # the stream id's reserved bit may be set
    st.integers(0, 255), st.integers(0, 255), st.integers(0, 2**32 - 1), st.binary(max_size=300)
)


@st.composite
def garbage_bytes(draw: st.DrawFn, limit: int) -> bytes:
    """Random bytes, or random frame-like pieces: headers with a length near ``limit``
    (and any type, flags and stream id) and random runs of bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=600))
    pieces = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            pieces.append(draw(st.binary(max_size=30)))
        else:
            length = draw(st.integers(0, limit + 3))
            word = draw(st.integers(0, 2**32 - 1))
            pieces.append(length.to_bytes(3, "big") + word.to_bytes(4, "big")[:2])
            pieces.append(draw(st.binary(min_size=4, max_size=4)) + draw(st.binary(max_size=40)))
    return b"".join(pieces)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=12))
    return split(data, cuts)


def _u32(value: int) -> bytes:
    return struct.pack(">L", value)


window_values = st.one_of(
    st.integers(0, 70_000), st.integers(2**31 - 70_000, 2**31 - 1), st.integers(0, 2**32 - 1)
)
setting_pairs = st.tuples(
    st.sampled_from([1, 2, 3, 4, 5, 6, 8, 0x77]),
    st.one_of(st.integers(0, 2), st.integers(16_000, 70_000), st.integers(2**31 - 10, 2**32 - 1)),
)
header_fields = st.lists(
    st.sampled_from(
        [
            (b":status", b"200"),
            (b":status", b"100"),
            (b":status", b"404"),
            (b"content-type", b"application/grpc"),
            (b"grpc-status", b"0"),
            (b"grpc-message", b"oops"),
            (b"x-custom", b"value"),
        ]
    ),
    max_size=4,
)


def _well_formed(kind: int) -> st.SearchStrategy[bytes]:
    """A payload of the right shape for ``kind`` (its values may still be wrong)."""
    if kind == f.DATA:
        return st.one_of(st.binary(max_size=100), st.binary(min_size=1000, max_size=16384))
    if kind in (f.HEADERS, f.CONTINUATION):
        return header_fields.map(lambda fields: b"".join(encode_field(*kv) for kv in fields))
    if kind in (f.WINDOW_UPDATE, f.RST_STREAM):
        return window_values.map(_u32)
    if kind == f.SETTINGS:
        return st.lists(setting_pairs, max_size=3).map(
            lambda pairs: b"".join(struct.pack(">HL", c, v) for c, v in pairs)
        )
    if kind == f.PING:
        return st.binary(min_size=8, max_size=8)
    if kind == f.GOAWAY:
        return st.binary(min_size=8, max_size=30)
    if kind == f.PRIORITY:
        return st.binary(min_size=5, max_size=5)
    return st.binary(max_size=40)


KINDS = [f.DATA] * 6 + [f.HEADERS] * 4 + [f.WINDOW_UPDATE] * 2 + [f.SETTINGS] * 2
KINDS += [f.RST_STREAM, f.PING, f.GOAWAY, f.PRIORITY, 0x0A]
RARE_KINDS = [*KINDS, f.CONTINUATION, f.PUSH_PROMISE, 0xFE]
FLAGS = [0, 0, 1, 4, 4, 5, 8, 9, 0x24, 0x25, 0x2D, 0xFF]
OPEN_STREAMS = [1, 3, 5]  # the streams the fuzzed clients open first (1 has its response)
ODD_STREAMS = [0, 1, 2, 3, 7, 2**31 - 1]
CONNECTION_KINDS = (f.SETTINGS, f.PING, f.GOAWAY)


@st.composite
def plausible_frames(draw: st.DrawFn) -> bytes:
    """One frame (or a HEADERS + CONTINUATION pair), mostly of a common type on an open
    stream with a payload of the right shape; sometimes anything at all."""
    mode = draw(st.integers(0, 9))
    if mode == 0:  # anything
        kind, flags, stream_id, payload = draw(frame_tuples)
        return f.encode_frame(kind, flags, stream_id, payload)
    if mode <= 2:  # a rare kind or stream, a payload of any shape (mode 1) or the right one
        kind = draw(st.sampled_from(RARE_KINDS))
        payload = draw(st.binary(max_size=40) if mode == 1 else _well_formed(kind))
        flags = draw(st.sampled_from(FLAGS))
        return f.encode_frame(kind, flags, draw(st.sampled_from(ODD_STREAMS)), payload)
    kind = draw(st.sampled_from(KINDS))
    flags = draw(st.sampled_from(FLAGS))
    if kind in CONNECTION_KINDS:
        stream_id = 0
        flags &= draw(st.sampled_from([0, 0, 0, f.FLAG_ACK]))
    else:
        stream_id = draw(st.sampled_from(OPEN_STREAMS))
    payload = draw(_well_formed(kind))
    if kind == f.SETTINGS and flags & f.FLAG_ACK:
        payload = b""
    continued = b""
    if kind == f.HEADERS:
        flags |= f.FLAG_END_HEADERS
        if len(payload) > 1 and draw(st.booleans()):
            cut = draw(st.integers(1, len(payload) - 1))
            payload, rest = payload[:cut], payload[cut:]
            flags &= ~f.FLAG_END_HEADERS
            continued = f.encode_frame(f.CONTINUATION, f.FLAG_END_HEADERS, stream_id, rest)
        if flags & f.FLAG_PRIORITY:
            payload = b"\x00\x00\x00\x03\x10" + payload
    if flags & f.FLAG_PADDED and kind in (f.DATA, f.HEADERS):
        pad = draw(st.integers(0, 20))
        payload = bytes((pad,)) + payload + b"\x00" * pad
    return f.encode_frame(kind, flags, stream_id, payload) + continued


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes overwritten (or left alone)."""
    if not data:
        return data
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
    return bytes(out)


# -- FrameReader -----------------------------------------------------------------------------


@FUZZ
@given(st.lists(frame_tuples, max_size=12), st.data())
def test_reader_chunking_does_not_change_frames(sent: list[f.Frame], data: st.DataObject) -> None:
    """Valid frames come out the same in any chunking, the reserved bit of the stream id
    cleared; only partial frames are held."""
    wire = b"".join(f.encode_frame(*frame) for frame in sent)
    frames = [(kind, flags, sid & 0x7FFFFFFF, payload) for kind, flags, sid, payload in sent]
    whole = f.FrameReader()
    assert whole.feed(wire) == frames
    assert whole.buffered == 0
    reader = f.FrameReader()
    got: list[f.Frame] = []
    fed = 0
    ends = []
    pos = 0
    for frame in frames:
        pos += f.HEADER_SIZE + len(frame[3])
        ends.append(pos)
    for chunk in data.draw(chunked(wire)):
        got.extend(reader.feed(chunk))
        fed += len(chunk)
        boundary = max([end for end in ends if end <= fed], default=0)
        assert reader.buffered == fed - boundary
        assert got == frames[: len([end for end in ends if end <= fed])]
    assert got == frames
    assert reader.buffered == 0


@FUZZ
@given(st.sampled_from([0, 5, 30, 16384]), st.data())
def test_reader_on_garbage_returns_frames_or_frame_size_error(
    limit: int, data: st.DataObject
) -> None:
    """Arbitrary bytes: the reference model's frames, or FRAME_SIZE_ERROR exactly when
    the model sees an oversized header; never another exception."""
    garbage = data.draw(garbage_bytes(limit))
    reader = f.FrameReader(limit)
    got: list[f.Frame] = []
    fed = 0
    for chunk in data.draw(chunked(garbage)):
        fed += len(chunk)
        error: Http2ProtocolError | None = None
        try:
            got.extend(reader.feed(chunk))
        except Http2ProtocolError as exc:
            error = exc
        if error is not None:
            assert error.code is ErrorCode.FRAME_SIZE_ERROR
            frames_before, error_at = reference_parse(garbage[: fed - len(chunk)], limit)
            assert error_at is None
            assert got == frames_before
            assert reference_parse(garbage[:fed], limit)[1] is not None
            return
        expected, error_at = reference_parse(garbage[:fed], limit)
        assert error_at is None
        assert got == expected
    assert reference_parse(garbage, limit)[1] is None


@QUICK
@given(
    st.lists(frame_tuples, max_size=4),
    st.integers(1, 2**24 - 1),
    st.integers(0, 8),
    st.data(),
)
def test_oversized_frame_is_refused_on_its_header(
    before: list[f.Frame], excess: int, kind: int, data: st.DataObject
) -> None:
    """The header alone (no payload yet) of a frame over the limit is enough to refuse it."""
    limit = 300
    length = min(limit + excess, 2**24 - 1)
    wire = b"".join(f.encode_frame(*frame) for frame in before)
    header = f.frame_header(kind, 0, 1, length)
    cuts = data.draw(st.lists(st.integers(0, len(header) - 1), max_size=4))
    reader = f.FrameReader(limit)
    assert [frame[3] for frame in reader.feed(wire)] == [frame[3] for frame in before]
    for piece in split(header[:-1], cuts):
        assert reader.feed(piece) == []
    assert reader.buffered == f.HEADER_SIZE - 1
    with pytest.raises(Http2ProtocolError) as info:
        reader.feed(header[-1:])
    assert info.value.code is ErrorCode.FRAME_SIZE_ERROR
    assert f"frame of {length} bytes" in info.value.message


def test_frame_exactly_at_the_limit_is_accepted() -> None:
    reader = f.FrameReader(100)
    assert reader.feed(f.encode_frame(f.DATA, 1, 3, b"a" * 100)) == [(f.DATA, 1, 3, b"a" * 100)]
    with pytest.raises(Http2ProtocolError):
        f.FrameReader(100).feed(f.frame_header(f.DATA, 0, 3, 101))


# -- payload helpers -------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=60))
def test_settings_payload(payload: bytes) -> None:
    if len(payload) % 6:
        with pytest.raises(Http2ProtocolError) as info:
            f.settings_payload(payload)
        assert info.value.code is ErrorCode.FRAME_SIZE_ERROR
        return
    expected = [
        (int.from_bytes(payload[i : i + 2], "big"), int.from_bytes(payload[i + 2 : i + 6], "big"))
        for i in range(0, len(payload), 6)
    ]
    assert f.settings_payload(payload) == expected
    assert f.encode_settings(expected)[f.HEADER_SIZE :] == payload


@FUZZ
@given(st.binary(max_size=12))
def test_u32_payload(payload: bytes) -> None:
    if len(payload) != 4:
        with pytest.raises(Http2ProtocolError) as info:
            f.u32_payload(payload, "WINDOW_UPDATE")
        assert info.value.code is ErrorCode.FRAME_SIZE_ERROR
        assert "WINDOW_UPDATE" in info.value.message
        return
    assert f.u32_payload(payload, "RST_STREAM") == int.from_bytes(payload, "big")


@FUZZ
@given(st.binary(max_size=40))
def test_goaway_payload(payload: bytes) -> None:
    if len(payload) < 8:
        with pytest.raises(Http2ProtocolError) as info:
            f.goaway_payload(payload)
        assert info.value.code is ErrorCode.FRAME_SIZE_ERROR
        return
    last, code, debug = f.goaway_payload(payload)
    assert last == int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
    assert code == int.from_bytes(payload[4:8], "big")
    assert debug == payload[8:]
    assert f.goaway_payload(f.encode_goaway(last, code, debug)[f.HEADER_SIZE :]) == (
        last,
        code,
        debug,
    )


def _padding_model(payload: bytes, flags: int) -> bytes | ErrorCode:
    if not flags & f.FLAG_PADDED:
        return payload
    if not payload:
        return ErrorCode.FRAME_SIZE_ERROR
    if payload[0] >= len(payload):
        return ErrorCode.PROTOCOL_ERROR
    return payload[1 : len(payload) - payload[0]]


@FUZZ
@given(st.binary(max_size=40), st.integers(0, 255))
def test_strip_padding(payload: bytes, flags: int) -> None:
    expected = _padding_model(payload, flags)
    if isinstance(expected, ErrorCode):
        with pytest.raises(Http2ProtocolError) as info:
            f.strip_padding(payload, flags)
        assert info.value.code is expected
    else:
        assert f.strip_padding(payload, flags) == expected


@FUZZ
@given(st.binary(max_size=40), st.integers(0, 255))
def test_header_block_fragment(payload: bytes, flags: int) -> None:
    expected = _padding_model(payload, flags)
    if not isinstance(expected, ErrorCode) and flags & f.FLAG_PRIORITY:
        expected = ErrorCode.FRAME_SIZE_ERROR if len(expected) < 5 else expected[5:]
    if isinstance(expected, ErrorCode):
        with pytest.raises(Http2ProtocolError) as info:
            f.header_block_fragment(payload, flags)
        assert info.value.code is expected
    else:
        assert f.header_block_fragment(payload, flags) == expected


@QUICK
@given(st.binary(max_size=100), st.integers(0, 200), st.booleans())
def test_padding_round_trip(content: bytes, pad: int, priority: bool) -> None:
    """A padded (and prioritised) HEADERS payload built by hand gives back its content."""
    flags = f.FLAG_PADDED | (f.FLAG_PRIORITY if priority else 0)
    body = (b"\x80\x00\x00\x01\x10" if priority else b"") + content
    payload = bytes((pad,)) + body + b"\x00" * pad
    assert f.header_block_fragment(payload, flags) == content


# -- ClientHttp2Connection -------------------------------------------------------------------


def _feed(conn: Any, chunk: bytes) -> list[Event] | Http2ProtocolError:
    try:
        events: list[Event] = conn.receive_data(chunk)
    except Http2ProtocolError as exc:
        event(f"connection error {exc.code.name}")
        check_failed(conn, exc)
        return exc
    for item in events:
        event(type(item).__name__)
        assert isinstance(item, EVENT_TYPES)
        if isinstance(item, DataReceived):
            assert len(item.data) <= item.flow_controlled_length
        if isinstance(item, (DataReceived, ResponseReceived, TrailersReceived, StreamReset)):
            assert item.stream_id % 2 == 1
    return events


@pytest.mark.parametrize("engine", ENGINES)
@FUZZ
@given(st.binary(max_size=400), st.data())
def test_connection_on_garbage_gives_events_or_protocol_error(
    engine: str, garbage: bytes, data: st.DataObject
) -> None:
    conn = connected(engine)
    conn.start_stream(encode_field(b":method", b"POST"))
    conn.data_to_send()
    for chunk in data.draw(chunked(garbage)):
        if isinstance(_feed(conn, chunk), Http2ProtocolError):
            return


@pytest.mark.parametrize("engine", ENGINES)
@FUZZ
@given(st.lists(plausible_frames(), max_size=25), st.data())
def test_connection_on_random_frames_gives_events_or_protocol_error(
    engine: str, wire_frames: list[bytes], data: st.DataObject
) -> None:
    """Structurally valid frames of random kinds, flags, streams and payloads."""
    conn = connected(engine, stream_window_size=65535, connection_window_size=65535)
    open_streams(conn)
    wire = data.draw(mutated(b"".join(wire_frames)))
    for chunk in data.draw(chunked(wire)):
        if isinstance(_feed(conn, chunk), Http2ProtocolError):
            return


@st.composite
def client_actions(draw: st.DrawFn) -> tuple[str, int, int]:
    action = draw(st.sampled_from(["frame", "frame", "frame", "start", "send", "end", "reset"]))
    return action, draw(st.sampled_from([1, 3, 5, 7])), draw(st.integers(0, 20_000))


@pytest.mark.parametrize("engine", ENGINES)
@FUZZ
@given(st.lists(st.tuples(client_actions(), plausible_frames()), max_size=30))
def test_connection_window_is_always_handed_back(
    engine: str,
    steps: list[tuple[tuple[str, int, int], bytes]],
) -> None:
    """Frames one at a time between client actions: every DATA byte the connection took
    (delivered, refused or ignored) is handed back at connection level once the caller
    acknowledges what it was given; no other exception than the protocol error."""
    window = 65535
    conn = connected(engine, stream_window_size=65535, connection_window_size=window)
    open_streams(conn)
    received = 0  # DATA bytes the client processed
    credited = 0  # connection-level WINDOW_UPDATE increments it sent
    for (action, stream_id, size), frame in steps:
        if action == "start" and conn.stream_ids_left:
            # A peer's SETTINGS_MAX_CONCURRENT_STREAMS may be 0 (ClientConnection then
            # queues its calls): an engine may refuse the stream, cleanly.
            with contextlib.suppress(StreamClosedError):
                conn.start_stream(encode_field(b":method", b"POST"), end_stream=size % 3 == 0)
        elif action in ("send", "end"):
            try:
                room = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
                if action == "send" and room > 0:
                    conn.send_data(stream_id, b"s" * min(room, size))
                elif action == "end" and room >= 0:  # see the xfail test of the other file
                    conn.end_stream(stream_id)
            except StreamClosedError:
                pass
        elif action == "reset":
            conn.reset_stream(stream_id)
        else:
            outcome = _feed(conn, frame)
            if isinstance(outcome, Http2ProtocolError):
                return
            received += sum(len(p) for kind, _, _, p in parse_all(frame) if kind == f.DATA)
            for item in outcome:
                if isinstance(item, DataReceived):
                    conn.acknowledge_received_data(item.flow_controlled_length, item.stream_id)
        for kind, _, frame_stream, payload in parse_all(conn.data_to_send()):
            if kind == f.WINDOW_UPDATE and frame_stream == 0:
                credited += f.u32_payload(payload, "WINDOW_UPDATE")
        outstanding = received - credited
        assert 0 <= outstanding < window // 2


def test_a_stream_over_the_peers_concurrency_limit_is_refused_cleanly_by_h2() -> None:
    """The case Hypothesis found: after the peer's SETTINGS_MAX_CONCURRENT_STREAMS of 0,
    the h2 engine refuses a new stream with StreamClosedError (ClientConnection queues its
    calls instead of starting them; see test_keepalive_and_limits)."""
    conn = connected("h2")
    conn.receive_data(f.encode_settings([(f.SETTINGS_MAX_CONCURRENT_STREAMS, 0)]))
    with pytest.raises(StreamClosedError, match="cannot open a stream"):
        conn.start_stream(encode_field(b":method", b"POST"))
