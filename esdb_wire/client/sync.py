# Generated from esdb_wire/client/aio.py by scripts/unasync.py; do not edit.
"""The blocking clients: ``EventStoreDBClient`` (the esdbclient 1.x API, alias
``KurrentDBClient``) and ``EsdbClient`` (the esdbclient 0.5 API), with what their
reads and subscriptions return."""

from __future__ import annotations

from esdb_wire.client.sync_client import EventStoreDBClient, KurrentDBClient
from esdb_wire.client.sync_persistent import PersistentSubscription
from esdb_wire.client.sync_responses import CatchupSubscription, ReadResponse
from esdb_wire.client.sync_v05 import EsdbClient

__all__ = [
    "CatchupSubscription",
    "EsdbClient",
    "EventStoreDBClient",
    "KurrentDBClient",
    "PersistentSubscription",
    "ReadResponse",
]
