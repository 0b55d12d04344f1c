"""Rapid reset (CVE-2023-44487): streams opened and reset at once, by the hundred thousand.

Defences: a stream's handler starts only once a request message is complete, so an
opened-then-reset stream costs no task; a token bucket of resets per connection (1000 at
once, 100 per second) after which the server sends GOAWAY(ENHANCE_YOUR_CALM) and closes;
input processed in slices so the attacker shares the event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from hyperframe.frame import Frame, GoAwayFrame

from esdb_wire.server.embedded import EmbeddedServer
from tests.server_hostile.raw import ENHANCE_YOUR_CALM, RawPeer, request_headers
from tests.server_hostile.support import (
    MIB,
    STRICT,
    LatencyProbe,
    assert_serves,
    growth_mib,
    report,
    server_process,
)

# The figure is 200,000 resets on one connection; the server cuts the connection
# off after its budget, so sending them all stays quick.
RESETS = 200_000


def _frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big")
        + bytes([kind, flags])
        + stream_id.to_bytes(4, "big")
        + payload
    )


def rapid_resets(peer: RawPeer, count: int, first_stream: int = 1) -> Iterator[bytes]:
    """HEADERS + RST_STREAM(CANCEL) pairs, in chunks of about 64 KiB."""
    headers = request_headers()
    first_block = peer.block(headers)  # adds the fields to the HPACK table
    block = peer.block(headers)  # the same fields, now indexed: every later request
    cancel = (0x8).to_bytes(4, "big")
    chunk: list[bytes] = []
    size = 0
    for index in range(count):
        stream_id = first_stream + 2 * index
        pair = _frame(0x1, 0x4, stream_id, first_block if index == 0 else block) + _frame(
            0x3, 0x0, stream_id, cancel
        )
        chunk.append(pair)
        size += len(pair)
        if size >= 65536:
            yield b"".join(chunk)
            chunk, size = [], 0
    if chunk:
        yield b"".join(chunk)


class FrameCollector(threading.Thread):
    """Reads a raw peer's frames in the background (while the test keeps sending)."""

    def __init__(self, peer: RawPeer, timeout: float) -> None:
        super().__init__(daemon=True)
        self.peer = peer
        self.timeout = timeout
        self.frames: list[Frame] = []

    def run(self) -> None:
        for frame in self.peer.frames(self.timeout):
            self.frames.append(frame)
            if isinstance(frame, GoAwayFrame):
                return

    @property
    def goaway(self) -> GoAwayFrame | None:
        for frame in self.frames:
            if isinstance(frame, GoAwayFrame):
                return frame
        return None


def test_rapid_reset_flood_is_cut_off_while_others_are_served() -> None:
    with server_process() as server:
        assert_serves(server.uri)
        rss_before, cpu_before = server.rss(), server.cpu()
        with LatencyProbe(server.uri) as probe:
            time.sleep(0.5)
            started = time.monotonic()
            with RawPeer(server.host, server.port) as attacker:
                collector = FrameCollector(attacker, timeout=15)
                collector.start()
                sent = 0
                for chunk in rapid_resets(attacker, RESETS):
                    if not attacker.send(chunk):
                        break
                    sent += len(chunk)
                collector.join(15)
            elapsed = time.monotonic() - started
            time.sleep(0.5)
        rss_after, cpu_after = server.rss(), server.cpu()
        assert_serves(server.uri)
    report(
        "rapid reset",
        [
            f"{RESETS} pairs offered, {sent / MIB:.1f} MiB sent in {elapsed:.1f} s",
            f"server CPU {cpu_after - cpu_before:.2f} s",
            f"RSS {rss_before / MIB:.0f} -> {rss_after / MIB:.0f} MiB",
            probe.summary(),
        ],
    )
    assert not probe.errors
    goaway = collector.goaway
    assert goaway is not None, "the server never sent GOAWAY"
    assert goaway.error_code == ENHANCE_YOUR_CALM
    assert not STRICT or growth_mib(rss_before, rss_after) < 100
    assert not STRICT or probe.percentile(0.99) < 0.050
    assert not STRICT or cpu_after - cpu_before < 5.0


@pytest.fixture(scope="module")
def embedded(server_http2_engine: str) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(http2_engine=server_http2_engine) as server:
        yield server


def _connection_state(server: EmbeddedServer) -> list[tuple[int, int, int]]:
    """(handler tasks, open streams, streams counted) of each connection of the server."""
    grpc = server._grpc
    assert grpc is not None
    runner = server._runner
    assert runner is not None

    async def snapshot() -> list[tuple[int, int, int]]:
        return [
            (len(c.tasks), len(c.core.streams), c.core.active_streams) for c in grpc.connections
        ]

    return runner.run(snapshot(), 10)


def test_resets_within_the_budget_leave_nothing_behind(embedded: EmbeddedServer) -> None:
    with RawPeer(embedded.host, embedded.port) as peer:
        for chunk in rapid_resets(peer, 900):
            assert peer.send(chunk)
        assert peer.ping_roundtrip(), "the connection was closed within the budget"
        time.sleep(0.2)
        states = _connection_state(embedded)
        assert states == [(0, 0, 0)], states
    assert_serves(embedded.esdb_uri)
