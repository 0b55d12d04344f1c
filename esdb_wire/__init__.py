"""esdb_wire: a pure-Python EventStoreDB/KurrentDB client speaking gRPC over h2, no grpcio.

``EsdbClient`` (blocking) and ``AsyncEsdbClient`` (asyncio) offer the esdbclient 0.5 API.
The asyncio pieces load on first use, so blocking programs never import asyncio.
"""

from __future__ import annotations

import importlib
from typing import Any

from esdb_wire._version import __version__
from esdb_wire.client.credentials import CallCredentials
from esdb_wire.client.sync import (
    CatchupSubscription,
    EsdbClient,
    EventStoreDBClient,
    KurrentDBClient,
    ReadResponse,
)
from esdb_wire.client.sync_persistent import PersistentSubscription
from esdb_wire.cluster import ClusterMember
from esdb_wire.codec.persistent import ConnectionInfo, SubscriptionInfo
from esdb_wire.codec.requests import (
    DEFAULT_EXCLUDE_FILTER,
    ESDB_EVENTS_REGEX,
    ESDB_PERSISTENT_CONFIG_EVENTS_REGEX,
    ESDB_SYSTEM_EVENTS_REGEX,
    StreamState,
)
from esdb_wire.events import CaughtUp, Checkpoint, NewEvent, RecordedEvent
from esdb_wire.exceptions import (
    AccessDeniedError,
    AlreadyExists,
    DeadlineExceeded,
    EsdbClientException,
    EventStoreDBClientException,
    ExpectedPositionError,
    GrpcError,
    MaximumAppendSizeExceededError,
    NotFound,
    ServiceUnavailable,
    StreamIsDeleted,
    StreamNotFound,
    WrongCurrentVersion,
)

_LAZY = {
    "AsyncEsdbClient": "esdb_wire.client.aio",
    "AsyncCatchupSubscription": "esdb_wire.client.aio",
    "AsyncEventStoreDBClient": "esdb_wire.client.aio",
    "AsyncPersistentSubscription": "esdb_wire.client.aio_persistent",
    "AsyncKurrentDBClient": "esdb_wire.client.aio",
    "AsyncReadResponse": "esdb_wire.client.aio",
    "EmbeddedServer": "esdb_wire.server.embedded",
}

__all__ = [
    "DEFAULT_EXCLUDE_FILTER",
    "ESDB_EVENTS_REGEX",
    "ESDB_PERSISTENT_CONFIG_EVENTS_REGEX",
    "ESDB_SYSTEM_EVENTS_REGEX",
    "AccessDeniedError",
    "AlreadyExists",
    "AsyncCatchupSubscription",
    "AsyncEsdbClient",
    "AsyncEventStoreDBClient",
    "AsyncKurrentDBClient",
    "AsyncPersistentSubscription",
    "AsyncReadResponse",
    "CallCredentials",
    "CatchupSubscription",
    "CaughtUp",
    "Checkpoint",
    "ClusterMember",
    "ConnectionInfo",
    "DeadlineExceeded",
    "EmbeddedServer",
    "EsdbClient",
    "EsdbClientException",
    "EventStoreDBClient",
    "EventStoreDBClientException",
    "ExpectedPositionError",
    "GrpcError",
    "KurrentDBClient",
    "MaximumAppendSizeExceededError",
    "NewEvent",
    "NotFound",
    "PersistentSubscription",
    "ReadResponse",
    "RecordedEvent",
    "ServiceUnavailable",
    "StreamIsDeleted",
    "StreamNotFound",
    "StreamState",
    "SubscriptionInfo",
    "WrongCurrentVersion",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
