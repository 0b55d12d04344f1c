"""The client's HTTP/2 engines (``esdb_wire.transport.http2.engine``: ``h2`` and
``native``) against an independent HTTP/2 implementation: an in-memory ``h2`` server,
bytes pumped both ways. Protocol errors that h2 will not commit are sent as hand-built
frames. Every test runs on both engines unless marked ``native_only`` (with the reason:
a behaviour of our own state machine that the ``h2`` engine leaves to ``h2``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esdb_wire.transport.config import ConnectionConfig
from esdb_wire.transport.connection import ClientConnection
from esdb_wire.transport.framing import encode_message
from esdb_wire.transport.hpack_static import StaticHeaderEncoder, encode_field
from esdb_wire.transport.http2 import frames as f
from esdb_wire.transport.http2.engine import ENGINES, create_engine
from esdb_wire.transport.http2.errors import ErrorCode, Http2ProtocolError, StreamClosedError
from esdb_wire.transport.http2.events import DataReceived, Event, ResponseReceived
from esdb_wire.transport.status import StatusCode

Header = tuple[bytes, bytes]
REQUEST: list[Header] = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":path", b"/svc/Method"),
    (b":authority", b"localhost:2113"),
    (b"content-type", b"application/grpc"),
    (b"te", b"trailers"),
]
OK: list[Header] = [(b":status", b"200"), (b"content-type", b"application/grpc")]
TRAILERS: list[Header] = [(b"grpc-status", b"0"), (b"grpc-message", b"fine")]
STATUS_200 = encode_field(b":status", b"200")
SC = h2.settings.SettingCodes
ENGINE = {"name": "native"}


@pytest.fixture(autouse=True, params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    """Each test runs once per engine; ``native_only`` tests skip the ``h2`` run."""
    marker = request.node.get_closest_marker("native_only")
    if marker is not None and request.param != "native":
        pytest.skip(f"native engine only: {marker.args[0]}")
    ENGINE["name"] = request.param
    return str(request.param)


def new_engine(
    stream_window_size: int = 65535,
    connection_window_size: int = 65535,
    max_frame_size: int = 16384,
    max_header_list_size: int = 2**20,
) -> Any:
    """A client engine of the engine under test (typed loosely: tests reach into it)."""
    return create_engine(
        ENGINE["name"],
        stream_window_size=stream_window_size,
        connection_window_size=connection_window_size,
        max_frame_size=max_frame_size,
        max_header_list_size=max_header_list_size,
    )


# -- helpers ---------------------------------------------------------------------------------


def described(events: Sequence[Event]) -> list[tuple[str, dict[str, object]]]:
    """Events in a comparable form: the class name and the fields."""
    return [
        (type(event).__name__, {name: getattr(event, name) for name in event.__slots__})
        for event in events
    ]


def response(stream_id: int, headers: Sequence[Header], end_stream: bool = False) -> Any:
    return (
        "ResponseReceived",
        {"stream_id": stream_id, "headers": tuple(headers), "end_stream": end_stream},
    )


def data_event(stream_id: int, data: bytes, length: int, end_stream: bool = False) -> Any:
    fields = {"stream_id": stream_id, "data": data, "end_stream": end_stream}
    return ("DataReceived", {**fields, "flow_controlled_length": length})


def reset_event(stream_id: int, code: int, remote: bool, reason: str = "") -> Any:
    fields = {"stream_id": stream_id, "error_code": code, "remote": remote}
    return ("StreamReset", {**fields, "reason": reason})


def parse_all(data: bytes) -> list[f.Frame]:
    """Every frame of ``data`` (whole frames only; a leading client preface is skipped)."""
    if data.startswith(f.PREFACE):
        data = data[len(f.PREFACE) :]
    reader = f.FrameReader(f.MAX_FRAME_SIZE_LIMIT)
    frames = reader.feed(data)
    assert reader.buffered == 0
    return frames


def request_block(extra: Iterable[Header] = ()) -> bytes:
    return StaticHeaderEncoder().encode_fields([*REQUEST, *extra])


def h2_headers(headers: Iterable[tuple[Any, Any]]) -> list[Header]:
    return [(bytes(name), bytes(value)) for name, value in headers]


def spread(size: int) -> bytes:
    """``size`` printable bytes that neither repeat nor compress much."""
    return bytes(33 + (i * 7919 + (i >> 7) * 31) % 94 for i in range(size))


class Peer:
    """Our client engine and an h2 server, back to back in memory."""

    def __init__(self, **options: int) -> None:
        self.client = new_engine(**options)
        self.server = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.server.initiate_connection()
        self.client.initiate()
        self.client_events: list[Event] = []
        self.server_events: list[h2.events.Event] = []
        self.to_client: list[bytes] = []
        self.to_server: list[bytes] = []
        self.pump()
        # The SETTINGS exchange; tests start with empty event lists.
        self.setup_events = self.take()
        self.setup_server_events = self.take_server()

    def pump(self) -> None:
        for _ in range(100):
            to_server = self.client.data_to_send()
            if to_server:
                self.to_server.append(to_server)
                self.server_events.extend(self.server.receive_data(to_server))
            to_client = self.server.data_to_send()
            if to_client:
                self.to_client.append(to_client)
                self.client_events.extend(self.client.receive_data(to_client))
            if not to_server and not to_client:
                return
        raise AssertionError("no quiescence")

    def take(self) -> list[tuple[str, dict[str, object]]]:
        """The client's events since the last call, described."""
        events, self.client_events = self.client_events, []
        return described(events)

    def take_server(self, kind: type | None = None) -> list[Any]:
        events, self.server_events = self.server_events, []
        return [event for event in events if kind is None or isinstance(event, kind)]

    def frames_to_client(self) -> list[f.Frame]:
        frames, self.to_client = parse_all(b"".join(self.to_client)), []
        return frames

    def start(self, extra: Iterable[Header] = (), end_stream: bool = False) -> int:
        stream_id: int = self.client.start_stream(request_block(extra), end_stream)
        self.pump()
        return stream_id

    def respond(
        self,
        stream_id: int,
        chunks: Iterable[bytes] = (),
        headers: list[Header] = OK,
        trailers: list[Header] | None = TRAILERS,
    ) -> None:
        self.server.send_headers(stream_id, headers)
        for chunk in chunks:
            self.server.send_data(stream_id, chunk)
        if trailers is not None:
            self.server.send_headers(stream_id, trailers, end_stream=True)
        self.pump()

    def reopen_server(self) -> None:
        """h2 will not send anything after its GOAWAY: let the test server go on."""
        self.server.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN


