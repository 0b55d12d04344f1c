"""The embedded server's HTTP/2 engines (``esdb_wire.server.http2.engine``: ``h2`` and
``native``) under :class:`ServerConnection`, against an independent HTTP/2 client: an
in-memory ``h2`` client, bytes pumped both ways. Protocol errors that h2 will not commit
are sent as hand-built frames. Every test runs on both engines (see
:func:`tests.engines.server_http2_engine`) unless marked ``native_only`` (a rule of our
own state machine that the ``h2`` engine leaves to ``h2``)."""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest

from esdb_wire.server.http2.connection import ServerConnection, ServerStream
from esdb_wire.server.http2.native_engine import MAX_CONTINUATIONS, ReceiveWindow
from esdb_wire.server.limits import ServerLimits
from esdb_wire.transport.framing import encode_message
from esdb_wire.transport.http2 import frames as f
from esdb_wire.transport.status import StatusCode
from tests.engines import server_http2_engine

__all__ = ["server_http2_engine"]
pytestmark = pytest.mark.usefixtures("server_http2_engine")

Header = tuple[bytes, bytes]
REQUEST: list[Header] = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":path", b"/svc/Method"),
    (b":authority", b"localhost"),
    (b"content-type", b"application/grpc"),
    (b"te", b"trailers"),
]
SC = h2.settings.SettingCodes


@pytest.fixture(autouse=True)
def _native_only(request: pytest.FixtureRequest, server_http2_engine: str) -> None:
    marker = request.node.get_closest_marker("native_only")
    if marker is not None and server_http2_engine != "native":
        pytest.skip(f"native engine only: {marker.args[0]}")


class Pair:
    """A :class:`ServerConnection` (on the engine under test) and an ``h2`` client."""

    def __init__(self, limits: ServerLimits | None = None, **settings: int) -> None:
        self.server = ServerConnection(limits)
        self.server.initiate()
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.client = h2.connection.H2Connection(config)
        self.client.local_settings = h2.settings.Settings(
            client=True,
            initial_values={getattr(SC, name): value for name, value in settings.items()},
        )
        self.client.initiate_connection()
        self.events: list[h2.events.Event] = []
        self.pump()

    def pump(self) -> None:
        for _ in range(20):
            out = self.client.data_to_send()
            if out:
                self.server.receive_data(out)
            back = self.server.data_to_send()
            if back:
                self.events += self.client.receive_data(back)
            if not out and not back:
                return

    def raw(self, data: bytes) -> None:
        """Bytes the h2 client would not send, straight to the server."""
        self.server.receive_data(data)
        back = self.server.data_to_send()
        if back:
            self.events += self.client.receive_data(back)

    def request(self, stream_id: int, *messages: bytes, end: bool = True) -> ServerStream:
        self.client.send_headers(stream_id, REQUEST, end_stream=not messages and end)
        for index, message in enumerate(messages):
            last = index == len(messages) - 1
            self.client.send_data(stream_id, encode_message(message), end_stream=last and end)
        self.pump()
        return self.stream(stream_id)

    def stream(self, stream_id: int) -> ServerStream:
        for stream in self.server.new_streams:
            if stream.stream_id == stream_id:
                return stream
        return self.server.streams[stream_id]

    def of(self, kind: type, stream_id: int | None = None) -> list[Any]:
        return [
            e
            for e in self.events
            if isinstance(e, kind)
            and (stream_id is None or getattr(e, "stream_id", 0) == stream_id)
        ]

    def goaway(self) -> Any:
        found = self.of(h2.events.ConnectionTerminated)
        return found[0] if found else None


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return f.encode_frame(kind, flags, stream_id, payload)


def headers_of(events: list[Any]) -> dict[bytes, bytes]:
    return {name: value for event in events for name, value in event.headers}


# -- calls -----------------------------------------------------------------------------


def test_a_call_round_trip_headers_message_and_trailers() -> None:
    pair = Pair()
    stream = pair.request(1, b"request")
    assert pair.server.take_request(stream) == b"request"
    pair.server.send_message(stream, b"response", flush=False)
    pair.server.finish(stream, StatusCode.OK)
    pair.pump()
    (response,) = pair.of(h2.events.ResponseReceived, 1)
    assert (b":status", b"200") in response.headers
    assert (b"content-type", b"application/grpc") in response.headers
    data = b"".join(e.data for e in pair.of(h2.events.DataReceived, 1))
    assert data == encode_message(b"response")
    (trailers,) = pair.of(h2.events.TrailersReceived, 1)
    assert trailers.headers == [(b"grpc-status", b"0")]
    assert pair.of(h2.events.StreamEnded, 1)
    assert not pair.server.streams


