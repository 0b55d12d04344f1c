"""Property-based tests of gRPC message framing (``esdb_wire.transport.framing``).

The reference model used throughout: the wire stream is the concatenation of framed
messages, whose end offsets are ``ends``; a chunk covers ``[start, stop)`` of the stream.
A chunk *completes* the messages whose end lies in ``(start, stop]``, and ``held`` (per the
:class:`MessageDecoder` docstring) is the number of bytes of that chunk that belong to the
messages it completes: every byte of the chunk before the last end it contains, i.e.
``last_end - start`` (or 0 when the chunk completes nothing). Every other byte of the chunk
belongs to an unfinished message and is handed back to the peer at once.
"""

from __future__ import annotations

import bisect
import struct
import zlib
from collections.abc import Callable, Sequence

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from esdb_wire.transport.framing import (
    MAX_WIRE_LENGTH,
    PREFIX_SIZE,
    FramingError,
    MessageDecoder,
    encode_message,
)
from esdb_wire.transport.status import StatusCode, StatusError

BIG_MAX = 1 << 20
SMALL_MAX = 1000

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- helpers ---------------------------------------------------------------------------------


def frame(flag: int, payload: bytes) -> bytes:
    """A message with an explicit flag byte (encode_message only writes flag 0)."""
    return struct.pack(">BI", flag, len(payload)) + payload


def gzip_compress(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip_compress, "deflate": zlib.compress}


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the (unsorted, possibly repeated: empty chunks) offsets ``cuts``."""
    points = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in zip(points, points[1:])]


def message_ends(sizes: Sequence[int]) -> list[int]:
    """End offsets in the stream of framed messages whose payloads have ``sizes``."""
    ends: list[int] = []
    offset = 0
    for size in sizes:
        offset += PREFIX_SIZE + size
        ends.append(offset)
    return ends


def expected_held(ends: Sequence[int], start: int, stop: int) -> int:
    """Bytes of chunk ``[start, stop)`` belonging to messages it completes."""
    index = bisect.bisect_right(ends, stop) - 1
    if index < 0 or ends[index] <= start:
        return 0
    return ends[index] - start


def completed_count(ends: Sequence[int], start: int, stop: int) -> int:
    """How many messages end in ``(start, stop]``."""
    return bisect.bisect_right(ends, stop) - bisect.bisect_right(ends, start)


def feed_until_error(decoder: MessageDecoder, chunks: Sequence[bytes]) -> tuple[int, FramingError]:
    """Feed ``chunks``; return the index of the chunk that raised, and the error."""
    for index, chunk in enumerate(chunks):
        try:
            decoder.feed(chunk)
        except FramingError as exc:
            return index, exc
    raise AssertionError("no FramingError raised")


# -- strategies ------------------------------------------------------------------------------

small_payloads = st.binary(max_size=40)
# Several KiB without asking hypothesis to draw every byte: a short pattern repeated.
large_payloads = st.builds(
    lambda size, pattern: (pattern * (size // len(pattern) + 1))[:size],
    st.integers(min_value=1024, max_value=6 * 1024),
    st.binary(min_size=1, max_size=16),
)
payloads = st.one_of(small_payloads, small_payloads, small_payloads, large_payloads)
payload_lists = st.lists(payloads, max_size=12)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` in hypothesis-chosen chunks: random cuts, bytewise, or around boundaries."""
    mode = draw(st.sampled_from(["cuts", "cuts", "cuts", "bytewise", "whole"]))
    if mode == "whole":
        return [data]
    if mode == "bytewise":
        # One byte per chunk, with a few empty chunks sprinkled in.
        chunks = [data[i : i + 1] for i in range(len(data))]
        for position in draw(st.lists(st.integers(0, len(chunks)), max_size=3)):
            chunks.insert(position, b"")
        return chunks
    cuts = draw(st.lists(st.integers(min_value=0, max_value=len(data)), max_size=40))
    return split(data, cuts)


# -- encode_message --------------------------------------------------------------------------


@FAST
@given(payloads)
def test_encode_message_layout(payload: bytes) -> None:
    wire = encode_message(payload)
    assert wire[:1] == b"\x00"
    assert int.from_bytes(wire[1:PREFIX_SIZE], "big") == len(payload)
    assert wire[PREFIX_SIZE:] == payload


# -- round trip in any chunking, with held accounting ----------------------------------------


