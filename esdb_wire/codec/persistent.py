"""Persistent subscriptions on the wire: building PersistentSubscriptions requests
(returned encoded) and decoding what comes back (:class:`~esdb_wire.persistent.SubscriptionInfo`,
delivered events) from its bytes."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Union
from uuid import UUID

from esdb_wire.codec.decoding import DECODE_ERRORS, decode, undecodable
from esdb_wire.codec.events import read_event
from esdb_wire.codec.requests import set_filter, start_at_position, start_at_revision
from esdb_wire.events import RecordedEvent
from esdb_wire.filters import DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER, DEFAULT_WINDOW_SIZE
from esdb_wire.persistent import (
    DEFAULT_CHECKPOINT_AFTER,
    DEFAULT_HISTORY_BUFFER_SIZE,
    DEFAULT_LIVE_BUFFER_SIZE,
    DEFAULT_MAX_CHECKPOINT_COUNT,
    DEFAULT_MAX_RETRY_COUNT,
    DEFAULT_MAX_SUBSCRIBER_COUNT,
    DEFAULT_MESSAGE_TIMEOUT,
    DEFAULT_MIN_CHECKPOINT_COUNT,
    DEFAULT_READ_BATCH_SIZE,
    ConnectionInfo,
    ConsumerStrategy,
    NackAction,
    SubscriptionInfo,
)
from esdb_wire.protos import persistent_pb2
from esdb_wire.protos.uuids import write_uuid

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
ReadResp = persistent_pb2.ReadResp
_READ = "PersistentSubscriptions.Read"
_parse_read = ReadResp.FromString


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
        """Write the settings into a ``CreateReq`` (or, ``update``, ``UpdateReq``)
        ``Settings`` message."""
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


def _group_request(
    request: persistent_pb2.CreateReq | persistent_pb2.UpdateReq,
    group_name: str,
    settings: SubscriptionSettings,
    stream_name: str | None,
    start: int | None,
    from_end: bool,
) -> Any:
    """Fill what a ``CreateReq`` and an ``UpdateReq`` share: the group, its settings,
    and where it starts (a revision of ``stream_name``, or a ``$all`` position); return
    the ``$all`` options (None for a stream group)."""
    options = request.options
    options.group_name = group_name
    settings.fill(options.settings, update=isinstance(request, persistent_pb2.UpdateReq))
    if stream_name is not None:
        _stream_identifier(options.stream.stream_identifier, stream_name)
        start_at_revision(options.stream, start, from_end)
        return None
    start_at_position(options.all, start, from_end)
    return options.all


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
) -> bytes:
    """``CreateReq`` of a group on ``stream_name`` (from ``stream_position``) or on
    ``$all`` (from ``commit_position``, filtered by ``filter_regex``)."""
    request = persistent_pb2.CreateReq()
    start = stream_position if stream_name is not None else commit_position
    all_options = _group_request(request, group_name, settings, stream_name, start, from_end)
    if all_options is not None:
        set_filter(
            all_options,
            filter_regex,
            by_stream_name=filter_by_stream_name,
            window_size=window_size,
            checkpoint_interval_multiplier=checkpoint_interval_multiplier,
        )
    return request.SerializeToString()


def update_request(
    group_name: str,
    settings: SubscriptionSettings,
    *,
    stream_name: str | None = None,
    stream_position: int | None = None,
    commit_position: int | None = None,
    from_end: bool = False,
) -> bytes:
    """``UpdateReq``: the group's new settings and start."""
    request = persistent_pb2.UpdateReq()
    start = stream_position if stream_name is not None else commit_position
    _group_request(request, group_name, settings, stream_name, start, from_end)
    return request.SerializeToString()


def _stream_or_all(options: Any, stream_name: str | None) -> None:
    if stream_name is None:
        options.all.SetInParent()
    else:
        _stream_identifier(options.stream_identifier, stream_name)


_GroupRequest = Union[
    persistent_pb2.DeleteReq, persistent_pb2.GetInfoReq, persistent_pb2.ReplayParkedReq
]


def _naming_group(request: _GroupRequest, group_name: str, stream_name: str | None) -> Any:
    """``request`` naming the group ``group_name`` of ``stream_name`` (None: of
    ``$all``); return its options."""
    options = request.options
    options.group_name = group_name
    _stream_or_all(options, stream_name)
    return options


def delete_request(group_name: str, stream_name: str | None) -> bytes:
    """``DeleteReq`` of a group."""
    request = persistent_pb2.DeleteReq()
    _naming_group(request, group_name, stream_name)
    return request.SerializeToString()