def raw_client(**options: int) -> Any:
    """A client that has seen the server's (empty) SETTINGS; stream 1 has its response
    headers and stream 3 is open without a response; the output is drained."""
    conn = new_engine(**options)
    conn.initiate()
    conn.receive_data(f.encode_settings([]))
    assert conn.start_stream(request_block()) == 1
    assert conn.start_stream(request_block()) == 3
    headers = f.encode_frame(f.HEADERS, f.FLAG_END_HEADERS, 1, STATUS_200)
    assert described(conn.receive_data(headers)) == [response(1, [(b":status", b"200")])]
    conn.data_to_send()
    return conn


def goaways(data: bytes) -> list[tuple[int, int, bytes]]:
    return [f.goaway_payload(p) for kind, _, _, p in parse_all(data) if kind == f.GOAWAY]


def rst_streams(data: bytes) -> list[tuple[int, int]]:
    return [
        (stream_id, f.u32_payload(payload, "RST_STREAM"))
        for kind, _, stream_id, payload in parse_all(data)
        if kind == f.RST_STREAM
    ]


def window_updates(data: bytes) -> list[tuple[int, int]]:
    return [
        (stream_id, f.u32_payload(payload, "WINDOW_UPDATE"))
        for kind, _, stream_id, payload in parse_all(data)
        if kind == f.WINDOW_UPDATE
    ]


def assert_usable(conn: Any) -> None:
    """A new stream still gets its (Trailers-Only) response."""
    stream_id = conn.start_stream(request_block(), end_stream=True)
    flags = f.FLAG_END_HEADERS | f.FLAG_END_STREAM
    events = conn.receive_data(f.encode_frame(f.HEADERS, flags, stream_id, STATUS_200))
    assert described(events) == [response(stream_id, [(b":status", b"200")], end_stream=True)]
    assert conn.failure is None


# -- connection setup ------------------------------------------------------------------------


def test_preface_and_settings_are_exchanged_and_acknowledged() -> None:
    peer = Peer(
        stream_window_size=100_000,
        connection_window_size=1_000_000,
        max_frame_size=32768,
        max_header_list_size=50_000,
    )
    sent = b"".join(peer.to_server)
    assert sent.startswith(f.PREFACE)
    frames = parse_all(sent)
    assert frames[0][:3] == (f.SETTINGS, 0, 0)
    ours = {
        f.SETTINGS_ENABLE_PUSH: 0,
        f.SETTINGS_INITIAL_WINDOW_SIZE: 100_000,
        f.SETTINGS_MAX_FRAME_SIZE: 32768,
        f.SETTINGS_MAX_HEADER_LIST_SIZE: 50_000,
    }
    sent_settings = dict(f.settings_payload(frames[0][3]))
    # h2 also states a few defaults (header table size, connect protocol).
    assert {code: sent_settings.get(code) for code in ours} == ours
    assert frames[1] == (f.WINDOW_UPDATE, 0, 0, (1_000_000 - 65535).to_bytes(4, "big"))
    assert (f.SETTINGS, f.FLAG_ACK, 0, b"") in frames[2:]  # our ACK of the server's
    # The server applied ours and acknowledged them; we applied the server's.
    remote = peer.server.remote_settings
    assert remote.enable_push == 0
    assert remote.initial_window_size == 100_000
    assert remote.max_frame_size == 32768
    assert remote.max_header_list_size == 50_000
    assert peer.server.outbound_flow_control_window == 1_000_000
    assert [type(e) for e in peer.setup_server_events] == [
        h2.events.RemoteSettingsChanged,
        h2.events.WindowUpdated,
        h2.events.SettingsAcknowledged,
    ]
    assert (f.SETTINGS, f.FLAG_ACK, 0, b"") in peer.frames_to_client()
    expected = {int(code): value for code, value in peer.server.local_settings.items()}
    assert peer.setup_events == [
        ("SettingsChanged", {"changed": expected}),
        ("WindowUpdated", {"stream_id": 0}),  # INITIAL_WINDOW_SIZE is among them
    ]
    assert peer.client.peer_max_concurrent_streams == 100
    assert peer.client.max_outbound_frame_size == 16384
    assert peer.client.peer_initial_window == 65535


def test_request_header_blocks_decode_as_sent() -> None:
    peer = Peer()
    extra = [
        (b"authorization", b"Basic YWRtaW46Y2hhbmdlaXQ="),
        (b"grpc-timeout", b"1500000u"),
        (b"x-printable", bytes(range(0x21, 0x7F))),
    ]
    for end_stream in (True, False, True):  # only the first block has the size update
        stream_id = peer.start(extra, end_stream=end_stream)
        events = peer.take_server()
        request = events[0]
        assert isinstance(request, h2.events.RequestReceived)
        assert request.stream_id == stream_id
        assert h2_headers(request.headers) == [*REQUEST, *extra]
        ended = [type(e) for e in events[1:]]
        assert ended == ([h2.events.StreamEnded] if end_stream else [])
    assert peer.client.open_streams == 3


def test_request_block_larger_than_a_frame_is_continued() -> None:
    peer = Peer()
    big = [(b"x-big", spread(30_000)), (b"x-after", b"1")]
    stream_id = peer.start(big, end_stream=True)
    headers_frames = [frame[:3] for frame in parse_all(peer.to_server[-1]) if frame[2] == stream_id]
    assert headers_frames == [
        (f.HEADERS, f.FLAG_END_STREAM, stream_id),
        (f.CONTINUATION, f.FLAG_END_HEADERS, stream_id),
    ]
    (request,) = peer.take_server(h2.events.RequestReceived)
    assert h2_headers(request.headers) == [*REQUEST, *big]


# -- responses -------------------------------------------------------------------------------


def test_response_headers_data_and_trailers() -> None:
    peer = Peer()
    stream_id = peer.start()
    peer.take()
    peer.respond(stream_id, [b"hello", b"", b"world"])
    assert peer.take() == [
        response(stream_id, OK),
        data_event(stream_id, b"hello", 5),
        data_event(stream_id, b"", 0),
        data_event(stream_id, b"world", 5),
        ("TrailersReceived", {"stream_id": stream_id, "headers": tuple(TRAILERS)}),
    ]
    assert peer.client.open_streams == 1  # still open on our side
    peer.client.send_data(stream_id, b"late request", end_stream=True)
    peer.pump()
    assert peer.client.open_streams == 0
    assert [e.data for e in peer.take_server(h2.events.DataReceived)] == [b"late request"]


def test_response_ended_by_data() -> None:
    peer = Peer()
    stream_id = peer.start(end_stream=True)
    peer.take()
    peer.server.send_headers(stream_id, OK)
    peer.server.send_data(stream_id, b"last", end_stream=True)
    peer.pump()
    assert peer.take() == [response(stream_id, OK), data_event(stream_id, b"last", 4, True)]
    assert peer.client.open_streams == 0


