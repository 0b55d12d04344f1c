"""Persistent subscriptions on the wire: building PersistentSubscriptions requests and
decoding what comes back (``SubscriptionInfo``, delivered events)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple
from uuid import UUID

from esdb_wire.codec.events import recorded_event
from esdb_wire.codec.requests import DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER, DEFAULT_WINDOW_SIZE
from esdb_wire.events import RecordedEvent
from esdb_wire.protos import persistent_pb2
from esdb_wire.protos.uuids import write_uuid

ConsumerStrategy = Literal["DispatchToSingle", "RoundRobin", "Pinned", "PinnedByCorrelation"]
NackAction = Literal["unknown", "park", "retry", "skip", "stop"]

# esdbclient 1.x defaults.
DEFAULT_MESSAGE_TIMEOUT = 30.0
DEFAULT_MAX_RETRY_COUNT = 10
DEFAULT_MIN_CHECKPOINT_COUNT = 10
DEFAULT_MAX_CHECKPOINT_COUNT = 1000
DEFAULT_CHECKPOINT_AFTER = 2.0
DEFAULT_EVENT_BUFFER_SIZE = 150
DEFAULT_MAX_ACK_BATCH_SIZE = 50
DEFAULT_MAX_ACK_DELAY = 0.2
DEFAULT_STOPPING_GRACE = 0.2
DEFAULT_MAX_SUBSCRIBER_COUNT = 5
DEFAULT_LIVE_BUFFER_SIZE = 500
DEFAULT_READ_BATCH_SIZE = 200
DEFAULT_HISTORY_BUFFER_SIZE = 500

_NACK_ACTIONS = {
    "unknown": persistent_pb2.ReadReq.Nack.Unknown,
    "park": persistent_pb2.ReadReq.Nack.Park,
    "retry": persistent_pb2.ReadReq.Nack.Retry,
    "skip": persistent_pb2.ReadReq.Nack.Skip,
    "stop": persistent_pb2.ReadReq.Nack.Stop,
}
_STRATEGY_ENUM = {
    "DispatchToSingle": persistent_pb2.UpdateReq.DispatchToSingle,
    "RoundRobin": persistent_pb2.UpdateReq.RoundRobin,
    "Pinned": persistent_pb2.UpdateReq.Pinned,
}


class SubscriptionSettings(NamedTuple):
    """The settings of a persistent subscription group (seconds for durations)."""

    resolve_links: bool = False
    message_timeout: float = DEFAULT_MESSAGE_TIMEOUT
    max_retry_count: int = DEFAULT_MAX_RETRY_COUNT
    min_checkpoint_count: int = DEFAULT_MIN_CHECKPOINT_COUNT
    max_checkpoint_count: int = DEFAULT_MAX_CHECKPOINT_COUNT
    checkpoint_after: float = DEFAULT_CHECKPOINT_AFTER
    consumer_strategy: ConsumerStrategy = "DispatchToSingle"
    max_subscriber_count: int = DEFAULT_MAX_SUBSCRIBER_COUNT
    live_buffer_size: int = DEFAULT_LIVE_BUFFER_SIZE
    read_batch_size: int = DEFAULT_READ_BATCH_SIZE
    history_buffer_size: int = DEFAULT_HISTORY_BUFFER_SIZE
    extra_statistics: bool = False

    @classmethod
    def taken_from(cls, arguments: Mapping[str, Any]) -> SubscriptionSettings:
        """The settings among a call's arguments (e.g. ``locals()`` of a method whose
        parameters carry the settings' names)."""
        return cls(**{name: arguments[name] for name in cls._fields})

    def fill(self, settings: Any, *, update: bool) -> None:
        settings.resolve_links = self.resolve_links
        settings.extra_statistics = self.extra_statistics
        settings.max_retry_count = self.max_retry_count
        settings.min_checkpoint_count = self.min_checkpoint_count
        settings.max_checkpoint_count = self.max_checkpoint_count
        settings.max_subscriber_count = self.max_subscriber_count
        settings.live_buffer_size = self.live_buffer_size
        settings.read_batch_size = self.read_batch_size
        settings.history_buffer_size = self.history_buffer_size
        settings.message_timeout_ms = round(1000 * self.message_timeout)
        settings.checkpoint_after_ms = round(1000 * self.checkpoint_after)
        if update:
            if self.consumer_strategy not in _STRATEGY_ENUM:
                raise ValueError(f"{self.consumer_strategy} cannot be set by an update")
            settings.named_consumer_strategy = _STRATEGY_ENUM[self.consumer_strategy]
        else:
            settings.consumer_strategy = self.consumer_strategy


def _stream_identifier(target: Any, stream_name: str) -> None:
    target.stream_name = stream_name.encode("utf-8")