def get_info_request(group_name: str, stream_name: str | None) -> bytes:
    """``GetInfoReq`` of a group."""
    request = persistent_pb2.GetInfoReq()
    _naming_group(request, group_name, stream_name)
    return request.SerializeToString()


def replay_parked_request(
    group_name: str, stream_name: str | None, stop_at: int | None = None
) -> bytes:
    """``ReplayParkedReq`` of a group: every parked event, or up to ``stop_at``."""
    request = persistent_pb2.ReplayParkedReq()
    options = _naming_group(request, group_name, stream_name)
    if stop_at is None:
        options.no_limit.SetInParent()
    else:
        options.stop_at = stop_at
    return request.SerializeToString()


def list_request(stream_name: str | None, *, all_groups: bool) -> bytes:
    """``ListReq`` of all groups, or of the groups of one stream (None: of ``$all``)."""
    request = persistent_pb2.ListReq()
    options = request.options
    if all_groups:
        options.list_all_subscriptions.SetInParent()
    elif stream_name is None:
        options.list_for_stream.all.SetInParent()
    else:
        _stream_identifier(options.list_for_stream.stream, stream_name)
    return request.SerializeToString()


def read_options_request(group_name: str, stream_name: str | None, buffer_size: int) -> bytes:
    """The first message of a ``Read`` call."""
    request = persistent_pb2.ReadReq()
    options = request.options
    options.group_name = group_name
    options.buffer_size = buffer_size
    options.uuid_option.structured.SetInParent()
    _stream_or_all(options, stream_name)
    return request.SerializeToString()


def ack_request(subscription_id: str, ids: Sequence[UUID]) -> bytes:
    """A ``Read`` call's ``Ack`` of events, by id."""
    request = persistent_pb2.ReadReq()
    request.ack.id = subscription_id.encode("utf-8")
    for event_id in ids:
        write_uuid(request.ack.ids.add(), event_id)
    return request.SerializeToString()


def nack_request(
    subscription_id: str, ids: Sequence[UUID], action: NackAction, reason: str = ""
) -> bytes:
    """A ``Read`` call's ``Nack`` of events, by id, with what to do with them."""
    if action not in _NACK_ACTIONS:
        raise ValueError(f"nack action must be one of {sorted(_NACK_ACTIONS)}, not {action!r}")
    request = persistent_pb2.ReadReq()
    nack = request.nack
    nack.id = subscription_id.encode("utf-8")
    nack.action = _NACK_ACTIONS[action]
    nack.reason = reason
    for event_id in ids:
        write_uuid(nack.ids.add(), event_id)
    return request.SerializeToString()


def delivered_event(data: bytes) -> RecordedEvent | None:
    """The event (with ``retry_count``) of an encoded persistent ``ReadResp``; None for
    any other message, or a link whose event is gone."""
    try:
        response = _parse_read(data)
    except DECODE_ERRORS as error:
        raise undecodable(ReadResp, _READ, error) from error
    if response.WhichOneof("content") != "event":
        return None
    event = response.event
    retry_count = event.retry_count if event.HasField("retry_count") else 0
    return read_event(event, retry_count=retry_count)


def confirmation(data: bytes) -> str | None:
    """The subscription id of an encoded persistent ``ReadResp`` that confirms the
    subscription; None for any other message."""
    response = decode(ReadResp, data, _READ)
    if response.WhichOneof("content") == "subscription_confirmation":
        return str(response.subscription_confirmation.subscription_id)
    return None


def _subscription_info(info: persistent_pb2.SubscriptionInfo) -> SubscriptionInfo:
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


def subscription_info(data: bytes) -> SubscriptionInfo:
    """The group an encoded ``GetInfoResp`` describes."""
    response = decode(persistent_pb2.GetInfoResp, data, "PersistentSubscriptions.GetInfo")
    return _subscription_info(response.subscription_info)


def subscription_infos(data: bytes) -> list[SubscriptionInfo]:
    """The groups an encoded ``ListResp`` lists."""
    response = decode(persistent_pb2.ListResp, data, "PersistentSubscriptions.List")
    return [_subscription_info(info) for info in response.subscriptions]


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
        """Take one ack (``action`` "ack") or nack of ``event_id``; return what is due."""
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
        """The pending batch, encoded (empty if there is none)."""
        if not self._ids or self._action is None:
            return []
        action, reason = self._action
        ids, self._ids = self._ids, []
        self._action = None
        if action == "ack":
            return [ack_request(self.subscription_id, ids)]
        return [nack_request(self.subscription_id, ids, action, reason)]  # type: ignore[arg-type]


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


def ack_id(item: RecordedEvent | UUID) -> UUID:
    """What to acknowledge for a delivered item (the link id for a resolved link)."""
    return item if isinstance(item, UUID) else item.ack_id