@FAST
@given(st.data(), payload_lists)
def test_any_chunking_round_trips_and_held_matches_model(
    data: st.DataObject, messages: list[bytes]
) -> None:
    stream = b"".join(encode_message(m) for m in messages)
    chunks = data.draw(chunked(stream), label="chunks")
    assert b"".join(chunks) == stream
    ends = message_ends([len(m) for m in messages])
    boundaries = {0, *ends}

    decoder = MessageDecoder(BIG_MAX)
    decoded: list[bytes] = []
    total_held = 0
    start = 0
    for chunk in chunks:
        stop = start + len(chunk)
        completed = decoder.feed(chunk)
        held = decoder.held

        # Messages come out exactly when their last byte arrives.
        assert len(completed) == completed_count(ends, start, stop)
        decoded.extend(completed)

        # held: what the docstring says, exactly.
        assert held == expected_held(ends, start, stop)
        assert 0 <= held <= len(chunk)
        if not completed:
            assert held == 0
        if start in boundaries and stop in boundaries:
            assert held == len(chunk)  # only whole messages in this chunk
        # Never hold more than the wire size of the messages handed out (so releasing
        # len(message) + 5 per consumed message can never over-release).
        assert held <= sum(PREFIX_SIZE + len(m) for m in completed)

        assert decoder.pending == (stop not in boundaries)
        total_held += held
        start = stop

    assert decoded == messages
    assert not decoder.pending
    assert total_held <= len(stream)
    if len(chunks) == 1:
        assert total_held == len(stream)


@FAST
@given(payload_lists)
def test_flow_control_bookkeeping_returns_every_byte(messages: list[bytes]) -> None:
    """The connection's scheme: ack (len - held) at once; on consuming a message, release
    min(held_total, len(message) + 5). After consuming everything, every byte is acked."""
    stream = b"".join(encode_message(m) for m in messages)
    # Adversarial but deterministic chunking: 7-byte chunks straddle every boundary.
    chunks = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    decoder = MessageDecoder(BIG_MAX)
    acked = 0
    held_total = 0
    queue: list[bytes] = []
    for chunk in chunks:
        completed = decoder.feed(chunk)
        if completed:
            queue.extend(completed)
            held_total += decoder.held
        acked += len(chunk) - decoder.held
        # Consume one message between chunks, as an application might.
        if queue:
            message = queue.pop(0)
            released = min(held_total, len(message) + PREFIX_SIZE)
            held_total -= released
            acked += released
    for message in queue:
        released = min(held_total, len(message) + PREFIX_SIZE)
        held_total -= released
        acked += released
    assert held_total == 0
    assert acked == len(stream)


def test_bytewise_feeding_holds_only_the_completing_byte() -> None:
    messages = [b"", b"a", b"hello", b"x" * 300, b""]
    stream = b"".join(encode_message(m) for m in messages)
    ends = set(message_ends([len(m) for m in messages]))
    decoder = MessageDecoder(BIG_MAX)
    decoded: list[bytes] = []
    for offset in range(len(stream)):
        out = decoder.feed(stream[offset : offset + 1])
        decoded.extend(out)
        assert decoder.held == (1 if offset + 1 in ends else 0)
        assert len(out) == (1 if offset + 1 in ends else 0)
        assert decoder.feed(b"") == []  # empty chunks change nothing
        assert decoder.held == 0
    assert decoded == messages
    assert not decoder.pending


def test_message_of_exactly_max_size_is_accepted() -> None:
    decoder = MessageDecoder(SMALL_MAX)
    payload = bytes(range(256)) * 3 + b"z" * (SMALL_MAX - 768)
    assert decoder.feed(encode_message(payload)) == [payload]
    assert decoder.held == SMALL_MAX + PREFIX_SIZE


# -- compression -----------------------------------------------------------------------------


@FAST
@given(
    st.data(),
    st.sampled_from(["gzip", "deflate"]),
    st.lists(st.tuples(st.booleans(), payloads), max_size=8),
    st.booleans(),
)
def test_compressed_messages_round_trip(
    data: st.DataObject,
    encoding: str,
    messages: list[tuple[bool, bytes]],
    via_set_encoding: bool,
) -> None:
    compress = COMPRESSORS[encoding]
    wire = [frame(1, compress(p)) if flagged else encode_message(p) for flagged, p in messages]
    stream = b"".join(wire)
    chunks = data.draw(chunked(stream), label="chunks")
    ends = message_ends([len(w) - PREFIX_SIZE for w in wire])
    if via_set_encoding:
        decoder = MessageDecoder(BIG_MAX)
        decoder.set_encoding(encoding)
    else:
        decoder = MessageDecoder(BIG_MAX, encoding)
    decoded: list[bytes] = []
    start = 0
    for chunk in chunks:
        decoded.extend(decoder.feed(chunk))
        # held counts wire bytes, not decompressed ones.
        assert decoder.held == expected_held(ends, start, start + len(chunk))
        start += len(chunk)
    assert decoded == [p for _, p in messages]
    assert not decoder.pending


