"""esdb_wire's two drivers, on each HTTP/2 engine, as benchmark clients.

``engine`` is passed to the channel as ``http2_engine``: ``"h2"`` (the default engine,
over the ``h2`` library) or ``"native"`` (esdb_wire's own HTTP/2).
"""

from __future__ import annotations

import asyncio

from benchmarks.common import HOST, STREAM_PATH, UNARY_PATH
from benchmarks.timing import Sample, time_async, time_blocking
from esdb_wire.transport.aio import AsyncChannel
from esdb_wire.transport.blocking import Channel


def run_blocking(op: str, port: int, n: int, engine: str = "h2") -> Sample:
    with Channel(HOST, port, http2_engine=engine) as channel:

        def unary(request: bytes) -> bytes:
            return channel.unary_unary(UNARY_PATH, request)

        def stream(request: bytes) -> int:
            count = 0
            for _ in channel.unary_stream(STREAM_PATH, request):
                count += 1
            return count

        return time_blocking(op, n, unary, stream)


def run_blocking_native(op: str, port: int, n: int) -> Sample:
    return run_blocking(op, port, n, "native")


def run_aio(op: str, port: int, n: int, engine: str = "h2") -> Sample:
    async def main() -> Sample:
        async with AsyncChannel(HOST, port, http2_engine=engine) as channel:

            async def unary(request: bytes) -> bytes:
                return await channel.unary_unary(UNARY_PATH, request)

            async def stream(request: bytes) -> int:
                count = 0
                async for _ in await channel.unary_stream(STREAM_PATH, request):
                    count += 1
                return count

            return await time_async(op, n, unary, stream)

    return asyncio.run(main())


def run_aio_native(op: str, port: int, n: int) -> Sample:
    return run_aio(op, port, n, "native")
