"""The asyncio driver against grpcio's server, over real loopback sockets."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from esdb_wire.transport.aio import AsyncChannel
from esdb_wire.transport.status import StatusCode, StatusError
from tests.grpc_peer import GrpcioPeer, path

pytestmark = pytest.mark.usefixtures("http2_engine")  # both HTTP/2 engines

MiB = 1024 * 1024
Scenario = Callable[[AsyncChannel], Awaitable[None]]


@pytest.fixture(scope="module")
def peer() -> Iterator[GrpcioPeer]:
    server = GrpcioPeer()
    yield server
    server.stop()


def run(peer: GrpcioPeer, scenario: Scenario) -> None:
    async def main() -> None:
        async with AsyncChannel("127.0.0.1", peer.port) as channel:
            await asyncio.wait_for(scenario(channel), 60)

    asyncio.run(main())


def test_four_call_shapes(peer: GrpcioPeer) -> None:
    async def scenario(channel: AsyncChannel) -> None:
        assert await channel.unary_unary(path("Unary"), b"hello") == b"hello"
        stream = await channel.unary_stream(path("ServerStream"), b"1000,300")
        received = [message async for message in stream]
        assert [int.from_bytes(m[:8], "big") for m in received] == list(range(1000))
        requests = [bytes([i % 256]) * i for i in range(200)]
        total = await channel.stream_unary(path("ClientStream"), requests)
        assert total == f"200,{sum(range(200))}".encode()
        async with await channel.stream_stream(path("Bidi")) as call:
            for index in range(50):
                await call.send(str(index).encode())
                assert await call.receive() == str(index).encode()
            await call.done_writing()
            assert await call.receive() is None
            assert call.code is StatusCode.OK

    run(peer, scenario)


def test_hundred_concurrent_tasks(peer: GrpcioPeer) -> None:
    async def one(channel: AsyncChannel, index: int) -> bytes:
        if index % 2:
            return await channel.unary_unary(path("Unary"), str(index).encode() * 100)
        stream = await channel.unary_stream(path("ServerStream"), b"50,64")
        return str(len([m async for m in stream])).encode()

    async def scenario(channel: AsyncChannel) -> None:
        results = await asyncio.gather(*(one(channel, i) for i in range(100)))
        for index, result in enumerate(results):
            assert result == (str(index).encode() * 100 if index % 2 else b"50")

    run(peer, scenario)


def test_ten_mib_each_way(peer: GrpcioPeer) -> None:
    async def scenario(channel: AsyncChannel) -> None:
        payload = bytes(range(256)) * (10 * MiB // 256)
        assert await channel.unary_unary(path("Unary"), payload) == payload
        response = await channel.unary_unary(path("Sized"), str(10 * MiB).encode())
        assert len(response) == 10 * MiB

    run(peer, scenario)


def test_hundred_thousand_small_messages(peer: GrpcioPeer) -> None:
    async def scenario(channel: AsyncChannel) -> None:
        count = 0
        async for message in await channel.unary_stream(path("ServerStream"), b"100000,16"):
            assert int.from_bytes(message[:8], "big") == count
            count += 1
        assert count == 100000

    run(peer, scenario)


def test_errors_trailers_and_trailers_only(peer: GrpcioPeer) -> None:
    async def scenario(channel: AsyncChannel) -> None:
        with pytest.raises(StatusError) as info:
            await channel.unary_unary(path("Fail"), b"ALREADY_EXISTS:exists 50%")
        assert info.value.code is StatusCode.ALREADY_EXISTS
        assert info.value.message == "exists 50%"
        assert info.value.metadata_value("blob-bin") == b"\x00\x01\xff"
        details = info.value.status_details
        assert details is not None
        assert details.message == "exists 50%"
        with pytest.raises(StatusError) as missing:
            await channel.unary_unary("/test.Echo/Missing", b"")
        assert missing.value.code is StatusCode.UNIMPLEMENTED

    run(peer, scenario)


def test_deadline_and_cancellation_seen_by_server(peer: GrpcioPeer) -> None:
    async def scenario(channel: AsyncChannel) -> None:
        peer.state.cancelled.clear()
        started = time.monotonic()
        with pytest.raises(StatusError) as info:
            await channel.unary_unary(path("Sleep"), b"5", timeout=0.3)
        assert info.value.code is StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 2
        assert await asyncio.to_thread(peer.state.cancelled.wait, 3)
        peer.state.cancelled.clear()
        call = await channel.open_call(path("Sleep"))
        await call.send(b"5", end=True)
        await asyncio.sleep(0.2)
        call.cancel()
        assert call.code is StatusCode.CANCELLED
        assert await asyncio.to_thread(peer.state.cancelled.wait, 3)
        assert await channel.unary_unary(path("Unary"), b"after") == b"after"

    run(peer, scenario)


def test_metadata_round_trip(peer: GrpcioPeer) -> None:
    async def scenario(channel: AsyncChannel) -> None:
        call = await channel.open_call(
            path("Metadata"), metadata=[("x-text", "value"), ("x-data-bin", b"\x00\xfe")]
        )
        await call.send(b"", end=True)
        assert await call.initial_metadata() == (("x-initial", "hello"),)
        assert await call.receive() is not None
        assert await call.receive() is None
        assert call.trailing_metadata == (("x-text", "value"), ("x-data-bin", b"\x00\xfe"))

    run(peer, scenario)


def test_server_stopping_mid_stream_is_unavailable() -> None:
    peer = GrpcioPeer()

    async def scenario(channel: AsyncChannel) -> None:
        call = await channel.unary_stream(path("ServerStream"), b"100000000,300")
        assert await call.receive()
        await asyncio.to_thread(peer.stop, 0)
        with pytest.raises(StatusError) as info:
            async for _ in call:
                pass
        assert info.value.code is StatusCode.UNAVAILABLE

    run(peer, scenario)


def test_goaway_lets_open_calls_finish() -> None:
    peer = GrpcioPeer()

    async def scenario(channel: AsyncChannel) -> None:
        holding = await channel.open_call(path("Sleep"))
        await holding.send(b"1.0", end=True)
        await asyncio.sleep(0.1)
        stopper = threading.Thread(target=peer.stop, args=(5,))
        stopper.start()
        await asyncio.sleep(0.3)
        link = channel._link
        assert link is not None
        assert not link.core.accepting  # the GOAWAY arrived while the call was open
        assert holding.code is None
        assert await holding.receive() == b"slept"
        await asyncio.to_thread(stopper.join)
        with pytest.raises(StatusError) as info:
            await channel.unary_unary(path("Unary"), b"")
        assert info.value.code is StatusCode.UNAVAILABLE

    run(peer, scenario)


def test_connection_refused_is_unavailable() -> None:
    async def main() -> None:
        async with AsyncChannel("127.0.0.1", 1) as channel:
            with pytest.raises(StatusError) as info:
                await channel.unary_unary(path("Unary"), b"")
            assert info.value.code is StatusCode.UNAVAILABLE

    asyncio.run(main())
