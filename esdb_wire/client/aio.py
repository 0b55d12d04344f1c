"""The asyncio clients: ``AsyncEventStoreDBClient`` (the esdbclient 1.x API, alias
``AsyncKurrentDBClient``) and ``AsyncEsdbClient`` (the esdbclient 0.5 API), with what their
reads and subscriptions return (asyncio: the blocking twins, generated from these modules
by ``scripts/unasync.py``, are in :mod:`esdb_wire.client.sync`)."""

from __future__ import annotations

from esdb_wire.client.aio_client import AsyncEventStoreDBClient, AsyncKurrentDBClient
from esdb_wire.client.aio_persistent import AsyncPersistentSubscription
from esdb_wire.client.aio_responses import AsyncCatchupSubscription, AsyncReadResponse
from esdb_wire.client.aio_v05 import AsyncEsdbClient

__all__ = [
    "AsyncCatchupSubscription",
    "AsyncEsdbClient",
    "AsyncEventStoreDBClient",
    "AsyncKurrentDBClient",
    "AsyncPersistentSubscription",
    "AsyncReadResponse",
]
