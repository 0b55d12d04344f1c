"""What a benchmark scenario needs from a client library, blocking and asyncio.

Adapters (:mod:`benchmarks.suite.wire_adapters`, :mod:`benchmarks.suite.peer_adapters`)
hand back the library's own iterators, so timed loops iterate them directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Optional, Protocol, TypeVar
from uuid import UUID

E = TypeVar("E")  # the library's NewEvent


class Recorded(Protocol):
    @property
    def id(self) -> UUID: ...

    @property
    def type(self) -> str: ...

    @property
    def stream_name(self) -> str: ...

    @property
    def stream_position(self) -> int: ...

    @property
    def commit_position(self) -> int | None: ...

    @property
    def data(self) -> bytes: ...


Fields = tuple[UUID, str, bytes, str, int, Optional[int]]
"""What the fields-reading consumer reads (id, type, data, stream name and position,
commit position): the fields a real consumer of a read looks at."""


class Subscription(Protocol):
    def __next__(self) -> Recorded: ...

    def __iter__(self) -> Iterator[Recorded]: ...

    def stop(self) -> None: ...


class SyncClient(Protocol[E]):
    def make_events(self, count: int, size: int, start: int = 0) -> list[E]: ...

    def append(self, stream: str, event: E) -> None:
        """Append one event, any expected version, as one single-event Append call."""

    def read(self, stream: str, limit: int | None = None) -> Iterator[Recorded]: ...

    def subscribe(self, position: int | None) -> Subscription:
        """A catch-up subscription to $all after ``position`` (exclusive), or from the start."""

    def commit_position(self) -> int: ...

    def close(self) -> None: ...


class AsyncClient(Protocol[E]):
    def make_events(self, count: int, size: int, start: int = 0) -> list[E]: ...

    async def append(self, stream: str, event: E) -> None: ...

    async def read(self, stream: str, limit: int | None = None) -> AsyncIterator[Recorded]: ...

    async def subscribe(self, position: int | None) -> AsyncIterator[Recorded]: ...

    async def unsubscribe(self, subscription: AsyncIterator[Recorded]) -> None: ...

    async def commit_position(self) -> int: ...

    async def close(self) -> None: ...