def test_status_message_and_trailing_metadata_reach_the_client() -> None:
    pair = Pair()
    stream = pair.request(1, b"x")
    pair.server.finish(stream, StatusCode.NOT_FOUND, "not there", trailers=[("x-why", "because")])
    pair.pump()
    # Trailers-Only: the status comes with the response headers, in one block.
    (response,) = pair.of(h2.events.ResponseReceived, 1)
    fields = dict(response.headers)
    assert fields[b":status"] == b"200"
    assert fields[b"grpc-status"] == b"5"
    assert fields[b"grpc-message"] == b"not there"
    assert fields[b"x-why"] == b"because"
    assert pair.of(h2.events.StreamEnded, 1)


def test_a_refused_request_gets_its_status_and_the_connection_carries_on() -> None:
    pair = Pair()
    pair.client.send_headers(1, [*REQUEST[:4], (b"content-type", b"text/plain")], end_stream=True)
    pair.pump()
    assert headers_of(pair.of(h2.events.ResponseReceived, 1))[b"grpc-status"] == b"2"
    assert pair.request(3, b"next").stream_id == 3
    assert not pair.server.closed


def test_a_streamed_response_waits_for_the_clients_window() -> None:
    pair = Pair(INITIAL_WINDOW_SIZE=1000)
    stream = pair.request(1, b"go")
    for index in range(10):
        pair.server.send_message(stream, bytes([index]) * 295, flush=False)
    pair.server.flush(stream)
    pair.pump()
    received = sum(len(e.data) for e in pair.of(h2.events.DataReceived, 1))
    assert received == 1000  # the stream's window, no more
    pair.client.acknowledge_received_data(received, 1)
    pair.client.increment_flow_control_window(5000, stream_id=1)
    pair.pump()
    assert sum(len(e.data) for e in pair.of(h2.events.DataReceived, 1)) == 3000


def test_a_settings_change_of_the_window_releases_waiting_data() -> None:
    pair = Pair(INITIAL_WINDOW_SIZE=100)
    stream = pair.request(1, b"go")
    pair.server.send_message(stream, b"y" * 995, flush=True)
    pair.pump()
    assert sum(len(e.data) for e in pair.of(h2.events.DataReceived, 1)) == 100
    pair.client.update_settings({SC.INITIAL_WINDOW_SIZE: 65535})
    pair.pump()
    assert sum(len(e.data) for e in pair.of(h2.events.DataReceived, 1)) == 1000


def test_received_bytes_are_handed_back_as_they_are_consumed() -> None:
    pair = Pair()
    stream = pair.request(1, *([b"z" * 16000] * 3), end=False)
    window = pair.client.local_flow_control_window(1)
    assert window == 65535 - 3 * 16005  # nothing handed back before consumption
    while pair.server.take_request(stream) is not None:
        pass
    pair.pump()
    assert pair.client.local_flow_control_window(1) > window


def test_ping_is_answered() -> None:
    pair = Pair()
    pair.client.ping(b"12345678")
    pair.pump()
    (ack,) = pair.of(h2.events.PingAckReceived)
    assert ack.ping_data == b"12345678"


def test_request_trailers_end_the_request() -> None:
    pair = Pair()
    stream = pair.request(1, b"m", end=False)
    assert not stream.request_ended
    pair.client.send_headers(1, [(b"x-trailer", b"t")], end_stream=True)
    pair.pump()
    assert stream.request_ended


def test_a_reset_from_the_client_closes_the_call_and_late_data_is_handed_back() -> None:
    pair = Pair()
    stream = pair.request(1, b"first", end=False)
    window = pair.client.outbound_flow_control_window
    pair.client.reset_stream(1)
    pair.pump()
    assert stream.closed
    assert stream.error is StatusCode.CANCELLED
    # DATA in flight when the client reset the stream: dropped, its window given back.
    pair.raw(frame(f.DATA, 0, 1, b"\x00" * 16000))
    pair.raw(frame(f.DATA, 0, 1, b"\x00" * 16000))
    pair.pump()
    assert not pair.server.closed
    assert pair.client.outbound_flow_control_window >= window


def test_graceful_shutdown_finishes_open_calls_and_refuses_new_ones() -> None:
    pair = Pair()
    stream = pair.request(1, b"open")
    pair.server.shutdown()
    # Read as raw frames from here: h2's client stops at a GOAWAY (RFC 9113 does not).
    reader = f.FrameReader()
    frames = reader.feed(pair.server.data_to_send())
    goaways = [payload for kind, _, _, payload in frames if kind == f.GOAWAY]
    assert [f.goaway_payload(payload)[:2] for payload in goaways] == [(1, 0)]  # NO_ERROR
    block = pair.client.encoder.encode(REQUEST)
    pair.server.receive_data(frame(f.HEADERS, f.FLAG_END_HEADERS | f.FLAG_END_STREAM, 3, block))
    pair.server.send_message(stream, b"still answered", flush=False)
    pair.server.finish(stream, StatusCode.OK)
    frames = reader.feed(pair.server.data_to_send())
    assert [(kind, stream_id) for kind, _, stream_id, _ in frames if kind == f.RST_STREAM] == [
        (f.RST_STREAM, 3)  # refused: opened after the GOAWAY
    ]
    ends = [sid for kind, flags, sid, _ in frames if flags & f.FLAG_END_STREAM and kind != f.DATA]
    assert ends == [1]  # the open call's trailers
    assert not pair.server.closed


