"""The accounting behind the server's limits, sans-IO: token buckets, the receive budget,
the bounded header-block memory, and ServerConnection against an h2 client."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from esdb_wire.server.http2.accounting import ReceiveBudget, ServerInbound, TokenBucket
from esdb_wire.server.http2.connection import ServerConnection
from esdb_wire.server.http2.header_decoder import REMEMBERED_BYTES, ServerHeaderDecoder
from esdb_wire.server.limits import ServerLimits
from tests.server_hostile.raw import grpc_message, literal_field, request_headers


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_burst_then_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(3, 2.0, clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token back
    assert bucket.take()
    assert not bucket.take()
    clock.now += 100
    assert sum(bucket.take() for _ in range(10)) == 3  # never above the burst
    bucket.refund(5)
    assert bucket.tokens == 3


def test_receive_budget_admits_in_order_and_always_one() -> None:
    budget = ReceiveBudget(100)
    a, b, c = (ServerInbound(i, 1000, 10) for i in (1, 3, 5))
    assert budget.request(a, 500)  # larger than the budget, but alone
    assert not budget.request(b, 60)
    assert not budget.request(c, 30)
    assert budget.release(500) == [(b, 60), (c, 30)]
    assert budget.reserved == 90
    budget.forget(3)
    assert budget.release(90) == []


def test_inbound_hands_back_every_byte_once() -> None:
    inbound = ServerInbound(1, 10_000, window=100)
    wire = grpc_message(b"x" * 50) + grpc_message(b"y" * 300)
    acked = inbound.feed(wire[:120], 120)  # first message complete, second started
    assert acked == 0  # nothing handed back before consumption or a reservation
    assert inbound.wanted_reservation() == 305
    acked += inbound.grant(305)
    acked += inbound.feed(wire[120:], len(wire) - 120)
    assert inbound.take() == b"x" * 50
    assert inbound.take() == b"y" * 300
    assert acked + inbound.unacked == len(wire)
    assert inbound.release_due == 305


def test_header_memory_is_bounded_in_bytes() -> None:
    decoder = ServerHeaderDecoder(16384)
    for index in range(2000):
        # literals without indexing leave the table alone: each block may be remembered
        block = literal_field(b"x-unique", str(index).encode() * 50)
        assert decoder.decode(block, raw=True) == [(b"x-unique", str(index).encode() * 50)]
        assert decoder.cached_bytes <= REMEMBERED_BYTES
    assert decoder.cached_bytes > 0
    decoder.decode(literal_field(b"x-big", b"v" * 8000), raw=True)
    assert decoder.cached_bytes <= REMEMBERED_BYTES
    again = literal_field(b"x-unique", b"1999" * 50)
    assert decoder.decode(again, raw=True) == [(b"x-unique", b"1999" * 50)]


class Pair:
    """A ServerConnection and an h2 client talking through memory."""

    def __init__(self, limits: ServerLimits) -> None:
        self.clock = Clock()
        self.server = ServerConnection(limits, clock=self.clock)
        self.server.initiate()
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.client = h2.connection.H2Connection(config)
        self.client.initiate_connection()
        self.events: list[h2.events.Event] = []
        self.pump()

    def pump(self) -> None:
        for _ in range(10):
            out = self.client.data_to_send()
            if out:
                self.server.receive_data(out)
            back = self.server.data_to_send()
            if back:
                self.events += self.client.receive_data(back)
            if not out and not back:
                return

    def open(self, stream_id: int, end: bool = False) -> None:
        headers = [(n.encode(), v.encode()) for n, v in request_headers()]
        self.client.send_headers(stream_id, headers, end_stream=end)
        self.pump()


def test_extra_streams_are_refused_alone() -> None:
    pair = Pair(ServerLimits(max_concurrent_streams=2))
    remote = pair.client.remote_settings  # let the client exceed the advertised limit
    remote.update({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100})
    remote.acknowledge()
    for stream_id in (1, 3, 5):
        pair.open(stream_id)
    resets = [e for e in pair.events if isinstance(e, h2.events.StreamReset)]
    assert [(e.stream_id, e.error_code) for e in resets] == [
        (5, h2.errors.ErrorCodes.REFUSED_STREAM)
    ]
    assert not pair.server.closed
    assert pair.server.active_streams == 2


def test_a_stream_is_dispatched_only_with_a_complete_message() -> None:
    pair = Pair(ServerLimits())
    pair.open(1)
    assert not pair.server.new_streams  # headers alone start nothing
    pair.client.send_data(1, grpc_message(b"abc")[:4])
    pair.pump()
    assert not pair.server.new_streams
    pair.client.send_data(1, grpc_message(b"abc")[4:])
    pair.pump()
    assert [s.stream_id for s in pair.server.new_streams] == [1]


def test_reset_budget_ends_the_connection_with_enhance_your_calm() -> None:
    pair = Pair(ServerLimits(reset_burst=10, reset_rate=1.0))
    for index in range(11):
        pair.open(1 + 2 * index)
        pair.client.reset_stream(1 + 2 * index)
        pair.pump()
    assert pair.server.closed
    goaways = [e for e in pair.events if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaways
    assert goaways[0].error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    assert pair.server.active_streams == 0


def test_resets_at_the_allowed_rate_are_fine() -> None:
    pair = Pair(ServerLimits(reset_burst=10, reset_rate=10.0))
    for index in range(100):
        pair.clock.now += 0.1
        pair.open(1 + 2 * index)
        pair.client.reset_stream(1 + 2 * index)
        pair.pump()
    assert not pair.server.closed


@pytest.mark.parametrize("kind", ["ping", "settings"])
def test_control_frame_budget(kind: str) -> None:
    pair = Pair(ServerLimits(control_burst=20, control_rate=1.0))
    for _ in range(21):
        if kind == "ping":
            pair.client.ping(b"01234567")
        else:
            pair.client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 70000})
        pair.pump()
    assert pair.server.closed
    assert pair.server.calm_down_reason is not None


def test_unfinished_messages_are_bounded_per_connection() -> None:
    limits = ServerLimits(connection_buffer_size=1_000_000, max_receive_message_size=900_000)
    pair = Pair(limits)
    streams = (1, 3, 5, 7)
    for stream_id in streams:
        pair.open(stream_id)
    started: set[int] = set()
    left = dict.fromkeys(streams, 800_004)  # each message one byte short of complete
    sent = 0
    for _ in range(500):
        progress = False
        for stream_id in streams:
            room = min(pair.client.local_flow_control_window(stream_id), 16384, left[stream_id])
            if room <= 5:
                continue
            chunk = bytes(room)
            if stream_id not in started:
                started.add(stream_id)
                chunk = grpc_message(b"")[:1] + (800_000).to_bytes(4, "big") + bytes(room - 5)
            pair.client.send_data(stream_id, chunk)
            left[stream_id] -= len(chunk)
            sent += len(chunk)
            progress = True
        pair.pump()
        if not progress:
            break
    # One 800 KB message admitted (and taken whole), the others stopped by their windows.
    assert pair.server.budget_reserved == 800_005
    assert sent <= 800_004 + 3 * 65535
    assert not pair.server.closed