def create_request(
    group_name: str,
    settings: SubscriptionSettings,
    *,
    stream_name: str | None = None,
    stream_position: int | None = None,
    commit_position: int | None = None,
    from_end: bool = False,
    filter_regex: str | None = None,
    filter_by_stream_name: bool = False,
    window_size: int = DEFAULT_WINDOW_SIZE,
    checkpoint_interval_multiplier: int = DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER,
) -> persistent_pb2.CreateReq:
    request = persistent_pb2.CreateReq()
    options = request.options
    options.group_name = group_name
    settings.fill(options.settings, update=False)
    if stream_name is not None:
        _stream_identifier(options.stream.stream_identifier, stream_name)
        _start_stream(options.stream, stream_position, from_end)
    else:
        _start_all(options.all, commit_position, from_end)
        if filter_regex is None:
            options.all.no_filter.SetInParent()
        else:
            filter_options = options.all.filter
            expression = (
                filter_options.stream_identifier
                if filter_by_stream_name
                else filter_options.event_type
            )
            expression.regex = filter_regex
            filter_options.max = window_size
            filter_options.checkpointIntervalMultiplier = checkpoint_interval_multiplier
    return request


def update_request(
    group_name: str,
    settings: SubscriptionSettings,
    *,
    stream_name: str | None = None,
    stream_position: int | None = None,
    commit_position: int | None = None,
    from_end: bool = False,
) -> persistent_pb2.UpdateReq:
    request = persistent_pb2.UpdateReq()
    options = request.options
    options.group_name = group_name
    settings.fill(options.settings, update=True)
    if stream_name is not None:
        _stream_identifier(options.stream.stream_identifier, stream_name)
        _start_stream(options.stream, stream_position, from_end)
    else:
        _start_all(options.all, commit_position, from_end)
    return request


def _start_stream(target: Any, stream_position: int | None, from_end: bool) -> None:
    if stream_position is not None:
        target.revision = stream_position
    elif from_end:
        target.end.SetInParent()
    else:
        target.start.SetInParent()


def _start_all(target: Any, commit_position: int | None, from_end: bool) -> None:
    if commit_position is not None:
        target.position.commit_position = commit_position
        target.position.prepare_position = commit_position
    elif from_end:
        target.end.SetInParent()
    else:
        target.start.SetInParent()


def _stream_or_all(options: Any, stream_name: str | None) -> None:
    if stream_name is None:
        options.all.SetInParent()
    else:
        _stream_identifier(options.stream_identifier, stream_name)


def delete_request(group_name: str, stream_name: str | None) -> persistent_pb2.DeleteReq:
    request = persistent_pb2.DeleteReq()
    request.options.group_name = group_name
    _stream_or_all(request.options, stream_name)
    return request


def get_info_request(group_name: str, stream_name: str | None) -> persistent_pb2.GetInfoReq:
    request = persistent_pb2.GetInfoReq()
    request.options.group_name = group_name
    _stream_or_all(request.options, stream_name)
    return request


def replay_parked_request(
    group_name: str, stream_name: str | None, stop_at: int | None = None
) -> persistent_pb2.ReplayParkedReq:
    request = persistent_pb2.ReplayParkedReq()
    options = request.options
    options.group_name = group_name
    _stream_or_all(options, stream_name)
    if stop_at is None:
        options.no_limit.SetInParent()
    else:
        options.stop_at = stop_at
    return request


def list_request(stream_name: str | None, *, all_groups: bool) -> persistent_pb2.ListReq:
    """All groups, or the groups of one stream (``None``: of ``$all``)."""
    request = persistent_pb2.ListReq()
    options = request.options
    if all_groups:
        options.list_all_subscriptions.SetInParent()
    elif stream_name is None:
        options.list_for_stream.all.SetInParent()
    else:
        _stream_identifier(options.list_for_stream.stream, stream_name)
    return request


def read_options_request(
    group_name: str, stream_name: str | None, buffer_size: int
) -> persistent_pb2.ReadReq:
    """The first message of a ``Read`` call."""
    request = persistent_pb2.ReadReq()
    options = request.options
    options.group_name = group_name
    options.buffer_size = buffer_size
    options.uuid_option.structured.SetInParent()
    _stream_or_all(options, stream_name)
    return request


def ack_request(subscription_id: str, ids: Sequence[UUID]) -> persistent_pb2.ReadReq:
    request = persistent_pb2.ReadReq()
    request.ack.id = subscription_id.encode("utf-8")
    for event_id in ids:
        write_uuid(request.ack.ids.add(), event_id)
    return request


def nack_request(
    subscription_id: str, ids: Sequence[UUID], action: NackAction, reason: str = ""
) -> persistent_pb2.ReadReq:
    if action not in _NACK_ACTIONS:
        raise ValueError(f"nack action must be one of {sorted(_NACK_ACTIONS)}, not {action!r}")
    request = persistent_pb2.ReadReq()
    nack = request.nack
    nack.id = subscription_id.encode("utf-8")
    nack.action = _NACK_ACTIONS[action]
    nack.reason = reason
    for event_id in ids:
        write_uuid(nack.ids.add(), event_id)
    return request