def test_trailers_only_response() -> None:
    peer = Peer()
    stream_id = peer.start(end_stream=True)
    peer.take()
    headers = [*OK, (b"grpc-status", b"5"), (b"grpc-message", b"not found")]
    peer.server.send_headers(stream_id, headers, end_stream=True)
    peer.pump()
    assert peer.take() == [response(stream_id, headers, end_stream=True)]
    assert peer.client.open_streams == 0


def test_response_headers_over_several_frames() -> None:
    peer = Peer(max_header_list_size=200_000)
    stream_id = peer.start(end_stream=True)
    peer.take()
    peer.frames_to_client()
    headers = [*OK, (b"x-big", spread(40 * 1024)), (b"x-after", b"after")]
    peer.server.send_headers(stream_id, headers)
    peer.pump()
    kinds = [(kind, flags) for kind, flags, _, _ in peer.frames_to_client()]
    assert kinds[0] == (f.HEADERS, 0)
    assert kinds[-1] == (f.CONTINUATION, f.FLAG_END_HEADERS)
    assert len(kinds) >= 3
    assert set(kinds[1:-1]) <= {(f.CONTINUATION, 0)}
    assert peer.take() == [response(stream_id, headers)]
    # The HPACK state is still in step: trailers decode too.
    peer.server.send_headers(stream_id, [*TRAILERS, (b"x-after", b"after")], end_stream=True)
    peer.pump()
    trailers = (*TRAILERS, (b"x-after", b"after"))
    assert peer.take() == [("TrailersReceived", {"stream_id": stream_id, "headers": trailers})]


@pytest.mark.parametrize("pad_length", [0, 1, 10, 200])
def test_padded_data(pad_length: int) -> None:
    peer = Peer()
    stream_id = peer.start(end_stream=True)
    peer.server.send_headers(stream_id, OK)
    peer.pump()
    peer.take()
    peer.frames_to_client()
    peer.server.send_data(stream_id, b"hello", pad_length=pad_length)
    peer.server.send_data(stream_id, b"", end_stream=True, pad_length=pad_length)
    peer.pump()
    assert [flags for _, flags, _, _ in peer.frames_to_client()] == [
        f.FLAG_PADDED,
        f.FLAG_PADDED | f.FLAG_END_STREAM,
    ]
    assert peer.take() == [
        data_event(stream_id, b"hello", 5 + 1 + pad_length),
        data_event(stream_id, b"", 1 + pad_length, end_stream=True),
    ]


def test_informational_responses_are_skipped() -> None:
    peer = Peer()
    stream_id = peer.start(end_stream=True)
    peer.take()
    peer.server.send_headers(stream_id, [(b":status", b"100")])
    peer.server.send_headers(stream_id, [(b":status", b"103"), (b"link", b"</style.css>")])
    peer.pump()
    assert peer.take() == []
    peer.respond(stream_id, [b"body"])
    assert peer.take() == [
        response(stream_id, OK),
        data_event(stream_id, b"body", 4),
        ("TrailersReceived", {"stream_id": stream_id, "headers": tuple(TRAILERS)}),
    ]


# -- the HPACK dynamic table -----------------------------------------------------------------


@pytest.mark.native_only(
    "inspects the native decoder's cache (the h2 engine's is tested in test_h2_header_decoder)"
)
def test_repeated_blocks_decode_from_the_cache_and_stay_correct() -> None:
    peer = Peer()
    blocks: list[bytes] = []

    def exchange(headers: list[Header]) -> None:
        stream_id = peer.start(end_stream=True)
        peer.take()
        peer.frames_to_client()
        peer.server.send_headers(stream_id, headers, end_stream=True)
        peer.pump()
        (frame,) = peer.frames_to_client()
        blocks.append(frame[3])
        assert peer.take() == [response(stream_id, headers, end_stream=True)]

    first = [*OK, (b"x-server", b"one"), (b"grpc-status", b"0")]
    second = [*OK, (b"x-server", b"two"), (b"grpc-status", b"0")]
    for _ in range(4):
        exchange(first)
    # Once indexed, the same headers are byte-for-byte the same block (cache hits).
    assert blocks[1] == blocks[2] == blocks[3] != blocks[0]
    decoder: Any = peer.client._decoder
    assert blocks[3] in decoder._cache
    exchange(second)  # a new value is indexed: the table changes, the cache is cleared
    assert blocks[3] not in decoder._cache
    exchange(first)  # the old entry is still in the table, at a new index
    assert blocks[5] != blocks[3]
    exchange(second)
    exchange(first)
    assert blocks[7] == blocks[5]


def test_table_size_update_alone_invalidates_the_decode_cache() -> None:
    """A block that only resizes the table must clear the cache: a block cached while the
    table was too small to index its literal indexes it once the table has grown."""
    conn = raw_client()
    literal = b"\x40\x04x-ab\x03one"  # literal with incremental indexing
    blocks = [
        (b"\x20" + STATUS_200, [(b":status", b"200")]),  # table size 0
        (STATUS_200 + literal, [(b":status", b"200"), (b"x-ab", b"one")]),  # too big to add
        (b"\x3f\xe1\x1f" + STATUS_200, [(b":status", b"200")]),  # table size 4096 again
        (STATUS_200 + literal, [(b":status", b"200"), (b"x-ab", b"one")]),  # added now
        (STATUS_200 + b"\xbe", [(b":status", b"200"), (b"x-ab", b"one")]),  # index 62
    ]
    for block, headers in blocks:
        stream_id = conn.start_stream(request_block(), end_stream=True)
        events = conn.receive_data(_headers(stream_id, block, 5))
        assert described(events) == [response(stream_id, headers, end_stream=True)]


header_names = st.sampled_from([b"x-one", b"x-two", b"x-three", b"grpc-message", b"x-bin"])
header_values = st.sampled_from(
    [b"a", b"b", b"value", b"", b"x" * 100, b"y" * 1500, spread(3000), spread(5000)]
)
header_lists = st.lists(st.tuples(header_names, header_values), max_size=4)
table_sizes = st.sampled_from([None] * 6 + [0, 64, 256, 1024, 4096])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(header_lists, min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(0, 2), table_sizes, st.booleans()), min_size=1, max_size=20),
)
def test_dynamic_table_changes_between_responses(
    pool: list[list[Header]], exchanges: list[tuple[int, int | None, bool]]
) -> None:
    """Custom headers from a small pool, so that blocks repeat (and are decoded from the
    cache) between others that change the table, and HPACK table size changes: every
    block decodes to what the server sent."""
    peer = Peer()
    for index, table_size, with_trailers in exchanges:
        custom = pool[index % len(pool)]
        stream_id = peer.start(end_stream=True)
        if table_size is not None:
            peer.server.encoder.header_table_size = table_size
        headers = [(b":status", b"200"), *custom]
        if with_trailers:
            trailers = [(b"grpc-status", b"0"), *reversed(custom)]
            peer.respond(stream_id, [], headers=headers, trailers=trailers)
            assert peer.take() == [
                response(stream_id, headers),
                ("TrailersReceived", {"stream_id": stream_id, "headers": tuple(trailers)}),
            ]
        else:
            peer.server.send_headers(stream_id, headers, end_stream=True)
            peer.pump()
            assert peer.take() == [response(stream_id, headers, end_stream=True)]
    assert peer.client.open_streams == 0


