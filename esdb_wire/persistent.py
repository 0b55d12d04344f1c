"""What persistent subscription groups are made of and report: their settings' types
and esdbclient 1.x defaults, and :class:`SubscriptionInfo` (with its consumers'
:class:`ConnectionInfo`), as ``get_subscription_info`` and ``list_subscriptions`` return
them. The defaults live in :mod:`esdb_wire.persistent_defaults` (imported here too)."""

from __future__ import annotations

from typing import Literal, NamedTuple

from esdb_wire.persistent_defaults import (
    DEFAULT_CHECKPOINT_AFTER,
    DEFAULT_EVENT_BUFFER_SIZE,
    DEFAULT_HISTORY_BUFFER_SIZE,
    DEFAULT_LIVE_BUFFER_SIZE,
    DEFAULT_MAX_ACK_BATCH_SIZE,
    DEFAULT_MAX_ACK_DELAY,
    DEFAULT_MAX_CHECKPOINT_COUNT,
    DEFAULT_MAX_RETRY_COUNT,
    DEFAULT_MAX_SUBSCRIBER_COUNT,
    DEFAULT_MESSAGE_TIMEOUT,
    DEFAULT_MIN_CHECKPOINT_COUNT,
    DEFAULT_READ_BATCH_SIZE,
    DEFAULT_STOPPING_GRACE,
)

__all__ = [
    "DEFAULT_CHECKPOINT_AFTER",
    "DEFAULT_EVENT_BUFFER_SIZE",
    "DEFAULT_HISTORY_BUFFER_SIZE",
    "DEFAULT_LIVE_BUFFER_SIZE",
    "DEFAULT_MAX_ACK_BATCH_SIZE",
    "DEFAULT_MAX_ACK_DELAY",
    "DEFAULT_MAX_CHECKPOINT_COUNT",
    "DEFAULT_MAX_RETRY_COUNT",
    "DEFAULT_MAX_SUBSCRIBER_COUNT",
    "DEFAULT_MESSAGE_TIMEOUT",
    "DEFAULT_MIN_CHECKPOINT_COUNT",
    "DEFAULT_READ_BATCH_SIZE",
    "DEFAULT_STOPPING_GRACE",
    "ConnectionInfo",
    "ConsumerStrategy",
    "NackAction",
    "SubscriptionInfo",
]

ConsumerStrategy = Literal["DispatchToSingle", "RoundRobin", "Pinned", "PinnedByCorrelation"]
"""How a group shares its events among its consumers."""
NackAction = Literal["unknown", "park", "retry", "skip", "stop"]
"""What a group does with a negatively acknowledged event (``unknown``: its choice)."""


class ConnectionInfo(NamedTuple):
    """One consumer connected to a group."""

    from_: str
    username: str
    average_items_per_second: int
    total_items: int
    count_since_last_measurement: int
    available_slots: int
    in_flight_messages: int
    connection_name: str


class SubscriptionInfo(NamedTuple):
    """A persistent subscription group's settings and statistics (esdbclient's names)."""

    event_source: str
    group_name: str
    status: str
    average_per_second: int
    total_items: int
    count_since_last_measurement: int
    last_checkpointed_event_position: str
    last_known_event_position: str
    resolve_links: bool
    start_from: str
    message_timeout: float
    extra_statistics: bool
    max_retry_count: int
    live_buffer_size: int
    history_buffer_size: int
    read_batch_size: int
    checkpoint_after: float
    min_checkpoint_count: int
    max_checkpoint_count: int
    read_buffer_count: int
    live_buffer_count: int
    retry_buffer_count: int
    total_in_flight_messages: int
    outstanding_messages_count: int
    consumer_strategy: str
    max_subscriber_count: int
    parked_message_count: int
    connections: tuple[ConnectionInfo, ...] = ()
