"""esdb_wire: a pure-Python EventStoreDB/KurrentDB client speaking gRPC over HTTP/2, no grpcio.

``EventStoreDBClient`` (the esdbclient 1.x API) and ``EsdbClient`` (the esdbclient 0.5
API) are blocking; their ``Async...`` twins use asyncio. Everything here loads on first
use: ``import esdb_wire`` is cheap, and blocking programs never import asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from esdb_wire._version import __version__

if TYPE_CHECKING:
    from esdb_wire.client.aio_admin import (
        AsyncStatsStream as AsyncStatsStream,
    )
    from esdb_wire.client.aio_client import (
        AsyncEventStoreDBClient as AsyncEventStoreDBClient,
    )
    from esdb_wire.client.aio_client import (
        AsyncKurrentDBClient as AsyncKurrentDBClient,
    )
    from esdb_wire.client.aio_persistent import (
        AsyncPersistentSubscription as AsyncPersistentSubscription,
    )
    from esdb_wire.client.aio_responses import (
        AsyncCatchupSubscription as AsyncCatchupSubscription,
    )
    from esdb_wire.client.aio_responses import (
        AsyncReadResponse as AsyncReadResponse,
    )
    from esdb_wire.client.aio_v05 import (
        AsyncEsdbClient as AsyncEsdbClient,
    )
    from esdb_wire.client.credentials import (
        CallCredentials as CallCredentials,
    )
    from esdb_wire.client.sync_admin import (
        StatsStream as StatsStream,
    )
    from esdb_wire.client.sync_client import (
        EventStoreDBClient as EventStoreDBClient,
    )
    from esdb_wire.client.sync_client import (
        KurrentDBClient as KurrentDBClient,
    )
    from esdb_wire.client.sync_persistent import (
        PersistentSubscription as PersistentSubscription,
    )
    from esdb_wire.client.sync_responses import (
        CatchupSubscription as CatchupSubscription,
    )
    from esdb_wire.client.sync_responses import (
        ReadResponse as ReadResponse,
    )
    from esdb_wire.client.sync_v05 import (
        EsdbClient as EsdbClient,
    )
    from esdb_wire.cluster import (
        ClusterMember as ClusterMember,
    )
    from esdb_wire.events import (
        CaughtUp as CaughtUp,
    )
    from esdb_wire.events import (
        Checkpoint as Checkpoint,
    )
    from esdb_wire.events import (
        NewEvent as NewEvent,
    )
    from esdb_wire.events import (
        RecordedEvent as RecordedEvent,
    )
    from esdb_wire.exceptions import (
        AccessDeniedError as AccessDeniedError,
    )
    from esdb_wire.exceptions import (
        AlreadyExists as AlreadyExists,
    )
    from esdb_wire.exceptions import (
        DeadlineExceeded as DeadlineExceeded,
    )
    from esdb_wire.exceptions import (
        EsdbClientException as EsdbClientException,
    )
    from esdb_wire.exceptions import (
        EventStoreDBClientException as EventStoreDBClientException,
    )
    from esdb_wire.exceptions import (
        ExpectedPositionError as ExpectedPositionError,
    )
    from esdb_wire.exceptions import (
        GrpcError as GrpcError,
    )
    from esdb_wire.exceptions import (
        MaximumAppendSizeExceededError as MaximumAppendSizeExceededError,
    )
    from esdb_wire.exceptions import (
        NotFound as NotFound,
    )
    from esdb_wire.exceptions import (
        ServiceUnavailable as ServiceUnavailable,
    )
    from esdb_wire.exceptions import (
        StreamIsDeleted as StreamIsDeleted,
    )
    from esdb_wire.exceptions import (
        StreamNotFound as StreamNotFound,
    )
    from esdb_wire.exceptions import (
        UndecodableResponse as UndecodableResponse,
    )
    from esdb_wire.exceptions import (
        WrongCurrentVersion as WrongCurrentVersion,
    )
    from esdb_wire.filters import (
        DEFAULT_EXCLUDE_FILTER as DEFAULT_EXCLUDE_FILTER,
    )
    from esdb_wire.filters import (
        ESDB_EVENTS_REGEX as ESDB_EVENTS_REGEX,
    )
    from esdb_wire.filters import (
        ESDB_PERSISTENT_CONFIG_EVENTS_REGEX as ESDB_PERSISTENT_CONFIG_EVENTS_REGEX,
    )
    from esdb_wire.filters import (
        ESDB_SYSTEM_EVENTS_REGEX as ESDB_SYSTEM_EVENTS_REGEX,
    )
    from esdb_wire.operations import (
        DatabaseScavengeResult as DatabaseScavengeResult,
    )
    from esdb_wire.operations import (
        ScavengeResult as ScavengeResult,
    )
    from esdb_wire.persistent import (
        ConnectionInfo as ConnectionInfo,
    )
    from esdb_wire.persistent import (
        SubscriptionInfo as SubscriptionInfo,
    )
    from esdb_wire.projections import (
        ProjectionResult as ProjectionResult,
    )
    from esdb_wire.projections import (
        ProjectionState as ProjectionState,
    )
    from esdb_wire.projections import (
        ProjectionStatistics as ProjectionStatistics,
    )
    from esdb_wire.records import (
        NewEvents as NewEvents,
    )
    from esdb_wire.records import (
        NewRecord as NewRecord,
    )
    from esdb_wire.records import (
        StreamStateCheck as StreamStateCheck,
    )
    from esdb_wire.server.cluster.embedded import (
        EmbeddedCluster as EmbeddedCluster,
    )
    from esdb_wire.server.embedded import (
        EmbeddedServer as EmbeddedServer,
    )
    from esdb_wire.streams import (
        StreamState as StreamState,
    )
    from esdb_wire.users import (
        UserDetails as UserDetails,
    )

# Public name -> the module that defines it (not a package that gathers it: importing a
# client loads only what the client needs).
_EXPORTS = {
    "AccessDeniedError": "esdb_wire.exceptions",
    "AlreadyExists": "esdb_wire.exceptions",
    "AsyncCatchupSubscription": "esdb_wire.client.aio_responses",
    "AsyncEsdbClient": "esdb_wire.client.aio_v05",
    "AsyncEventStoreDBClient": "esdb_wire.client.aio_client",
    "AsyncKurrentDBClient": "esdb_wire.client.aio_client",
    "AsyncPersistentSubscription": "esdb_wire.client.aio_persistent",
    "AsyncReadResponse": "esdb_wire.client.aio_responses",
    "AsyncStatsStream": "esdb_wire.client.aio_admin",
    "CallCredentials": "esdb_wire.client.credentials",
    "CatchupSubscription": "esdb_wire.client.sync_responses",
    "CaughtUp": "esdb_wire.events",
    "Checkpoint": "esdb_wire.events",
    "ClusterMember": "esdb_wire.cluster",
    "ConnectionInfo": "esdb_wire.persistent",
    "DEFAULT_EXCLUDE_FILTER": "esdb_wire.filters",
    "DatabaseScavengeResult": "esdb_wire.operations",
    "DeadlineExceeded": "esdb_wire.exceptions",
    "ESDB_EVENTS_REGEX": "esdb_wire.filters",
    "ESDB_PERSISTENT_CONFIG_EVENTS_REGEX": "esdb_wire.filters",
    "ESDB_SYSTEM_EVENTS_REGEX": "esdb_wire.filters",
    "EmbeddedCluster": "esdb_wire.server.cluster.embedded",
    "EmbeddedServer": "esdb_wire.server.embedded",
    "EsdbClient": "esdb_wire.client.sync_v05",
    "EsdbClientException": "esdb_wire.exceptions",
    "EventStoreDBClient": "esdb_wire.client.sync_client",
    "EventStoreDBClientException": "esdb_wire.exceptions",
    "ExpectedPositionError": "esdb_wire.exceptions",
    "GrpcError": "esdb_wire.exceptions",
    "KurrentDBClient": "esdb_wire.client.sync_client",
    "MaximumAppendSizeExceededError": "esdb_wire.exceptions",
    "NewEvent": "esdb_wire.events",
    "NewEvents": "esdb_wire.records",
    "NewRecord": "esdb_wire.records",
    "NotFound": "esdb_wire.exceptions",
    "PersistentSubscription": "esdb_wire.client.sync_persistent",
    "ProjectionResult": "esdb_wire.projections",
    "ProjectionState": "esdb_wire.projections",
    "ProjectionStatistics": "esdb_wire.projections",
    "ReadResponse": "esdb_wire.client.sync_responses",
    "RecordedEvent": "esdb_wire.events",
    "ScavengeResult": "esdb_wire.operations",
    "ServiceUnavailable": "esdb_wire.exceptions",
    "StatsStream": "esdb_wire.client.sync_admin",
    "StreamIsDeleted": "esdb_wire.exceptions",
    "StreamNotFound": "esdb_wire.exceptions",
    "StreamState": "esdb_wire.streams",
    "StreamStateCheck": "esdb_wire.records",
    "SubscriptionInfo": "esdb_wire.persistent",
    "UndecodableResponse": "esdb_wire.exceptions",
    "UserDetails": "esdb_wire.users",
    "WrongCurrentVersion": "esdb_wire.exceptions",
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
    "AsyncStatsStream",
    "CallCredentials",
    "CatchupSubscription",
    "CaughtUp",
    "Checkpoint",
    "ClusterMember",
    "ConnectionInfo",
    "DatabaseScavengeResult",
    "DeadlineExceeded",
    "EmbeddedCluster",
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
    "NewEvents",
    "NewRecord",
    "NotFound",
    "PersistentSubscription",
    "ProjectionResult",
    "ProjectionState",
    "ProjectionStatistics",
    "ReadResponse",
    "RecordedEvent",
    "ScavengeResult",
    "ServiceUnavailable",
    "StatsStream",
    "StreamIsDeleted",
    "StreamNotFound",
    "StreamState",
    "StreamStateCheck",
    "SubscriptionInfo",
    "UndecodableResponse",
    "UserDetails",
    "WrongCurrentVersion",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