# -- flow control ----------------------------------------------------------------------------


@pytest.mark.native_only("h2 hands stream window back by its own rule (at half the window)")
def test_server_is_blocked_until_data_is_acknowledged() -> None:
    peer = Peer(stream_window_size=65535, connection_window_size=1 << 20)
    stream_id = peer.start(end_stream=True)
    peer.server.send_headers(stream_id, OK)
    sent = 0
    while window := peer.server.local_flow_control_window(stream_id):
        chunk = min(window, peer.server.max_outbound_frame_size)
        peer.server.send_data(stream_id, b"d" * chunk)
        sent += chunk
    assert sent == 65535
    with pytest.raises(h2.exceptions.FlowControlError):
        peer.server.send_data(stream_id, b"d")
    peer.pump()
    peer.take_server()
    events = peer.client_events
    peer.client_events = []
    received = [e for e in events if isinstance(e, DataReceived)]
    assert sum(e.flow_controlled_length for e in received) == 65535
    assert b"".join(e.data for e in received) == b"d" * 65535
    peer.pump()
    assert peer.server.local_flow_control_window(stream_id) == 0  # nothing handed back yet
    for event in received:
        peer.client.acknowledge_received_data(event.flow_controlled_length, stream_id)
    peer.pump()
    updates = peer.take_server(h2.events.WindowUpdated)
    assert {e.stream_id for e in updates} == {stream_id}
    assert sum(e.delta for e in updates) == 65535
    assert peer.server.local_flow_control_window(stream_id) == 65535
    # The connection window is handed back in batches of half its size.
    assert peer.server.outbound_flow_control_window == (1 << 20) - 65535
    peer.server.send_data(stream_id, b"more", end_stream=True)
    peer.pump()
    assert peer.take() == [data_event(stream_id, b"more", 4, end_stream=True)]


def test_connection_window_is_handed_back_in_batches() -> None:
    peer = Peer(stream_window_size=1 << 20, connection_window_size=65535)
    stream_id = peer.start(end_stream=True)
    peer.server.send_headers(stream_id, OK)
    for _ in range(20):  # 20 * 16000 bytes: far more than the 65535 connection window
        peer.server.send_data(stream_id, b"c" * 16000)
        peer.pump()
        for event in peer.client_events:
            if isinstance(event, DataReceived):
                peer.client.acknowledge_received_data(event.flow_controlled_length, stream_id)
        peer.client_events = []
        peer.pump()
        assert peer.server.outbound_flow_control_window > 65535 - 32767
    # Updates once 32767 bytes or more are due: 3 frames (48,000 bytes) at a time.
    updates = [e.delta for e in peer.take_server(h2.events.WindowUpdated) if e.stream_id == 0]
    assert updates == [48_000] * 6
    assert peer.server.outbound_flow_control_window == 65535 - 32_000


def test_send_side_follows_the_servers_settings() -> None:
    peer = Peer()
    stream_id = peer.start()
    assert peer.client.local_flow_control_window(stream_id) == 65535
    with pytest.raises(ValueError, match="frame size"):
        peer.client.send_data(stream_id, b"x" * 16385)
    peer.client.send_data(stream_id, b"a" * 5000)
    peer.pump()
    peer.take()
    peer.take_server()
    peer.server.update_settings({SC.INITIAL_WINDOW_SIZE: 1000, SC.MAX_FRAME_SIZE: 32768})
    peer.pump()
    assert peer.take() == [
        ("SettingsChanged", {"changed": {4: 1000, 5: 32768}}),
        ("WindowUpdated", {"stream_id": 0}),
    ]
    assert peer.client.max_outbound_frame_size == 32768
    assert peer.client.local_flow_control_window(stream_id) == 1000 - 5000
    with pytest.raises(ValueError, match="window"):
        peer.client.send_data(stream_id, b"x")
    second = peer.start()
    assert peer.client.local_flow_control_window(second) == 1000
    peer.client.send_data(second, b"b" * 1000)
    with pytest.raises(ValueError, match="window"):
        peer.client.send_data(second, b"b")
    # More window on the first stream: one frame over the old 16384 limit is fine now.
    peer.server.increment_flow_control_window(30_000, stream_id=stream_id)
    peer.pump()
    assert peer.take() == [("WindowUpdated", {"stream_id": stream_id})]
    assert peer.client.local_flow_control_window(stream_id) == 26_000
    peer.client.send_data(stream_id, b"c" * 20_000, end_stream=True)
    peer.pump()
    received = peer.take_server(h2.events.DataReceived)
    assert [(e.stream_id, len(e.data)) for e in received] == [(second, 1000), (stream_id, 20_000)]
    assert not any(isinstance(e, h2.events.ConnectionTerminated) for e in peer.server_events)


def test_window_updates_raise_the_send_window() -> None:
    peer = Peer()
    stream_id = peer.start()
    for size in (16384, 16384, 16384, 16383):
        peer.client.send_data(stream_id, b"w" * size)
    assert peer.client.local_flow_control_window(stream_id) == 0
    peer.pump()
    peer.take()
    peer.server.increment_flow_control_window(1000, stream_id=stream_id)
    peer.pump()
    assert peer.take() == [("WindowUpdated", {"stream_id": stream_id})]
    assert peer.client.local_flow_control_window(stream_id) == 0  # the connection's is 0
    peer.server.increment_flow_control_window(500)
    peer.pump()
    assert peer.take() == [("WindowUpdated", {"stream_id": 0})]
    assert peer.client.local_flow_control_window(stream_id) == 500
    peer.client.send_data(stream_id, b"w" * 500)
    with pytest.raises(ValueError, match="window"):
        peer.client.send_data(stream_id, b"w")
    peer.pump()
    total = sum(len(e.data) for e in peer.take_server(h2.events.DataReceived))
    assert total == 65535 + 500


def test_end_stream_with_a_negative_window() -> None:
    conn = raw_client()
    conn.send_data(3, b"a" * 5000)
    conn.receive_data(_settings((f.SETTINGS_INITIAL_WINDOW_SIZE, 0)))
    assert conn.local_flow_control_window(3) == -5000
    conn.data_to_send()
    conn.end_stream(3)
    assert parse_all(conn.data_to_send()) == [(f.DATA, f.FLAG_END_STREAM, 3, b"")]