# -- protocol errors end the connection ----------------------------------------------------


def assert_connection_error(pair: Pair, *codes: h2.errors.ErrorCodes) -> None:
    assert pair.server.closed
    goaway = pair.goaway()
    assert goaway is not None, "no GOAWAY"
    assert goaway.error_code in codes, goaway


def test_a_bad_preface_ends_the_connection() -> None:
    server = ServerConnection()
    server.initiate()
    server.data_to_send()
    server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert server.closed


def test_data_on_an_idle_stream_is_a_connection_error() -> None:
    pair = Pair()
    pair.raw(frame(f.DATA, 0, 7, encode_message(b"x")))
    assert_connection_error(pair, h2.errors.ErrorCodes.PROTOCOL_ERROR)


def test_data_beyond_the_stream_window_is_a_connection_error() -> None:
    pair = Pair(ServerLimits(initial_window_size=1000))
    pair.request(1, b"a", end=False)
    pair.raw(frame(f.DATA, 0, 1, b"\x00" * 5000))
    assert pair.server.closed or pair.of(h2.events.StreamReset, 1)
    if pair.server.closed:
        assert_connection_error(pair, h2.errors.ErrorCodes.FLOW_CONTROL_ERROR)


def test_a_frame_over_the_size_limit_ends_the_connection() -> None:
    pair = Pair()
    pair.request(1, b"a", end=False)
    pair.raw(frame(f.DATA, 0, 1, b"\x00" * 20000))
    assert_connection_error(pair, h2.errors.ErrorCodes.FRAME_SIZE_ERROR)


def test_a_window_over_two_gigabytes_ends_the_connection() -> None:
    pair = Pair()
    pair.raw(f.encode_window_update(0, 2**31 - 1))
    assert_connection_error(pair, h2.errors.ErrorCodes.FLOW_CONTROL_ERROR)


def test_a_header_block_interrupted_by_another_frame_ends_the_connection() -> None:
    pair = Pair()
    block = pair.client.encoder.encode(REQUEST)
    pair.raw(frame(f.HEADERS, 0, 1, block) + f.encode_frame(f.PING, 0, 0, b"12345678"))
    assert_connection_error(pair, h2.errors.ErrorCodes.PROTOCOL_ERROR)


def test_a_continuation_flood_ends_the_connection() -> None:
    pair = Pair()
    block = pair.client.encoder.encode(REQUEST)
    pair.raw(frame(f.HEADERS, 0, 1, block))
    for _ in range(MAX_CONTINUATIONS + 2):
        if pair.server.closed:
            break
        pair.raw(frame(f.CONTINUATION, 0, 1))
    assert pair.server.closed
    assert pair.goaway() is not None


def test_push_promise_from_a_client_ends_the_connection() -> None:
    pair = Pair()
    pair.raw(frame(f.PUSH_PROMISE, f.FLAG_END_HEADERS, 1, b"\x00\x00\x00\x02"))
    assert_connection_error(pair, h2.errors.ErrorCodes.PROTOCOL_ERROR)


def test_a_goaway_from_the_client_cancels_open_calls() -> None:
    pair = Pair()
    stream = pair.request(1, b"a", end=False)
    pair.client.close_connection()
    pair.pump()
    assert pair.server.closed
    assert stream.closed
    assert stream.error is StatusCode.CANCELLED


# -- the native engine's own rules ----------------------------------------------------------


@pytest.mark.native_only("the native engine's first-frame rule (h2 waits for SETTINGS)")
def test_the_preface_must_be_followed_by_settings() -> None:
    server = ServerConnection()
    server.initiate()
    server.receive_data(f.PREFACE + f.encode_frame(f.PING, 0, 0, b"12345678"))
    assert server.closed
    assert not server.preface_received


@pytest.mark.native_only("the native engine's window rule (h2's WindowManager in h2)")
def test_the_receive_window_hands_back_at_half_or_when_empty() -> None:
    window = ReceiveWindow(65535)
    window.receive(30000, "stream")
    assert window.consume(30000) == 0  # less than half
    window.receive(35535, "stream")  # empty now
    assert window.consume(2000) == 32000  # empty and 1024 consumed: everything back
    assert window.available == 32000
    small = ReceiveWindow(1)
    small.receive(1, "stream")
    assert small.consume(1) == 1  # a window of one byte never stalls