@pytest.mark.parametrize("encoding", [None, "identity"])
@QUICK
@given(st.data(), st.lists(payloads, max_size=3), small_payloads)
def test_compressed_flag_without_encoding_is_internal(
    encoding: str | None, data: st.DataObject, before: list[bytes], payload: bytes
) -> None:
    prefix = b"".join(encode_message(m) for m in before)
    stream = prefix + frame(1, zlib.compress(payload))
    chunks = data.draw(chunked(stream), label="chunks")
    decoder = MessageDecoder(BIG_MAX, encoding)
    index, exc = feed_until_error(decoder, chunks)
    assert exc.code == StatusCode.INTERNAL
    assert isinstance(exc, StatusError)
    # Raised by the chunk holding the flag's 5-byte prefix's last byte, not later.
    assert index == chunk_index_of(chunks, len(prefix) + PREFIX_SIZE - 1)


def chunk_index_of(chunks: Sequence[bytes], offset: int) -> int:
    """Index of the chunk that contains stream byte ``offset``."""
    start = 0
    for index, chunk in enumerate(chunks):
        if start <= offset < start + len(chunk):
            return index
        start += len(chunk)
    raise AssertionError(f"offset {offset} beyond the stream")


@QUICK
@given(
    st.data(),
    st.one_of(st.just(2), st.integers(min_value=2, max_value=255)),
    st.sampled_from([None, "gzip", "deflate"]),
    st.lists(payloads, max_size=3),
    st.integers(min_value=0, max_value=BIG_MAX),
)
def test_flag_above_one_is_rejected_at_the_prefix(
    data: st.DataObject,
    flag: int,
    encoding: str | None,
    before: list[bytes],
    length: int,
) -> None:
    prefix = b"".join(encode_message(m) for m in before)
    # Only the 5-byte prefix of the bad message: it must be rejected without its body.
    stream = prefix + struct.pack(">BI", flag, length)
    chunks = data.draw(chunked(stream), label="chunks")
    index, exc = feed_until_error(MessageDecoder(BIG_MAX, encoding), chunks)
    assert exc.code == StatusCode.INTERNAL
    assert index == chunk_index_of(chunks, len(stream) - 1)


@FAST
@given(
    st.data(),
    st.integers(min_value=0, max_value=SMALL_MAX),
    st.sampled_from([None, "gzip", "deflate"]),
    st.integers(min_value=0, max_value=1),
    st.lists(st.binary(max_size=20), max_size=3),
)
def test_oversized_length_prefix_is_rejected_before_the_body(
    data: st.DataObject,
    max_size: int,
    encoding: str | None,
    flag: int,
    before: list[bytes],
) -> None:
    length = data.draw(st.integers(min_value=max_size + 1, max_value=MAX_WIRE_LENGTH), "length")
    if encoding is None:
        flag = 0  # flag 1 without an encoding is a different error
    before = [m[:max_size] for m in before]
    prefix = b"".join(encode_message(m) for m in before)
    # Only the 5-byte prefix of the oversized message: no body ever arrives.
    stream = prefix + struct.pack(">BI", flag, length)
    chunks = data.draw(chunked(stream), label="chunks")
    index, exc = feed_until_error(MessageDecoder(max_size, encoding), chunks)
    assert exc.code == StatusCode.RESOURCE_EXHAUSTED
    assert index == chunk_index_of(chunks, len(stream) - 1)


def test_oversized_prefix_split_across_every_position() -> None:
    header = struct.pack(">BI", 0, SMALL_MAX + 1)
    for cut in range(1, PREFIX_SIZE):
        decoder = MessageDecoder(SMALL_MAX)
        assert decoder.feed(header[:cut]) == []
        assert decoder.pending
        with pytest.raises(FramingError) as info:
            decoder.feed(header[cut:])
        assert info.value.code == StatusCode.RESOURCE_EXHAUSTED


@QUICK
@given(
    st.sampled_from(["gzip", "deflate"]),
    st.integers(min_value=0, max_value=4 * SMALL_MAX),
    st.binary(min_size=1, max_size=4),
    st.booleans(),
)
def test_decompressed_size_is_limited(
    encoding: str, size: int, pattern: bytes, bytewise: bool
) -> None:
    original = (pattern * (size // len(pattern) + 1))[:size]
    compressed = COMPRESSORS[encoding](original)
    if len(compressed) > SMALL_MAX:
        assume(False)  # would be rejected by its length prefix instead
    stream = frame(1, compressed)
    chunks = [stream[i : i + 1] for i in range(len(stream))] if bytewise else [stream]
    decoder = MessageDecoder(SMALL_MAX, encoding)
    if size <= SMALL_MAX:
        out = [m for chunk in chunks for m in decoder.feed(chunk)]
        assert out == [original]
    else:
        _, exc = feed_until_error(decoder, chunks)
        assert exc.code == StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_decompressed_size_boundary(encoding: str) -> None:
    compress = COMPRESSORS[encoding]
    assert MessageDecoder(SMALL_MAX, encoding).feed(frame(1, compress(bytes(SMALL_MAX)))) == [
        bytes(SMALL_MAX)
    ]
    with pytest.raises(FramingError) as info:
        MessageDecoder(SMALL_MAX, encoding).feed(frame(1, compress(bytes(SMALL_MAX + 1))))
    assert info.value.code == StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not compressed at all",
        b"\x1f\x8b",
        b"\x78\x9c",
        zlib.compress(b"truncated stream " * 20)[:-6],
        gzip_compress(b"truncated stream " * 20)[:-10],
    ],
)
def test_garbage_compressed_payload_is_framing_error(encoding: str, payload: bytes) -> None:
    with pytest.raises(FramingError) as info:
        MessageDecoder(BIG_MAX, encoding).feed(frame(1, payload))
    assert info.value.code == StatusCode.INTERNAL


