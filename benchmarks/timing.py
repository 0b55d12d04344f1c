"""The timed region of a client run, shared by every client: warm up, then measure."""

from __future__ import annotations

import resource
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Callable

from benchmarks.common import (
    STREAM_MESSAGE_SIZE,
    STREAM_WARMUP,
    UNARY_PAYLOAD_SIZE,
    UNARY_WARMUP,
    stream_request,
)

PAYLOAD = bytes(range(UNARY_PAYLOAD_SIZE))

# A client supplies one unary call (request -> reply) and one whole stream (request ->
# number of messages received); blocking clients as functions, asyncio ones as coroutines.
Unary = Callable[[bytes], bytes]
Stream = Callable[[bytes], int]
AsyncUnary = Callable[[bytes], Awaitable[bytes]]
AsyncStream = Callable[[bytes], Awaitable[int]]


@dataclass
class Sample:
    """Client CPU (process_time, and getrusage's user/sys split) and wall seconds."""

    cpu: float
    user: float
    sys: float
    wall: float
    received: int


class Clock:
    def __init__(self) -> None:
        self.usage = resource.getrusage(resource.RUSAGE_SELF)
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def sample(self, received: int) -> Sample:
        cpu = time.process_time() - self.cpu
        wall = time.perf_counter() - self.wall
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return Sample(
            cpu=cpu,
            user=usage.ru_utime - self.usage.ru_utime,
            sys=usage.ru_stime - self.usage.ru_stime,
            wall=wall,
            received=received,
        )


def time_blocking(op: str, n: int, unary: Unary, stream: Stream) -> Sample:
    """Warm up, then time ``n`` unary calls or one stream of ``n`` messages."""
    if op == "unary":
        for _ in range(UNARY_WARMUP):
            unary(PAYLOAD)
        clock = Clock()
        received = 0
        for _ in range(n):
            if unary(PAYLOAD) == PAYLOAD:
                received += 1
        return clock.sample(received)
    stream(stream_request(STREAM_WARMUP, STREAM_MESSAGE_SIZE))
    request = stream_request(n, STREAM_MESSAGE_SIZE)
    clock = Clock()
    return clock.sample(stream(request))


async def time_async(op: str, n: int, unary: AsyncUnary, stream: AsyncStream) -> Sample:
    """:func:`time_blocking` for asyncio clients."""
    if op == "unary":
        for _ in range(UNARY_WARMUP):
            await unary(PAYLOAD)
        clock = Clock()
        received = 0
        for _ in range(n):
            if await unary(PAYLOAD) == PAYLOAD:
                received += 1
        return clock.sample(received)
    await stream(stream_request(STREAM_WARMUP, STREAM_MESSAGE_SIZE))
    request = stream_request(n, STREAM_MESSAGE_SIZE)
    clock = Clock()
    return clock.sample(await stream(request))
