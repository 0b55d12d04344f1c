"""Iterating the asyncio client's reads and subscriptions in the esdbclient-1.x API
tests (asyncio: the source of ``_sync_helpers.py``, made by ``scripts/unasync.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

from esdb_wire import RecordedEvent


async def collect(items: AsyncIterator[RecordedEvent]) -> list[RecordedEvent]:
    """Every item ``items`` yields."""
    return [item async for item in items]


async def take(items: AsyncIterator[RecordedEvent], count: int) -> list[RecordedEvent]:
    """The next ``count`` items."""
    return [await items.__anext__() for _ in range(count)]


async def first_of(started: Awaitable[AsyncIterator[RecordedEvent]]) -> RecordedEvent:
    """The first item of a read or subscription still to be started."""
    items = await started
    return await items.__anext__()
