"""Requests refused before a handler runs (issue 15, server item 1).

Each gets a gRPC status on its own stream; the connection and its other calls (live
subscriptions) carry on; and when the connection closes, every task it started ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest

from esdb_wire import EventStoreDBClient, NewEvent, StreamState
from esdb_wire.codec.requests import subscribe_stream_request
from esdb_wire.server.embedded import EmbeddedServer
from tests.server_hostile.raw import READ_PATH, RawPeer, grpc_message, header_value, request_headers

BAD_REQUESTS = {
    "content-type": request_headers(content_type="text/plain"),
    "GET": request_headers(method="GET"),
    "grpc-timeout": request_headers(grpc_timeout="soon"),
    "bin-metadata": request_headers(extra=[("x-token-bin", "!!! not base64 !!!")]),
    "grpc-encoding": request_headers(grpc_encoding="brotli"),
}


@pytest.fixture(scope="module")
def server(server_http2_engine: str) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(http2_engine=server_http2_engine) as running:
        yield running


def _tasks(server: EmbeddedServer) -> int:
    runner = server._runner
    assert runner is not None

    async def count() -> int:
        return len(asyncio.all_tasks()) - 1  # not this one

    return runner.run(count(), 10)


def _subscribe(peer: RawPeer, stream_id: int, name: str) -> None:
    request = subscribe_stream_request(name)
    assert peer.send(
        peer.headers(stream_id, request_headers(READ_PATH)),
        peer.data(stream_id, grpc_message(request), end_stream=True),
    )


def _wait_for_tasks(server: EmbeddedServer, expected: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    count = _tasks(server)
    while count > expected and time.monotonic() < deadline:
        time.sleep(0.05)
        count = _tasks(server)
    return count


@pytest.mark.parametrize("kind", sorted(BAD_REQUESTS))
def test_a_refused_request_gets_a_status_and_spares_the_connection(
    server: EmbeddedServer, kind: str
) -> None:
    baseline = _tasks(server)
    name = f"live-{uuid4()}"
    with RawPeer(server.host, server.port) as peer:
        _subscribe(peer, 1, name)
        assert peer.send(peer.headers(3, BAD_REQUESTS[kind], end_stream=True))
        answer = peer.response(3, timeout=5)
        assert answer["reset"] is None
        status = header_value(answer["headers"], "grpc-status")
        assert status is not None, answer
        assert status != "0", answer
        assert peer.ping_roundtrip(), "the connection did not survive"
        with EventStoreDBClient(uri=server.esdb_uri) as client:
            client.append_to_stream(
                name, current_version=StreamState.NO_STREAM, events=NewEvent("Seen", b"{}")
            )
        received = b""
        for frame in peer.frames(5):
            if frame.stream_id == 1 and hasattr(frame, "data"):
                received += frame.data
            if b"Seen" in received:
                break
        assert b"Seen" in received, "the live subscription on the same connection stopped"
    assert _wait_for_tasks(server, baseline) <= baseline


def test_closing_connections_ends_every_task_they_started(server: EmbeddedServer) -> None:
    """The issue's 20 connections x 500 subscriptions, scaled down: 10 x 100."""
    baseline = _tasks(server)
    peers = [RawPeer(server.host, server.port) for _ in range(10)]
    try:
        for peer in peers:
            for index in range(100):
                _subscribe(peer, 1 + 2 * index, f"many-{uuid4()}")
            assert peer.send(peer.headers(201, BAD_REQUESTS["content-type"], end_stream=True))
            peer.response(201, timeout=5)
        assert _tasks(server) >= baseline + 1000
    finally:
        for peer in peers:
            peer.close()
    assert _wait_for_tasks(server, baseline) <= baseline