def test_grpc_end_request_with_a_negative_window() -> None:
    client = ClientConnection("test", config=ConnectionConfig(http2_engine=ENGINE["name"]))
    client.initiate()
    client.receive_data(_settings())
    call = client.open_call("/svc/M", [])
    client.send_message(call, b"m" * 4000)
    client.receive_data(_settings((f.SETTINGS_INITIAL_WINDOW_SIZE, 0)))
    stream_id = call.stream_id or 0
    assert client._http2.local_flow_control_window(stream_id) == -4005
    sent = client.data_to_send()
    client.end_request(call)  # waits: the window is negative
    # Sending END_STREAM now, or once the window is back, are both fine.
    client.receive_data(_u32(f.WINDOW_UPDATE, stream_id, 10_000))
    sent += client.data_to_send()
    assert (f.DATA, f.FLAG_END_STREAM, stream_id, b"") in parse_all(sent)
    assert call.status is None


def test_small_connection_window_is_honoured_or_refused() -> None:
    try:
        peer = Peer(connection_window_size=16384, stream_window_size=65535)
    except ValueError:
        return  # refusing the setting would be a fix too
    stream_id = peer.start(end_stream=True)
    peer.server.send_headers(stream_id, OK)
    for _ in range(4):
        peer.server.send_data(stream_id, b"z" * 16383)
    peer.pump()
    assert len([e for e in peer.client_events if isinstance(e, DataReceived)]) == 4


# -- resets, GOAWAY, PING --------------------------------------------------------------------


def test_server_reset_closes_the_stream() -> None:
    peer = Peer()
    stream_id = peer.start()
    peer.take()
    peer.server.reset_stream(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
    peer.pump()
    assert peer.take() == [reset_event(stream_id, ErrorCode.REFUSED_STREAM, remote=True)]
    assert peer.client.open_streams == 0
    with pytest.raises(StreamClosedError):
        peer.client.send_data(stream_id, b"x")
    with pytest.raises(StreamClosedError):
        peer.client.end_stream(stream_id)
    with pytest.raises(StreamClosedError):
        peer.client.local_flow_control_window(stream_id)
    peer.client.reset_stream(stream_id)  # already gone: nothing to send
    assert peer.client.data_to_send() == b""


def test_goaway_from_the_server() -> None:
    peer = Peer()
    first = peer.start()
    second = peer.start()
    peer.take()
    peer.server.close_connection(
        error_code=h2.errors.ErrorCodes.ENHANCE_YOUR_CALM,
        additional_data=b"going away",
        last_stream_id=first,
    )
    peer.pump()
    assert peer.take() == [
        (
            "GoAwayReceived",
            {
                "last_stream_id": first,
                "error_code": ErrorCode.ENHANCE_YOUR_CALM,
                "debug_data": b"going away",
            },
        )
    ]
    peer.reopen_server()
    peer.respond(first, [b"still here"])
    assert peer.take() == [
        response(first, OK),
        data_event(first, b"still here", 10),
        ("TrailersReceived", {"stream_id": first, "headers": tuple(TRAILERS)}),
    ]
    assert peer.client.failure is None
    assert peer.client.open_streams == 2  # the GOAWAY alone closes nothing at this layer
    assert second == first + 2


def test_server_ping_is_acknowledged() -> None:
    peer = Peer()
    peer.take_server()
    peer.server.ping(b"abcdefgh")
    peer.pump()
    assert peer.take() == []
    (ack,) = peer.take_server()
    assert isinstance(ack, h2.events.PingAckReceived)
    assert ack.ping_data == b"abcdefgh"


def test_client_ping_is_acknowledged() -> None:
    peer = Peer()
    peer.take_server()
    with pytest.raises(ValueError, match="8 bytes"):
        peer.client.ping(b"short")
    peer.client.ping(b"12345678")
    peer.pump()
    (ping,) = peer.take_server()
    assert isinstance(ping, h2.events.PingReceived)
    assert ping.ping_data == b"12345678"
    assert peer.take() == [("PingAcknowledged", {"payload": b"12345678"})]


@pytest.mark.parametrize("code", [ErrorCode.CANCEL, ErrorCode.NO_ERROR, ErrorCode.INTERNAL_ERROR])
def test_client_reset_reaches_the_server(code: ErrorCode) -> None:
    peer = Peer()
    stream_id = peer.start()
    peer.take_server()
    peer.client.reset_stream(stream_id, code)
    peer.pump()
    (reset,) = peer.take_server()
    assert isinstance(reset, h2.events.StreamReset)
    assert (reset.stream_id, reset.error_code, reset.remote_reset) == (stream_id, code, True)
    assert peer.client.open_streams == 0
    peer.client.reset_stream(stream_id, code)
    assert peer.client.data_to_send() == b""


def test_client_close_connection_reaches_the_server() -> None:
    peer = Peer()
    peer.start()
    peer.take_server()
    peer.client.close_connection(ErrorCode.ENHANCE_YOUR_CALM, b"calm down")
    peer.pump()
    (terminated,) = peer.take_server()
    assert isinstance(terminated, h2.events.ConnectionTerminated)
    assert terminated.error_code == ErrorCode.ENHANCE_YOUR_CALM
    assert terminated.last_stream_id == 0
    assert terminated.additional_data == b"calm down"
    with pytest.raises(StreamClosedError):
        peer.client.start_stream(request_block())
    peer.client.close_connection()
    assert peer.client.data_to_send() == b""


def test_late_data_on_reset_streams_returns_the_connection_window() -> None:
    peer = Peer(connection_window_size=65535, stream_window_size=65535)
    for _ in range(30):
        stream_id = peer.start()
        peer.server.send_headers(stream_id, OK)
        peer.pump()
        # The server's DATA is in flight when our RST_STREAM leaves.
        peer.server.send_data(stream_id, b"\x00" * 10_000)
        late = peer.server.data_to_send()
        peer.client.reset_stream(stream_id)
        peer.server_events.extend(peer.server.receive_data(peer.client.data_to_send()))
        peer.client_events.extend(peer.client.receive_data(late))
        peer.pump()
    assert [kind for kind, _ in peer.take()] == ["ResponseReceived"] * 30
    # 300,000 bytes through a 65,535 window: credit came back every 4 streams (40,000).
    assert peer.server.outbound_flow_control_window == 65535 - 300_000 % 40_000
    assert len(peer.take_server(h2.events.StreamReset)) == 30


# -- gRPC layer over the engine --------------------------------------------------------------


def test_grpc_call_with_continued_metadata_and_changing_table() -> None:
    client = ClientConnection("test", config=ConnectionConfig(http2_engine=ENGINE["name"]))
    server = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding=None)
    )
    server.initiate_connection()
    client.initiate()

    def pump() -> None:
        for _ in range(50):
            out = client.data_to_send()
            if out:
                server.receive_data(out)
            back = server.data_to_send()
            if back:
                client.receive_data(back)
            if not out and not back:
                return

    pump()
    big = spread(40_000).decode("ascii")
    for index in range(6):
        call = client.open_call("/svc/M", [])
        client.send_message(call, b"request", end=True)
        pump()
        stream_id = call.stream_id or 0
        value = big if index % 3 == 0 else f"v{index % 2}"
        server.send_headers(stream_id, [*OK, (b"x-meta", value.encode("ascii"))])
        server.send_data(stream_id, encode_message(b"reply"))
        server.send_headers(
            stream_id,
            [(b"grpc-status", b"0"), (b"x-trailer", f"t{index}".encode())],
            end_stream=True,
        )
        pump()
        assert client.take_message(call) == b"reply"
        assert call.status is StatusCode.OK
        assert call.initial_metadata == (("x-meta", value),)
        assert call.trailing_metadata == (("x-trailer", f"t{index}"),)


