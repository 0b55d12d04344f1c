"""grpclib (asyncio) as a benchmark client, through its Stream API."""

from __future__ import annotations

import asyncio
from typing import Any

from grpclib.client import Channel
from grpclib.const import Cardinality
from grpclib.encoding.base import CodecBase

from benchmarks.common import HOST, STREAM_PATH, UNARY_PATH
from benchmarks.timing import Sample, time_async


class RawCodec(CodecBase):
    """Bytes in, bytes out. Subtype "proto" keeps the content-type plain application/grpc."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return bytes(message)

    def decode(self, data: bytes, message_type: Any) -> Any:
        return data


def run(op: str, port: int, n: int) -> Sample:
    async def main() -> Sample:
        channel = Channel(HOST, port, codec=RawCodec())
        try:

            async def unary(request: bytes) -> bytes:
                async with channel.request(
                    UNARY_PATH, Cardinality.UNARY_UNARY, bytes, bytes
                ) as call:
                    await call.send_message(request, end=True)
                    reply = await call.recv_message()
                assert reply is not None
                return reply

            async def stream(request: bytes) -> int:
                count = 0
                async with channel.request(
                    STREAM_PATH, Cardinality.UNARY_STREAM, bytes, bytes
                ) as call:
                    await call.send_message(request, end=True)
                    async for _ in call:
                        count += 1
                return count

            return await time_async(op, n, unary, stream)
        finally:
            channel.close()

    return asyncio.run(main())