@FAST
@given(st.sampled_from(["gzip", "deflate"]), st.binary(max_size=200))
def test_arbitrary_compressed_payload_decodes_or_is_framing_error(
    encoding: str, payload: bytes
) -> None:
    error: FramingError | None = None
    out: list[bytes] = []
    try:
        out = MessageDecoder(BIG_MAX, encoding).feed(frame(1, payload))
    except FramingError as exc:
        error = exc
    if error is None:
        assert len(out) == 1
    else:
        assert error.code in (StatusCode.INTERNAL, StatusCode.RESOURCE_EXHAUSTED)


@pytest.mark.parametrize("encoding", ["br", "snappy", "GZIP", ""])
def test_unsupported_encoding_is_unimplemented(encoding: str) -> None:
    with pytest.raises(FramingError) as info:
        MessageDecoder(BIG_MAX, encoding)
    assert info.value.code == StatusCode.UNIMPLEMENTED
    decoder = MessageDecoder(BIG_MAX)
    with pytest.raises(FramingError):
        decoder.set_encoding(encoding)


# -- garbage ---------------------------------------------------------------------------------


# Pure noise almost always fails at the first prefix, so also build streams that look
# plausible for a while: valid frames, frames with any flag and mismatched lengths,
# compressed or random bodies, and raw noise, in any order.
segments = st.one_of(
    st.binary(max_size=40).map(encode_message),
    st.builds(frame, st.integers(0, 2), st.binary(max_size=40)),
    st.builds(
        lambda flag, length, body: struct.pack(">BI", flag, length) + body,
        st.integers(0, 255),
        st.integers(0, 2 * SMALL_MAX),
        st.binary(max_size=40),
    ),
    st.builds(
        lambda name, body: frame(1, COMPRESSORS[name](body)),
        st.sampled_from(["gzip", "deflate"]),
        st.binary(max_size=60),
    ),
    st.binary(max_size=20),
)
garbage_streams = st.one_of(st.binary(max_size=2000), st.lists(segments, max_size=12).map(b"".join))


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), garbage_streams, st.sampled_from([None, "identity", "gzip", "deflate"]))
def test_garbage_decodes_or_raises_framing_error(
    data: st.DataObject, garbage: bytes, encoding: str | None
) -> None:
    chunks = data.draw(chunked(garbage), label="chunks")
    decoder = MessageDecoder(SMALL_MAX, encoding)
    consumed = 0
    error: FramingError | None = None
    try:
        for chunk in chunks:
            out = decoder.feed(chunk)
            assert 0 <= decoder.held <= len(chunk)
            assert all(len(m) <= SMALL_MAX for m in out)
            consumed += len(chunk)
    except FramingError as exc:  # anything else propagates and fails the test
        error = exc
    if error is None:
        assert consumed == len(garbage)
    else:
        assert isinstance(error, StatusError)
        assert error.code in (StatusCode.INTERNAL, StatusCode.RESOURCE_EXHAUSTED)


def test_decompression_bomb_is_stopped_at_the_limit() -> None:
    bomb = zlib.compress(bytes(200_000_000), 9)
    decoder = MessageDecoder(1 << 20, "deflate")
    try:
        import tracemalloc  # noqa: PLC0415
    except ImportError:  # PyPy: no tracemalloc; the error itself is still checked
        tracemalloc = None  # type: ignore[assignment]
    if tracemalloc is not None:
        tracemalloc.start()
    try:
        with pytest.raises(FramingError) as info:
            decoder.feed(struct.pack(">BI", 1, len(bomb)) + bomb)
        if tracemalloc is not None:
            _, peak = tracemalloc.get_traced_memory()
            assert peak < 20 * (1 << 20)
    finally:
        if tracemalloc is not None:
            tracemalloc.stop()
    assert info.value.code is StatusCode.RESOURCE_EXHAUSTED