# -- hand-built frames: connection errors ----------------------------------------------------


def _headers(stream_id: int, block: bytes = STATUS_200, flags: int = f.FLAG_END_HEADERS) -> bytes:
    return f.encode_frame(f.HEADERS, flags, stream_id, block)


def _settings(*pairs: tuple[int, int]) -> bytes:
    return f.encode_settings(list(pairs))


def _u32(kind: int, stream_id: int, value: int) -> bytes:
    return f.encode_frame(kind, 0, stream_id, value.to_bytes(4, "big"))


PE = ErrorCode.PROTOCOL_ERROR
FSE = ErrorCode.FRAME_SIZE_ERROR
FCE = ErrorCode.FLOW_CONTROL_ERROR
CE = ErrorCode.COMPRESSION_ERROR
CONNECTION_ERRORS: list[tuple[str, bytes, ErrorCode]] = [
    ("push-promise", f.encode_frame(f.PUSH_PROMISE, 4, 1, b"\x00\x00\x00\x02\x88"), PE),
    ("data-stream-0", f.encode_frame(f.DATA, 0, 0, b"x"), PE),
    ("data-idle-stream", f.encode_frame(f.DATA, 0, 5, b"x"), PE),
    ("data-even-stream", f.encode_frame(f.DATA, 0, 2, b"x"), PE),
    ("headers-stream-0", _headers(0), PE),
    ("headers-idle-stream", _headers(7), PE),
    ("continuation-alone", f.encode_frame(f.CONTINUATION, 4, 1, STATUS_200), PE),
    ("headers-then-ping", _headers(1, b"", 0) + f.encode_frame(f.PING, 0, 0, b"p" * 8), PE),
    ("headers-then-data", _headers(1, b"", 0) + f.encode_frame(f.DATA, 0, 1, b"x"), PE),
    ("headers-then-other-stream", _headers(1, b"", 0) + _headers(3), PE),
    ("headers-then-unknown", _headers(1, b"", 0) + f.encode_frame(0xAB, 0, 1), PE),
    (
        "continuation-other-stream",
        _headers(1, b"", 0) + f.encode_frame(f.CONTINUATION, 4, 3, STATUS_200),
        PE,
    ),
    ("window-update-0", _u32(f.WINDOW_UPDATE, 0, 0), PE),
    ("window-update-length", f.encode_frame(f.WINDOW_UPDATE, 0, 0, b"\x00\x01"), FSE),
    ("connection-window-overflow", _u32(f.WINDOW_UPDATE, 0, 2**31 - 65535), FCE),
    ("initial-window-too-big", _settings((f.SETTINGS_INITIAL_WINDOW_SIZE, 2**31)), FCE),
    (
        "initial-window-overflows-stream",
        _u32(f.WINDOW_UPDATE, 1, 2**31 - 1 - 65535)
        + _settings((f.SETTINGS_INITIAL_WINDOW_SIZE, 65536)),
        FCE,
    ),
    ("max-frame-size-small", _settings((f.SETTINGS_MAX_FRAME_SIZE, 16383)), PE),
    ("max-frame-size-big", _settings((f.SETTINGS_MAX_FRAME_SIZE, 2**24)), PE),
    ("enable-push-2", _settings((f.SETTINGS_ENABLE_PUSH, 2)), PE),
    ("settings-ack-payload", f.encode_frame(f.SETTINGS, 1, 0, b"\x00" * 6), FSE),
    ("settings-length", f.encode_frame(f.SETTINGS, 0, 0, b"\x00" * 7), FSE),
    ("settings-on-stream", f.encode_frame(f.SETTINGS, 0, 1), PE),
    ("ping-short", f.encode_frame(f.PING, 0, 0, b"1234567"), FSE),
    ("ping-long", f.encode_frame(f.PING, 1, 0, b"123456789"), FSE),
    ("ping-on-stream", f.encode_frame(f.PING, 0, 1, b"12345678"), PE),
    ("goaway-short", f.encode_frame(f.GOAWAY, 0, 0, b"\x00" * 7), FSE),
    ("goaway-on-stream", f.encode_frame(f.GOAWAY, 0, 1, b"\x00" * 8), PE),
    ("rst-stream-0", _u32(f.RST_STREAM, 0, 8), PE),
    ("rst-idle-stream", _u32(f.RST_STREAM, 9, 8), PE),
    ("rst-length", f.encode_frame(f.RST_STREAM, 0, 1, b"\x00" * 5), FSE),
    ("priority-stream-0", f.encode_frame(f.PRIORITY, 0, 0, b"\x00" * 5), PE),
    ("hpack-index-0", _headers(1, b"\x80"), CE),
    ("hpack-index-too-big", _headers(1, b"\xbf"), CE),
    ("hpack-truncated", _headers(1, b"\x00\x05ab"), CE),
    ("hpack-table-size-over-limit", _headers(1, b"\x3f\xe1\x5f"), CE),
    ("hpack-bad-continued", _headers(1, b"\x00", 0) + f.encode_frame(f.CONTINUATION, 4, 1), CE),
    ("frame-too-big", f.frame_header(f.DATA, 0, 1, 16385), FSE),
    ("data-padding-too-long", f.encode_frame(f.DATA, f.FLAG_PADDED, 1, b"\x04abc"), PE),
    ("headers-padded-empty", f.encode_frame(f.HEADERS, 0x0C, 1), FSE),
    ("headers-priority-short", f.encode_frame(f.HEADERS, 0x24, 1, b"\x00\x00"), FSE),
    (
        "connection-receive-window",
        f.encode_frame(f.DATA, 0, 1, b"d" * 16384) * 4 + f.encode_frame(f.DATA, 0, 1, b"dd"),
        FCE,
    ),
]


