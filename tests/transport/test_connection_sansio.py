"""The sans-IO client core driven by an in-memory h2 server, for corner cases a grpcio
server will not produce on demand (negative windows, odd headers, late DATA)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest

from esdb_wire.transport.call import ClientCall
from esdb_wire.transport.config import ConnectionConfig
from esdb_wire.transport.connection import ClientConnection
from esdb_wire.transport.framing import encode_message
from esdb_wire.transport.status import StatusCode, StatusError

pytestmark = pytest.mark.usefixtures("http2_engine")  # both HTTP/2 engines

OK_HEADERS = [(b":status", b"200"), (b"content-type", b"application/grpc")]
OK_TRAILERS = [(b"grpc-status", b"0")]


class Pair:
    """A client core and an h2 server, wired back to back in memory."""

    def __init__(self, config: ConnectionConfig | None = None) -> None:
        self.client = ClientConnection("test", config=config or ConnectionConfig())
        self.server = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.server.initiate_connection()
        self.client.initiate()
        self.server_events: list[h2.events.Event] = []
        self.pump()

    def pump(self) -> None:
        for _ in range(100):
            to_server = self.client.data_to_send()
            if to_server:
                self.server_events.extend(self.server.receive_data(to_server))
            to_client = self.server.data_to_send()
            if to_client:
                self.client.receive_data(to_client)
            if not to_server and not to_client:
                return
        raise AssertionError("no quiescence")

    def open(self, path: str = "/svc/M") -> ClientCall:
        call = self.client.open_call(path, [])
        self.pump()
        return call

    def events(self, kind: type) -> list[Any]:
        return [event for event in self.server_events if isinstance(event, kind)]

    def server_received(self, stream_id: int) -> bytes:
        return b"".join(
            event.data
            for event in self.events(h2.events.DataReceived)
            if event.stream_id == stream_id
        )

    def respond(
        self,
        stream_id: int,
        messages: Iterable[bytes] = (),
        headers: list[tuple[bytes, bytes]] = OK_HEADERS,
        trailers: list[tuple[bytes, bytes]] | None = OK_TRAILERS,
    ) -> None:
        self.server.send_headers(stream_id, headers)
        for message in messages:
            self.server.send_data(stream_id, encode_message(message))
        if trailers is not None:
            self.server.send_headers(stream_id, trailers, end_stream=True)
        self.pump()


def drain(pair: Pair, call: ClientCall) -> list[bytes]:
    messages = []
    while (message := pair.client.take_message(call)) is not None:
        messages.append(message)
        pair.pump()
    return messages


def test_request_headers_are_grpc() -> None:
    pair = Pair()
    call = pair.client.open_call("/svc/M", [(b"x-a", b"1")], timeout=1.5, now=10.0)
    pair.pump()
    (request,) = pair.events(h2.events.RequestReceived)
    headers = dict(request.headers)
    assert headers[b":method"] == b"POST"
    assert headers[b":path"] == b"/svc/M"
    assert headers[b"content-type"] == b"application/grpc"
    assert headers[b"te"] == b"trailers"
    assert headers[b"grpc-timeout"] == b"1500000u"
    assert headers[b"x-a"] == b"1"
    assert call.deadline == 11.5


def test_negative_window_after_settings_change_then_recovers() -> None:
    pair = Pair()
    call = pair.open()
    payload = bytes(range(256)) * 400  # 102,400 bytes: more than the 65,535 window
    pair.client.send_message(call, payload, end=True)
    pair.pump()
    assert call.outbound.size > 0  # blocked by the peer's window
    # Shrink the initial window: the stream's send window goes negative.
    pair.server.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000})
    pair.pump()
    assert pair.client._http2.local_flow_control_window(call.stream_id or 0) < 0
    sent_before = len(pair.server_received(call.stream_id or 0))
    pair.pump()
    assert len(pair.server_received(call.stream_id or 0)) == sent_before
    # Credit beyond the deficit: the rest flows.
    received = len(pair.server_received(call.stream_id or 0))
    pair.server.acknowledge_received_data(received, call.stream_id or 0)
    pair.server.increment_flow_control_window(200_000, stream_id=call.stream_id)
    pair.server.increment_flow_control_window(200_000)
    pair.pump()
    assert pair.server_received(call.stream_id or 0) == encode_message(payload)
    assert pair.events(h2.events.StreamEnded)


def test_message_larger_than_the_window_does_not_deadlock() -> None:
    config = ConnectionConfig(stream_window_size=65535, connection_window_size=65535)
    pair = Pair(config)
    call = pair.open()
    big = b"z" * 1_000_000
    pair.server.send_headers(call.stream_id or 0, OK_HEADERS)
    framed = encode_message(big)
    offset = 0
    while offset < len(framed):
        window = min(
            pair.server.local_flow_control_window(call.stream_id or 0),
            pair.server.max_outbound_frame_size,
        )
        assert window > 0, "client stopped granting window: deadlock"
        pair.server.send_data(call.stream_id or 0, framed[offset : offset + window])
        offset += window
        pair.pump()
    pair.server.send_headers(call.stream_id or 0, OK_TRAILERS, end_stream=True)
    pair.pump()
    assert drain(pair, call) == [big]
    assert call.status is StatusCode.OK


def test_unconsumed_messages_hold_back_the_window_until_consumed() -> None:
    config = ConnectionConfig(stream_window_size=65535)
    pair = Pair(config)
    call = pair.open()
    pair.server.send_headers(call.stream_id or 0, OK_HEADERS)
    for _ in range(60):
        pair.server.send_data(call.stream_id or 0, encode_message(b"m" * 995))
    pair.pump()
    window_before = pair.server.local_flow_control_window(call.stream_id or 0)
    assert window_before <= 65535 - 60_000
    assert len(drain(pair, call)) == 60
    assert pair.server.local_flow_control_window(call.stream_id or 0) > window_before


def test_trailers_only_error() -> None:
    pair = Pair()
    call = pair.open()
    pair.server.send_headers(
        call.stream_id or 0,
        [
            (b":status", b"200"),
            (b"content-type", b"application/grpc"),
            (b"grpc-status", b"5"),
            (b"grpc-message", b"stream %27x%27 not found"),
            (b"exception", b"stream-not-found"),
        ],
        end_stream=True,
    )
    pair.pump()
    assert call.status is StatusCode.NOT_FOUND
    assert call.error is not None
    assert call.error.message == "stream 'x' not found"
    assert call.error.trailing_metadata == (("exception", "stream-not-found"),)
    assert not pair.client.calls


@pytest.mark.parametrize(
    ("http_status", "code"),
    [
        (b"400", StatusCode.INTERNAL),
        (b"401", StatusCode.UNAUTHENTICATED),
        (b"403", StatusCode.PERMISSION_DENIED),
        (b"404", StatusCode.UNIMPLEMENTED),
        (b"429", StatusCode.UNAVAILABLE),
        (b"502", StatusCode.UNAVAILABLE),
        (b"503", StatusCode.UNAVAILABLE),
        (b"504", StatusCode.UNAVAILABLE),
        (b"500", StatusCode.UNKNOWN),
    ],
)
def test_http_status_mapping(http_status: bytes, code: StatusCode) -> None:
    pair = Pair()
    call = pair.open()
    pair.server.send_headers(
        call.stream_id or 0, [(b":status", http_status), (b"content-type", b"text/html")]
    )
    pair.server.send_data(call.stream_id or 0, b"<html>oops</html>", end_stream=True)
    pair.pump()
    assert call.status is code
    assert pair.events(h2.events.StreamReset) or not pair.client.calls


def test_wrong_content_type_is_unknown() -> None:
    pair = Pair()
    call = pair.open()
    pair.respond(
        call.stream_id or 0, headers=[(b":status", b"200"), (b"content-type", b"text/plain")]
    )
    assert call.status is StatusCode.UNKNOWN


def test_missing_grpc_status_is_unknown() -> None:
    pair = Pair()
    call = pair.open()
    pair.respond(call.stream_id or 0, [b"a"], trailers=[(b"x-other", b"1")])
    assert drain(pair, call) == [b"a"]
    assert call.status is StatusCode.UNKNOWN


def test_status_ok_with_truncated_message_is_internal() -> None:
    pair = Pair()
    call = pair.open()
    pair.server.send_headers(call.stream_id or 0, OK_HEADERS)
    pair.server.send_data(call.stream_id or 0, encode_message(b"abcdef")[:7])
    pair.server.send_headers(call.stream_id or 0, OK_TRAILERS, end_stream=True)
    pair.pump()
    assert call.status is StatusCode.INTERNAL


def test_a_started_call_sends_its_messages_and_end_in_one_data_frame() -> None:
    # A client-streaming call whose requests are all known (an append: options, then
    # the events) goes out as HEADERS + one DATA frame that ends the stream.
    pair = Pair()
    call = pair.client.start_call("/svc/M", [], [b"options", b"event-1", b"event-2"], end=True)
    pair.pump()
    received = [e for e in pair.events(h2.events.DataReceived) if e.stream_id == call.stream_id]
    assert len(received) == 1
    assert received[0].data == b"".join(
        encode_message(m) for m in (b"options", b"event-1", b"event-2")
    )
    assert [e.stream_id for e in pair.events(h2.events.StreamEnded)] == [call.stream_id]


def test_a_started_call_with_an_oversized_message_is_not_opened() -> None:
    pair = Pair(ConnectionConfig(max_send_message_size=10))
    with pytest.raises(StatusError) as raised:
        pair.client.start_call("/svc/M", [], [b"small", b"x" * 11], end=True)
    assert raised.value.code is StatusCode.RESOURCE_EXHAUSTED
    pair.pump()
    assert not pair.events(h2.events.RequestReceived)
    assert not pair.client.calls


def test_oversized_message_fails_the_call_and_resets_the_stream() -> None:
    pair = Pair(ConnectionConfig(max_receive_message_size=100))
    call = pair.open()
    pair.server.send_headers(call.stream_id or 0, OK_HEADERS)
    pair.server.send_data(call.stream_id or 0, encode_message(b"x" * 101)[:20])
    pair.pump()
    assert call.status is StatusCode.RESOURCE_EXHAUSTED
    assert call.error is not None
    assert "101 vs. 100" in call.error.message
    assert pair.events(h2.events.StreamReset)


def test_data_after_cancel_still_returns_connection_window() -> None:
    pair = Pair(ConnectionConfig(connection_window_size=65535, stream_window_size=65535))
    call = pair.open()
    pair.server.send_headers(call.stream_id or 0, OK_HEADERS)
    pair.pump()
    pair.client.cancel(call)
    # The server sends DATA before it sees the RST_STREAM (it is still in flight); more
    # than half the window, so the returned credit is due at once (h2 batches updates).
    for _ in range(3):
        pair.server.send_data(call.stream_id or 0, b"\x00" * 13000)
    to_client = pair.server.data_to_send()
    pair.server_events.extend(pair.server.receive_data(pair.client.data_to_send()))
    pair.client.receive_data(to_client)
    pair.pump()
    assert pair.server.outbound_flow_control_window == 65535
    assert any(isinstance(e, h2.events.StreamReset) for e in pair.server_events)


def test_max_concurrent_streams_queues_fifo() -> None:
    pair = Pair()
    pair.server.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 2})
    pair.pump()
    calls = [pair.client.open_call(f"/svc/M{i}", []) for i in range(5)]
    pair.pump()
    assert [c.stream_id is not None for c in calls] == [True, True, False, False, False]
    pair.respond(calls[1].stream_id or 0, [b"one"])
    assert calls[2].stream_id is not None
    assert calls[3].stream_id is None
    pair.respond(calls[0].stream_id or 0, [b"zero"])
    assert calls[3].stream_id is not None
    assert calls[4].stream_id is None
    paths = [dict(e.headers)[b":path"] for e in pair.events(h2.events.RequestReceived)]
    assert paths == [b"/svc/M0", b"/svc/M1", b"/svc/M2", b"/svc/M3"]


def test_goaway_fails_later_streams_retryably_and_keeps_earlier_ones() -> None:
    pair = Pair()
    first = pair.open()
    second = pair.open()
    pair.server.close_connection(last_stream_id=first.stream_id)
    pair.pump()
    # h2 itself cannot keep serving after sending GOAWAY: reopen the test server's side.
    pair.server.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN
    assert second.status is StatusCode.UNAVAILABLE
    assert second.error is not None
    assert second.error.retryable
    assert first.status is None
    assert not pair.client.accepting
    # The earlier stream still completes after the GOAWAY.
    pair.server.send_headers(first.stream_id or 0, OK_HEADERS)
    pair.server.send_data(first.stream_id or 0, encode_message(b"done"))
    pair.server.send_headers(first.stream_id or 0, OK_TRAILERS, end_stream=True)
    pair.pump()
    assert drain(pair, first) == [b"done"]
    assert first.status is StatusCode.OK
    late = pair.client.open_call("/svc/M", [])
    assert late.status is StatusCode.UNAVAILABLE


def test_deadline_expiry_resets_stream() -> None:
    pair = Pair()
    call = pair.client.open_call("/svc/M", [], timeout=2.0, now=100.0)
    pair.pump()
    assert pair.client.next_timer() == 102.0
    pair.client.handle_timers(101.0)
    assert call.status is None
    pair.client.handle_timers(102.0)
    pair.pump()
    assert call.status is StatusCode.DEADLINE_EXCEEDED
    assert pair.events(h2.events.StreamReset)


@pytest.mark.parametrize("timeout", [0.0, -1.0, -1e-9])
def test_an_expired_deadline_sends_nothing(timeout: float) -> None:
    pair = Pair()
    call = pair.client.open_call("/svc/M", [], timeout=timeout, now=100.0)
    assert call.status is StatusCode.DEADLINE_EXCEEDED
    assert call.stream_id is None
    pair.client.send_message(call, b"an append that must not happen", end=True)
    assert pair.client.data_to_send() == b""
    pair.pump()
    assert pair.events(h2.events.RequestReceived) == []
    # The connection is untouched: the next call goes out as usual.
    later = pair.client.open_call("/svc/M", [], timeout=1e-3, now=100.0)
    pair.pump()
    assert later.stream_id is not None
    assert len(pair.events(h2.events.RequestReceived)) == 1


def test_keepalive_ping_and_death() -> None:
    pair = Pair(ConnectionConfig(keepalive_interval=5.0, keepalive_timeout=2.0))
    call = pair.client.open_call("/svc/M", [], now=0.0)
    pair.pump()
    pair.client.handle_timers(4.0)
    assert not pair.events(h2.events.PingReceived)
    pair.client.handle_timers(5.0)
    pair.pump()  # the server answers the PING: the connection lives
    assert pair.events(h2.events.PingReceived)
    assert call.status is None
    pair.client.handle_timers(12.0)
    assert pair.client.next_timer() == 14.0  # a second PING is out, unanswered
    pair.client.handle_timers(14.0)
    assert call.status is StatusCode.UNAVAILABLE
    assert call.error is not None
    assert "keepalive" in call.error.message


def test_refused_stream_is_retried_transparently_on_a_new_stream() -> None:
    pair = Pair()
    call = pair.open()
    pair.client.send_message(call, b"request", end=True)
    pair.pump()
    first_id = call.stream_id or 0
    pair.server.reset_stream(first_id, h2.errors.ErrorCodes.REFUSED_STREAM)
    pair.pump()
    assert call.status is None
    assert call.stream_id is not None
    assert call.stream_id != first_id
    assert pair.server_received(call.stream_id) == encode_message(b"request")
    pair.respond(call.stream_id, [b"reply"])
    assert drain(pair, call) == [b"reply"]
    assert call.status is StatusCode.OK


def test_refused_stream_after_response_headers_is_not_retried() -> None:
    pair = Pair()
    call = pair.open()
    pair.client.send_message(call, b"request", end=True)
    pair.server.send_headers(call.stream_id or 0, OK_HEADERS)
    pair.pump()
    pair.server.reset_stream(call.stream_id or 0, h2.errors.ErrorCodes.REFUSED_STREAM)
    pair.pump()
    assert call.status is StatusCode.UNAVAILABLE


def test_window_update_and_reset_in_one_batch_do_not_crash() -> None:
    pair = Pair()
    call = pair.open()
    pair.client.send_message(call, b"z" * 200_000)
    pair.pump()
    assert call.outbound.size > 0  # waiting for window
    # In one read: the server raises the window, answers (Trailers-Only) and resets the
    # stream, as a server does when it rejects a request it has not finished reading.
    # h2 has closed the stream before the settings event is handled.
    pair.server.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1_000_000})
    pair.server.increment_flow_control_window(1_000_000)
    trailers_only = [*OK_HEADERS, (b"grpc-status", b"8"), (b"grpc-message", b"too big")]
    pair.server.send_headers(call.stream_id or 0, trailers_only, end_stream=True)
    pair.server.reset_stream(call.stream_id or 0, h2.errors.ErrorCodes.NO_ERROR)
    pair.client.receive_data(pair.server.data_to_send())
    assert call.status is StatusCode.RESOURCE_EXHAUSTED
    assert call.outbound.size == 0
    pair.pump()
