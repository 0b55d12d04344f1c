"""grpcio's clients as benchmark clients: sync (optionally with SingleThreadedUnaryStream)
and asyncio (``grpc.aio``)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import grpc.experimental

from benchmarks.common import HOST, STREAM_PATH, UNARY_PATH
from benchmarks.timing import Sample, time_async, time_blocking


def run(op: str, port: int, n: int) -> Sample:
    return _run(op, port, n, [])


def run_single_threaded(op: str, port: int, n: int) -> Sample:
    """Unary-stream calls read on the calling thread (grpc/grpc#20741)."""
    return _run(op, port, n, [(grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1)])


def _run(op: str, port: int, n: int, options: list[tuple[str, Any]]) -> Sample:
    with grpc.insecure_channel(f"{HOST}:{port}", options=options) as channel:
        # No serializers: requests and responses are raw bytes.
        unary = channel.unary_unary(UNARY_PATH)
        stream_method = channel.unary_stream(STREAM_PATH)

        def stream(request: bytes) -> int:
            count = 0
            for _ in stream_method(request):
                count += 1
            return count

        return time_blocking(op, n, unary, stream)


def run_aio(op: str, port: int, n: int) -> Sample:
    """grpcio's asyncio API, the counterpart of esdb_wire's asyncio driver."""

    async def main() -> Sample:
        async with grpc.aio.insecure_channel(f"{HOST}:{port}") as channel:
            unary_method = channel.unary_unary(UNARY_PATH)
            stream_method = channel.unary_stream(STREAM_PATH)

            async def unary(request: bytes) -> bytes:
                response: bytes = await unary_method(request)
                return response

            async def stream(request: bytes) -> int:
                count = 0
                async for _ in stream_method(request):
                    count += 1
                return count

            return await time_async(op, n, unary, stream)

    return asyncio.run(main())