# Where the h2 engine's answer differs from the RFC's (and the native engine's).
H2_CODES = {
    "settings-ack-payload": PE,
    "hpack-index-0": PE,
    "hpack-index-too-big": PE,
    "hpack-truncated": PE,
    "hpack-table-size-over-limit": PE,
    "hpack-bad-continued": PE,
}
H2_UNDETECTED = {
    "rst-idle-stream": "RST_STREAM on an idle stream is ignored",
    "frame-too-big": "the frame's length is checked once its payload has arrived",
}


@pytest.mark.parametrize(
    ("wire", "code"),
    [pytest.param(wire, code, id=name) for name, wire, code in CONNECTION_ERRORS],
)
def test_connection_error(
    wire: bytes, code: ErrorCode, request: pytest.FixtureRequest, engine_name: str
) -> None:
    conn = raw_client(stream_window_size=1 << 20, connection_window_size=65535)
    name = request.node.callspec.id.split("-", 1)[1]
    if engine_name == "h2":
        if name in H2_UNDETECTED:
            assert conn.receive_data(wire) == []
            pytest.skip(f"h2 does not treat {name} as a connection error: {H2_UNDETECTED[name]}")
        code = H2_CODES.get(name, code)
    with pytest.raises(Http2ProtocolError) as info:
        conn.receive_data(wire)
    assert info.value.code is code
    assert conn.failure is info.value
    ((last_stream_id, goaway_code, debug),) = goaways(conn.data_to_send())
    assert (last_stream_id, goaway_code) == (0, code)
    if engine_name == "native":  # h2's GOAWAY carries no debug data
        assert debug == info.value.message[:200].encode()
    assert conn.receive_data(_settings()) == []
    assert conn.data_to_send() == b""
    with pytest.raises(StreamClosedError):
        conn.start_stream(request_block())


@pytest.mark.native_only("h2 does not check that the server's first frame is SETTINGS")
@pytest.mark.parametrize(
    "first",
    [
        f.encode_frame(f.PING, 0, 0, b"12345678"),
        _u32(f.WINDOW_UPDATE, 0, 100),
        f.encode_frame(0xAB, 0, 0),
        _headers(1),
        f.encode_frame(f.SETTINGS, f.FLAG_ACK, 0),
    ],
    ids=["ping", "window-update", "unknown", "headers", "settings-ack"],
)
def test_first_frame_must_be_settings(first: bytes) -> None:
    conn = new_engine()
    conn.initiate()
    conn.data_to_send()
    with pytest.raises(Http2ProtocolError) as info:
        conn.receive_data(first + _settings())
    assert info.value.code is ErrorCode.PROTOCOL_ERROR
    assert [code for _, code, _ in goaways(conn.data_to_send())] == [ErrorCode.PROTOCOL_ERROR]


@pytest.mark.native_only("h2 checks a frame's length only once its payload has arrived")
def test_frame_over_our_max_frame_size_is_refused_before_its_payload() -> None:
    conn = raw_client(max_frame_size=20_000)
    assert conn.receive_data(f.encode_frame(f.DATA, 0, 1, b"x" * 20_000)) != []
    with pytest.raises(Http2ProtocolError) as info:
        conn.receive_data(f.frame_header(f.DATA, 0, 1, 20_001)[:9])
    assert info.value.code is ErrorCode.FRAME_SIZE_ERROR


# -- hand-built frames: stream errors --------------------------------------------------------


def _data(stream_id: int, payload: bytes = b"x", flags: int = 0) -> bytes:
    return f.encode_frame(f.DATA, flags, stream_id, payload)


SCE = ErrorCode.STREAM_CLOSED
STREAM_ERRORS: list[tuple[str, bytes, int, ErrorCode, int]] = [
    # name, wire, stream, code, events before the reset
    ("data-after-end-stream", _data(1, b"a", 1) + _data(1, b"late"), 1, SCE, 1),
    ("trailers-after-end-stream", _headers(1, b"", 5) + _headers(1, b"", 5), 1, SCE, 1),
    ("data-before-response", _data(3), 3, PE, 0),
    ("trailers-without-end-stream", _headers(1, encode_field(b"grpc-status", b"0")), 1, PE, 0),
    (
        "continued-trailers-without-end-stream",
        _headers(1, b"", 0) + f.encode_frame(f.CONTINUATION, 4, 1, STATUS_200),
        1,
        PE,
        0,
    ),
    (
        "data-beyond-stream-window",
        _data(1, b"d" * 16384) * 3 + _data(1, b"d" * 16383) + _data(1),
        1,
        FCE,
        4,
    ),
    ("window-update-0-on-stream", _u32(f.WINDOW_UPDATE, 3, 0), 3, PE, 0),
    ("stream-window-overflow", _u32(f.WINDOW_UPDATE, 3, 2**31 - 65535), 3, FCE, 0),
    ("priority-length", f.encode_frame(f.PRIORITY, 0, 3, b"\x00" * 4), 3, FSE, 0),
]


@pytest.mark.native_only("h2 answers most with a connection error, later frames with RST_STREAM")
@pytest.mark.parametrize(
    ("wire", "stream_id", "code", "before"),
    [pytest.param(*case[1:], id=case[0]) for case in STREAM_ERRORS],
)
def test_stream_error(wire: bytes, stream_id: int, code: ErrorCode, before: int) -> None:
    conn = raw_client(stream_window_size=65535, connection_window_size=1 << 20)
    events = conn.receive_data(wire)
    assert len(events) == before + 1
    ((name, fields),) = described(events[before:])
    assert name == "StreamReset"
    assert (fields["stream_id"], fields["error_code"], fields["remote"]) == (
        stream_id,
        code,
        False,
    )
    assert fields["reason"]
    assert rst_streams(conn.data_to_send()) == [(stream_id, code)]
    assert conn.open_streams == 1  # the other of streams 1 and 3
    with pytest.raises(StreamClosedError):
        conn.send_data(stream_id, b"x")
    # Frames for the reset stream are ignored from now on.
    assert conn.receive_data(_data(stream_id) + _headers(stream_id, b"", 5)) == []
    assert rst_streams(conn.data_to_send()) == []
    assert_usable(conn)