def delivered_event(response: persistent_pb2.ReadResp) -> RecordedEvent | None:
    """The event of a persistent ``ReadResp`` (with ``retry_count``); None otherwise."""
    if response.WhichOneof("content") != "event":
        return None
    read_event = response.event
    retry_count = read_event.retry_count if read_event.HasField("retry_count") else 0
    link = recorded_event(read_event.link) if read_event.HasField("link") else None
    if not read_event.HasField("event"):
        return None
    return recorded_event(read_event.event, link=link, retry_count=retry_count)


def confirmation(response: persistent_pb2.ReadResp) -> str | None:
    if response.WhichOneof("content") == "subscription_confirmation":
        return str(response.subscription_confirmation.subscription_id)
    return None


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


def subscription_info(info: persistent_pb2.SubscriptionInfo) -> SubscriptionInfo:
    return SubscriptionInfo(
        event_source=info.event_source,
        group_name=info.group_name,
        status=info.status,
        average_per_second=info.average_per_second,
        total_items=info.total_items,
        count_since_last_measurement=info.count_since_last_measurement,
        last_checkpointed_event_position=info.last_checkpointed_event_position,
        last_known_event_position=info.last_known_event_position,
        resolve_links=info.resolve_link_tos,
        start_from=info.start_from,
        message_timeout=info.message_timeout_milliseconds / 1000.0,
        extra_statistics=info.extra_statistics,
        max_retry_count=info.max_retry_count,
        live_buffer_size=info.live_buffer_size,
        history_buffer_size=info.buffer_size,
        read_batch_size=info.read_batch_size,
        checkpoint_after=info.check_point_after_milliseconds / 1000.0,
        min_checkpoint_count=info.min_check_point_count,
        max_checkpoint_count=info.max_check_point_count,
        read_buffer_count=info.read_buffer_count,
        live_buffer_count=info.live_buffer_count,
        retry_buffer_count=info.retry_buffer_count,
        total_in_flight_messages=info.total_in_flight_messages,
        outstanding_messages_count=info.outstanding_messages_count,
        consumer_strategy=info.named_consumer_strategy,
        max_subscriber_count=info.max_subscriber_count,
        parked_message_count=info.parked_message_count,
        connections=tuple(
            ConnectionInfo(
                from_=getattr(connection, "from"),
                username=connection.username,
                average_items_per_second=connection.average_items_per_second,
                total_items=connection.total_items,
                count_since_last_measurement=connection.count_since_last_measurement,
                available_slots=connection.available_slots,
                in_flight_messages=connection.in_flight_messages,
                connection_name=connection.connection_name,
            )
            for connection in info.connections
        ),
    )


class AckBatcher:
    """Collects acks and nacks into batched ``ReadReq`` messages, one action per batch.

    :meth:`add` returns the encoded requests due now: the previous batch when the action
    (or nack reason) changes, and this one once it is full or ``max_delay`` old.
    """

    def __init__(self, subscription_id: str, max_batch: int, max_delay: float) -> None:
        self.subscription_id = subscription_id
        self.max_batch = max(1, max_batch)
        self.max_delay = max_delay
        self._action: tuple[str, str] | None = None
        self._ids: list[UUID] = []
        self._started = 0.0

    def add(self, event_id: UUID, action: str, reason: str = "") -> list[bytes]:
        due: list[bytes] = []
        key = (action, reason)
        if self._action is not None and self._action != key:
            due.extend(self.flush())
        if not self._ids:
            self._started = time.monotonic()
        self._action = key
        self._ids.append(event_id)
        if len(self._ids) >= self.max_batch or time.monotonic() - self._started >= self.max_delay:
            due.extend(self.flush())
        return due

    def flush(self) -> list[bytes]:
        if not self._ids or self._action is None:
            return []
        action, reason = self._action
        ids, self._ids = self._ids, []
        self._action = None
        if action == "ack":
            return [ack_request(self.subscription_id, ids).SerializeToString()]
        nack = nack_request(self.subscription_id, ids, action, reason)  # type: ignore[arg-type]
        return [nack.SerializeToString()]


def merged_settings(current: SubscriptionInfo, changes: dict[str, Any]) -> SubscriptionSettings:
    """The group's current settings with the given (non-None) changes applied."""
    values: dict[str, Any] = {name: getattr(current, name) for name in SubscriptionSettings._fields}
    values["consumer_strategy"] = current.consumer_strategy or "DispatchToSingle"
    for key, value in changes.items():
        if key not in values:
            raise TypeError(f"unknown persistent subscription setting {key!r}")
        if value is not None:
            values[key] = value
    return SubscriptionSettings(**values)


def start_position(start_from: str) -> int | None:
    """The numeric start of a group's ``start_from`` text ("5", "C:10/P:10"), if any."""
    text = start_from.partition("/")[0].removeprefix("C:") if start_from else ""
    return int(text) if text.isdigit() else None


def subscription_infos(data: bytes) -> list[SubscriptionInfo]:
    """The groups of a ``ListResp``."""
    return [subscription_info(s) for s in persistent_pb2.ListResp.FromString(data).subscriptions]


def ack_id(item: RecordedEvent | UUID) -> UUID:
    """What to acknowledge for a delivered item (the link id for a resolved link)."""
    return item if isinstance(item, UUID) else item.ack_id
