"""Keepalive against a black-holed peer, and MAX_CONCURRENT_STREAMS queueing, both drivers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest

from esdb_wire.transport.aio import AsyncChannel
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.config import ConnectionConfig
from esdb_wire.transport.status import StatusCode, StatusError
from tests.grpc_peer import GrpcioPeer, path
from tests.tcp_proxy import BlackholeProxy

pytestmark = pytest.mark.usefixtures("http2_engine")  # both HTTP/2 engines

KEEPALIVE = ConnectionConfig(keepalive_interval=0.5, keepalive_timeout=0.5)
# Let the grpcio server accept our frequent pings instead of answering "too_many_pings".
PING_FRIENDLY = {
    "grpc.http2.min_ping_interval_without_data_ms": 50,
    "grpc.http2.max_ping_strikes": 0,
}


@pytest.fixture
def peer() -> Iterator[GrpcioPeer]:
    server = GrpcioPeer(tls=None, **PING_FRIENDLY)
    yield server
    server.state.release.set()
    server.stop()


@pytest.fixture
def proxy(peer: GrpcioPeer) -> Iterator[BlackholeProxy]:
    relay = BlackholeProxy(peer.port)
    yield relay
    relay.close()


def test_blocking_keepalive_detects_a_silent_peer(
    proxy: BlackholeProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="esdb_wire.transport")
    with Channel("127.0.0.1", proxy.port, config=KEEPALIVE) as channel:
        assert channel.unary_unary(path("Unary"), b"alive") == b"alive"
        # While the server works quietly, the keepalive PINGs are answered: no failure.
        assert channel.unary_unary(path("Sleep"), b"1.6") == b"slept"
        call = channel.open_call(path("Sleep"))
        call.send(b"30", end=True)
        proxy.blackhole()
        started = time.monotonic()
        with pytest.raises(StatusError) as info:
            call.receive()
        elapsed = time.monotonic() - started
    assert info.value.code is StatusCode.UNAVAILABLE
    assert "keepalive" in info.value.message
    assert elapsed < 0.5 + 0.5 + 0.5  # interval + timeout, plus scheduling slack
    (record,) = [r for r in caplog.records if r.name == "esdb_wire.transport"]
    assert record.levelno == logging.WARNING
    assert "keepalive: no answer" in record.getMessage()


def test_asyncio_keepalive_detects_a_silent_peer(proxy: BlackholeProxy) -> None:
    async def main() -> float:
        async with AsyncChannel("127.0.0.1", proxy.port, config=KEEPALIVE) as channel:
            assert await channel.unary_unary(path("Sleep"), b"1.6") == b"slept"
            call = await channel.open_call(path("Sleep"))
            await call.send(b"30", end=True)
            proxy.blackhole()
            started = time.monotonic()
            with pytest.raises(StatusError) as info:
                await call.receive()
            assert info.value.code is StatusCode.UNAVAILABLE
            assert "keepalive" in info.value.message
            return time.monotonic() - started

    assert asyncio.run(asyncio.wait_for(main(), 30)) < 1.5


def limited_peer() -> GrpcioPeer:
    return GrpcioPeer(tls=None, **{"grpc.max_concurrent_streams": 4})


def test_blocking_respects_max_concurrent_streams_by_queueing() -> None:
    peer = limited_peer()
    try:
        with Channel("127.0.0.1", peer.port) as channel:
            assert channel.unary_unary(path("Unary"), b"settings") == b"settings"
            calls = [channel.open_call(path("Hold")) for _ in range(20)]
            for index, call in enumerate(calls):
                call.send(str(index).encode(), end=True)
            deadline = time.monotonic() + 10
            while peer.state.concurrent < 4 and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.2)
            assert peer.state.concurrent == 4
            peer.state.release.set()
            assert [call.receive() for call in calls] == [str(i).encode() for i in range(20)]
            assert peer.state.max_concurrent == 4
    finally:
        peer.state.release.set()
        peer.stop()


def test_asyncio_respects_max_concurrent_streams_by_queueing() -> None:
    peer = limited_peer()

    async def main() -> list[bytes]:
        async with AsyncChannel("127.0.0.1", peer.port) as channel:
            assert await channel.unary_unary(path("Unary"), b"settings") == b"settings"
            pending = [
                asyncio.ensure_future(channel.unary_unary(path("Hold"), str(i).encode()))
                for i in range(20)
            ]
            for _ in range(500):
                if peer.state.concurrent >= 4:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
            assert peer.state.concurrent == 4
            peer.state.release.set()
            return list(await asyncio.gather(*pending))

    try:
        results = asyncio.run(asyncio.wait_for(main(), 30))
        assert results == [str(i).encode() for i in range(20)]
        assert peer.state.max_concurrent == 4
    finally:
        peer.state.release.set()
        peer.stop()