@pytest.mark.native_only("h2 answers some of these with a connection error")
@pytest.mark.parametrize(
    ("wire", "stream_id", "code"),
    [
        (_data(3, b"q" * 40_000), 3, PE),
        (_headers(1, b"", 5) + _data(1, b"q" * 40_000), 1, SCE),
        (_headers(1, b"", 5) + _data(1, b"\x09" + b"q" * 39_990 + b"\x00" * 9, 9), 1, SCE),
    ],
    ids=["before-response", "after-end-stream", "padded-after-end-stream"],
)
def test_refused_data_is_credited_to_the_connection(
    wire: bytes, stream_id: int, code: ErrorCode
) -> None:
    """The bytes of a DATA frame refused with a stream error still count toward the
    connection's WINDOW_UPDATE (here at once: over half the 65535 window)."""
    conn = raw_client(max_frame_size=65536, connection_window_size=65535)
    assert described(conn.receive_data(wire))[-1][0] == "StreamReset"
    out = conn.data_to_send()
    assert rst_streams(out) == [(stream_id, code)]
    assert window_updates(out) == [(0, 40_000)]


# -- hand-built frames: ignored frames -------------------------------------------------------


@pytest.mark.native_only("h2 refuses a PRIORITY frame on an idle stream with a connection error")
def test_unknown_frames_and_priority_are_ignored() -> None:
    conn = raw_client()
    wire = b"".join(
        [
            f.encode_frame(0x0A, 0xFF, 0, b"whatever"),
            f.encode_frame(0xFF, 0, 1, b"x" * 100),
            f.encode_frame(0x42, 0, 99, b""),  # even on a stream never opened
            f.encode_frame(f.PRIORITY, 0, 1, b"\x00\x00\x00\x03\x10"),
            f.encode_frame(f.PRIORITY, 0, 9, b"\x80\x00\x00\x01\xff"),  # idle stream
        ]
    )
    assert conn.receive_data(wire) == []
    assert conn.data_to_send() == b""
    trailers = encode_field(b"grpc-status", b"0")
    assert described(conn.receive_data(_headers(1, trailers, 5))) == [
        ("TrailersReceived", {"stream_id": 1, "headers": ((b"grpc-status", b"0"),)})
    ]
    assert_usable(conn)


def test_frames_for_closed_streams_are_ignored_and_keep_hpack_in_step() -> None:
    conn = raw_client(max_frame_size=65536, connection_window_size=65535)
    conn.reset_stream(1)
    assert rst_streams(conn.data_to_send()) == [(1, ErrorCode.CANCEL)]
    # A literal with incremental indexing: it must enter the table though the stream is
    # gone, or the next block (index 62) decodes wrong.
    indexed = b"\x40\x08x-server\x05alpha"
    late = b"".join(
        [
            _data(1, b"x" * 100, f.FLAG_END_STREAM),
            _headers(1, STATUS_200 + indexed, 5),
            _u32(f.WINDOW_UPDATE, 1, 100),
            _u32(f.RST_STREAM, 1, 0),
            f.encode_frame(f.PRIORITY, 0, 1, b"\x00" * 5),
        ]
    )
    assert conn.receive_data(late) == []
    late_answers = parse_all(conn.data_to_send())
    if ENGINE["name"] == "native":
        assert late_answers == []
    else:  # h2 answers frames on a stream it reset with RST_STREAM (STREAM_CLOSED)
        assert {(kind, stream_id) for kind, _, stream_id, _ in late_answers} <= {
            (f.RST_STREAM, 1),
            (f.WINDOW_UPDATE, 0),
        }
    events = conn.receive_data(_headers(3, STATUS_200 + b"\xbe"))
    assert described(events) == [response(3, [(b":status", b"200"), (b"x-server", b"alpha")])]
    # A stream closed on both sides: a late frame is ignored as well.
    stream_id = conn.start_stream(request_block(), end_stream=True)
    assert conn.receive_data(_headers(stream_id, STATUS_200, 5)) != []
    assert conn.open_streams == 1
    assert conn.receive_data(_data(stream_id, b"y" * 40_000)) == []
    assert window_updates(conn.data_to_send()) == [(0, 40_100)]


def test_many_late_frames_do_not_leak_the_connection_window() -> None:
    conn = raw_client(connection_window_size=65535)
    credited = 0
    sent = 0
    for _ in range(50):
        stream_id = conn.start_stream(request_block())
        conn.reset_stream(stream_id)
        wire = _data(stream_id, b"l" * 16000) + _data(stream_id, b"l" * 7, f.FLAG_END_STREAM)
        sent += 16007
        assert conn.receive_data(wire) == []
        credited += sum(n for s, n in window_updates(conn.data_to_send()) if s == 0)
        assert sent - credited < 32767  # never more than half the window outstanding
    assert credited > 65535 * 10


@pytest.mark.native_only("h2 answers it with a connection error")
def test_informational_response_that_ends_the_stream_is_a_stream_error() -> None:
    conn = raw_client()
    block = encode_field(b":status", b"103")
    frame = f.encode_frame(f.HEADERS, f.FLAG_END_HEADERS | f.FLAG_END_STREAM, 3, block)
    events = conn.receive_data(frame)
    assert [(type(e).__name__, getattr(e, "stream_id", None)) for e in events] == [
        ("StreamReset", 3)
    ]
    assert rst_streams(conn.data_to_send()) == [(3, ErrorCode.PROTOCOL_ERROR)]
    assert_usable(conn)


def test_continuation_flood_is_refused() -> None:
    conn = raw_client()
    flood = f.encode_frame(f.HEADERS, 0, 3, encode_field(b":status", b"200")) + b"".join(
        f.encode_frame(f.CONTINUATION, 0, 3) for _ in range(2000)
    )
    with pytest.raises(Http2ProtocolError) as info:
        conn.receive_data(flood)
    # h2 has its own limit (64 frames) and calls it a PROTOCOL_ERROR.
    code = ErrorCode.ENHANCE_YOUR_CALM if ENGINE["name"] == "native" else ErrorCode.PROTOCOL_ERROR
    assert info.value.code is code
    assert [code for _, code, _ in goaways(conn.data_to_send())] == [code]


@pytest.mark.native_only("h2 allows at most 64 CONTINUATION frames per header block")
def test_long_header_block_within_the_frame_limit_is_accepted() -> None:
    conn = raw_client()
    block = encode_field(b":status", b"200") + encode_field(b"x-big", b"v" * 5000)
    pieces = [block[i : i + 10] for i in range(0, len(block), 10)]
    frames = f.encode_frame(f.HEADERS, 0, 3, pieces[0])
    for index, piece in enumerate(pieces[1:], 1):
        last = index == len(pieces) - 1
        frames += f.encode_frame(f.CONTINUATION, f.FLAG_END_HEADERS if last else 0, 3, piece)
    events = conn.receive_data(frames)
    assert len(pieces) - 1 <= 1024
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, ResponseReceived)
    assert dict(event.headers)[b"x-big"] == b"v" * 5000
