"""esdb_wire's EsdbClient and AsyncEsdbClient as benchmark clients, on either HTTP/2
engine (``http2_engine``: ``"h2"``, the default, or ``"native"``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator

from benchmarks.common import HOST
from benchmarks.suite.config import EVENT_TYPE
from benchmarks.suite.measure import event_data
from esdb_wire import EsdbClient, NewEvent
from esdb_wire.client.aio import AsyncCatchupSubscription, AsyncEsdbClient
from esdb_wire.client.sync import CatchupSubscription
from esdb_wire.events import RecordedEvent

ANY = -1  # esdb_wire: a negative expected position skips the check


def new_events(count: int, size: int, start: int = 0) -> list[NewEvent]:
    return [NewEvent(EVENT_TYPE, event_data(start + i, size)) for i in range(count)]


class WireSync:
    def __init__(self, port: int, engine: str | None = None) -> None:
        self.client = EsdbClient(f"{HOST}:{port}", http2_engine=engine)

    def make_events(self, count: int, size: int, start: int = 0) -> list[NewEvent]:
        return new_events(count, size, start)

    def append(self, stream: str, event: NewEvent) -> None:
        self.client.append_events(stream, ANY, (event,))

    def read(self, stream: str, limit: int | None = None) -> Iterator[RecordedEvent]:
        return self.client.read_stream_events(stream, limit=limit or sys.maxsize)

    def subscribe(self, position: int | None) -> CatchupSubscription:
        return self.client.subscribe_all_events(position=position)

    def commit_position(self) -> int:
        return self.client.get_commit_position()

    def close(self) -> None:
        self.client.close()


class WireAsync:
    def __init__(self, port: int, engine: str | None = None) -> None:
        self.client = AsyncEsdbClient(f"{HOST}:{port}", http2_engine=engine)

    def make_events(self, count: int, size: int, start: int = 0) -> list[NewEvent]:
        return new_events(count, size, start)

    async def append(self, stream: str, event: NewEvent) -> None:
        await self.client.append_events(stream, ANY, (event,))

    async def read(self, stream: str, limit: int | None = None) -> AsyncIterator[RecordedEvent]:
        return self.client.read_stream_events(stream, limit=limit or sys.maxsize)

    async def subscribe(self, position: int | None) -> AsyncCatchupSubscription:
        return await self.client.subscribe_all_events(position=position)

    async def unsubscribe(self, subscription: AsyncIterator[RecordedEvent]) -> None:
        if isinstance(subscription, AsyncCatchupSubscription):
            subscription.stop()

    async def commit_position(self) -> int:
        return await self.client.get_commit_position()

    async def close(self) -> None:
        await self.client.close()
