"""esdbclient 1.1.7's EventStoreDBClient and AsyncEventStoreDBClient as benchmark clients.

Single events go as one ``NewEvent`` (not a list): the sync client then uses the Append
rpc, like esdb_wire. The asyncio client always uses BatchAppend (its only append path).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from esdbclient import (
    AsyncEventStoreDBClient,
    EventStoreDBClient,
    NewEvent,
    RecordedEvent,
    StreamState,
)
from esdbclient.common import AbstractAsyncCatchupSubscription, AbstractCatchupSubscription

from benchmarks.common import HOST
from benchmarks.suite.config import EVENT_TYPE
from benchmarks.suite.measure import event_data


def uri(port: int) -> str:
    return f"esdb://{HOST}:{port}?Tls=false"


def new_events(count: int, size: int, start: int = 0) -> list[NewEvent]:
    return [NewEvent(type=EVENT_TYPE, data=event_data(start + i, size)) for i in range(count)]


class PeerSync:
    def __init__(self, port: int) -> None:
        self.client = EventStoreDBClient(uri=uri(port))

    def make_events(self, count: int, size: int, start: int = 0) -> list[NewEvent]:
        return new_events(count, size, start)

    def append(self, stream: str, event: NewEvent) -> None:
        self.client.append_to_stream(stream, current_version=StreamState.ANY, events=event)

    def read(self, stream: str, limit: int | None = None) -> Iterator[RecordedEvent]:
        if limit is None:
            return self.client.read_stream(stream)
        return self.client.read_stream(stream, limit=limit)

    def subscribe(self, position: int | None) -> AbstractCatchupSubscription:
        return self.client.subscribe_to_all(commit_position=position)

    def commit_position(self) -> int:
        return self.client.get_commit_position()

    def close(self) -> None:
        self.client.close()


class PeerAsync:
    def __init__(self, port: int) -> None:
        self.client = AsyncEventStoreDBClient(uri=uri(port))

    async def connect(self) -> None:
        await self.client.connect()

    def make_events(self, count: int, size: int, start: int = 0) -> list[NewEvent]:
        return new_events(count, size, start)

    async def append(self, stream: str, event: NewEvent) -> None:
        await self.client.append_to_stream(stream, current_version=StreamState.ANY, events=event)

    async def read(self, stream: str, limit: int | None = None) -> AsyncIterator[RecordedEvent]:
        if limit is None:
            return await self.client.read_stream(stream)
        return await self.client.read_stream(stream, limit=limit)

    async def subscribe(self, position: int | None) -> AbstractAsyncCatchupSubscription:
        return await self.client.subscribe_to_all(commit_position=position)

    async def unsubscribe(self, subscription: AsyncIterator[Any]) -> None:
        if isinstance(subscription, AbstractAsyncCatchupSubscription):
            await subscription.stop()

    async def commit_position(self) -> int:
        return await self.client.get_commit_position()

    async def close(self) -> None:
        await self.client.close()
