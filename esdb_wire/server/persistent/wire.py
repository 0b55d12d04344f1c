"""``persistent.proto`` messages to and from the engine: the requests' options as a
:class:`~.config.GroupConfig`, acks and nacks, the events and statistics sent back, and
the errors with the real server's texts and trailers (spec §4, §5)."""

from __future__ import annotations

import re
import uuid
from typing import Final, Union

from google.protobuf.message import Message as ProtoMessage

from esdb_wire.protos import persistent_pb2, streams_pb2
from esdb_wire.protos.uuids import read_uuid
from esdb_wire.server import errors
from esdb_wire.server.encoding import recorded_event_bytes, varint
from esdb_wire.server.persistent.config import (
    ALL_STREAM,
    EventFilterSpec,
    GroupConfig,
    GroupSettings,
    StartFrom,
    filter_from_expression,
    position_text,
    start_from_text,
)
from esdb_wire.server.persistent.consumers import Message
from esdb_wire.server.persistent.group import Group
from esdb_wire.server.persistent.strategies import DISPATCH_TO_SINGLE, PINNED, ROUND_ROBIN
from esdb_wire.server.records import ReadCheck, Record, readable_target
from esdb_wire.server.streams_wire import fill_recorded_event, stream_name_of
from esdb_wire.transport.status import StatusCode, StatusError

CreateReq = persistent_pb2.CreateReq
UpdateReq = persistent_pb2.UpdateReq
ReadReq = persistent_pb2.ReadReq
SubscriptionInfo = persistent_pb2.SubscriptionInfo

ALL_NOT_SUPPORTED: Final = (
    "Persistent subscriptions to $all are only supported over gRPC through gRPC clients"
)
BAD_STREAM_NAME: Final = "Bad stream name."
NEGATIVE_STOP_AT: Final = "Cannot stop replaying parked message at a negative version."

_NAMESPACE = "EventStore.Client.PersistentSubscriptions."
CREATE_REVISION_CASE_TYPE: Final = (
    _NAMESPACE + "CreateReq+Types+StreamOptions+RevisionOptionOneofCase"
)
CREATE_ALL_OPTION_CASE_TYPE: Final = _NAMESPACE + "CreateReq+Types+AllOptions+AllOptionOneofCase"
CREATE_FILTER_CASE_TYPE: Final = (
    _NAMESPACE + "CreateReq+Types+AllOptions+Types+FilterOptions+FilterOneofCase"
)
UPDATE_REVISION_CASE_TYPE: Final = (
    _NAMESPACE + "UpdateReq+Types+StreamOptions+RevisionOptionOneofCase"
)

_EXCEPTION = "exception"
_END = 2**64 - 1  # StreamRevision.End / Position.End
_NAMED_STRATEGIES = {0: DISPATCH_TO_SINGLE, 1: ROUND_ROBIN, 2: PINNED}
_NACK_ACTIONS = {0: "Unknown", 1: "Park", 2: "Retry", 3: "Skip", 4: "Stop"}

_Settings = Union[CreateReq.Settings, UpdateReq.Settings]


# ---- errors (spec §4) ---------------------------------------------------------------------


def _group_trailers(kind: str, stream: str, group: str) -> tuple[tuple[str, str], ...]:
    return ((_EXCEPTION, kind), ("stream-name", stream), ("group-name", group))


def does_not_exist(stream: str, group: str) -> StatusError:
    return StatusError(
        StatusCode.NOT_FOUND,
        f"Subscription group {group} on stream {stream} does not exist.",
        trailing_metadata=_group_trailers("persistent-subscription-does-not-exist", stream, group),
    )


def already_exists(stream: str, group: str) -> StatusError:
    return StatusError(
        StatusCode.ALREADY_EXISTS,
        f"Subscription group {group} on stream {stream} exists.",
        trailing_metadata=_group_trailers("persistent-subscription-exists", stream, group),
    )


def maximum_subscribers_reached(stream: str, group: str) -> StatusError:
    return StatusError(
        StatusCode.FAILED_PRECONDITION,
        f"Maximum subscriptions reached for subscription group {group} on stream {stream}.",
        trailing_metadata=_group_trailers("maximum-subscribers-reached", stream, group),
    )


def dropped(stream: str, group: str) -> StatusError:
    return StatusError(
        StatusCode.CANCELLED,
        f"Subscription group {group} on stream {stream} was dropped.",
        trailing_metadata=_group_trailers("persistent-subscription-dropped", stream, group),
    )


def failed(stream: str, group: str, reason: str) -> StatusError:
    return StatusError(
        StatusCode.INTERNAL,
        f"Subscription group {group} on stream {stream} failed: '{reason}'",
        trailing_metadata=(
            *_group_trailers("persistent-subscription-failed", stream, group),
            ("reason", reason),
        ),
    )


# ---- request conversion ---------------------------------------------------------------------


def _signed(value: int) -> int:
    """A uint64 as the server's long (``(long)ulong``)."""
    return value - 2**64 if value >= 2**63 else value


def _revision(value: int) -> int:
    """``StreamRevision.ToInt64``: End is -1."""
    return -1 if value == _END else _signed(value)


def _milliseconds(settings: _Settings, oneof: str, ms_field: str, ticks_field: str) -> int:
    """``(int)TimeSpan.FromTicks(ticks).TotalMilliseconds`` or the ms field; 0 if unset."""
    case = settings.WhichOneof(oneof)
    if case == ms_field:
        return int(getattr(settings, ms_field))
    if case == ticks_field:
        ticks = int(getattr(settings, ticks_field))
        return ticks // 10_000 if ticks >= 0 else -(-ticks // 10_000)  # truncated, as (int)
    return 0


def _group_settings(settings: _Settings, strategy: str) -> GroupSettings:
    return GroupSettings(
        resolve_links=settings.resolve_links,
        extra_statistics=settings.extra_statistics,
        message_timeout_ms=_milliseconds(
            settings, "message_timeout", "message_timeout_ms", "message_timeout_ticks"
        ),
        max_retry_count=settings.max_retry_count,
        live_buffer_size=settings.live_buffer_size,
        history_buffer_size=settings.history_buffer_size,
        read_batch_size=settings.read_batch_size,
        checkpoint_after_ms=_milliseconds(
            settings, "checkpoint_after", "checkpoint_after_ms", "checkpoint_after_ticks"
        ),
        min_checkpoint_count=settings.min_checkpoint_count,
        max_checkpoint_count=settings.max_checkpoint_count,
        max_subscriber_count=settings.max_subscriber_count,
        consumer_strategy=strategy,
    )


def _named_strategy(value: int) -> str:
    """The enum's name as .NET prints it (the number for an unknown value)."""
    return _NAMED_STRATEGIES.get(value, str(value))


def _stream_start(
    options: CreateReq.StreamOptions | UpdateReq.StreamOptions, case_type: str
) -> int:
    case = options.WhichOneof("revision_option")
    if case == "revision":
        return _revision(options.revision)
    if case == "start":
        return 0
    if case == "end":
        return -1
    raise errors.invalid_argument("None", case_type)


def _all_start(options: CreateReq.AllOptions | UpdateReq.AllOptions) -> tuple[int, int] | None:
    """(commit, prepare) as longs; None when no option is set."""
    case = options.WhichOneof("all_option")
    if case == "position":
        commit = options.position.commit_position
        prepare = options.position.prepare_position
        if commit < prepare:
            raise errors.unhandled()  # the Position constructor throws
        if commit == _END and prepare == _END:
            return -1, -1
        return _signed(commit), _signed(prepare)
    if case == "start":
        return 0, 0
    if case == "end":
        return -1, -1
    return None


def _event_filter(options: CreateReq.AllOptions) -> EventFilterSpec | None:
    if options.WhichOneof("filter_option") != "filter":
        return None
    filter_options = options.filter
    case = filter_options.WhichOneof("filter")
    if case is None:
        raise errors.invalid_argument("None", CREATE_FILTER_CASE_TYPE)
    expression = getattr(filter_options, case)
    try:
        return filter_from_expression(
            case == "stream_identifier", expression.regex, list(expression.prefix)
        )
    except re.error:
        raise errors.unhandled() from None


def source_of(options: ProtoMessage, case: str | None, identifier_field: str) -> str:
    """The event source of Delete/GetInfo/ReplayParked options (``all`` or a stream)."""
    if case == "all":
        return ALL_STREAM
    if case == identifier_field:
        return stream_name_of(getattr(options, identifier_field))
    raise errors.unhandled()  # InvalidOperationException


def check_stream_name(stream: str, group: str) -> None:
    """What the service answers for a stream-option request it cannot take."""
    if not stream:
        raise failed(stream, group, BAD_STREAM_NAME)
    if stream == ALL_STREAM:
        raise failed(stream, group, ALL_NOT_SUPPORTED)


def _stream_source(
    options: CreateReq.Options | UpdateReq.Options, case_type: str
) -> tuple[str, int]:
    """The stream and start of a stream group's options, or of the deprecated fields (kept
    for backwards compatibility)."""
    if options.WhichOneof("stream_option") == "stream":
        source = stream_name_of(options.stream.stream_identifier)
        start = _stream_start(options.stream, case_type)
    else:
        source = stream_name_of(options.stream_identifier)
        start = _revision(options.settings.revision)
    check_stream_name(source, options.group_name)
    return source, start


def create_config(options: CreateReq.Options) -> GroupConfig:
    """The group a Create asks for: a stream (revision inclusive, end = live) or $all."""
    settings = options.settings
    strategy = settings.consumer_strategy or _named_strategy(settings.named_consumer_strategy)
    if options.WhichOneof("stream_option") != "all":
        source, start = _stream_source(options, CREATE_REVISION_CASE_TYPE)
        return GroupConfig(source, options.group_name, start, _group_settings(settings, strategy))
    all_start = _all_start(options.all)
    if all_start is None:
        raise errors.invalid_argument("None", CREATE_ALL_OPTION_CASE_TYPE)
    event_filter = _event_filter(options.all)
    group_settings = _group_settings(settings, strategy)
    return GroupConfig(ALL_STREAM, options.group_name, all_start, group_settings, event_filter)


def update_config(options: UpdateReq.Options) -> GroupConfig:
    """The group an Update asks for; the strategy comes from the enum (field 13) and there
    is no filter (a $all group keeps its own)."""
    settings = options.settings
    strategy = _named_strategy(settings.named_consumer_strategy)
    start: StartFrom
    if options.WhichOneof("stream_option") == "all":
        all_start = _all_start(options.all)
        if all_start is None:
            raise errors.unhandled()  # InvalidOperationException
        source, start = ALL_STREAM, all_start
    else:
        source, start = _stream_source(options, UPDATE_REVISION_CASE_TYPE)
    return GroupConfig(source, options.group_name, start, _group_settings(settings, strategy))


def settlement(request: ReadReq) -> tuple[list[uuid.UUID], str | None] | None:
    """The ids of an Ack (action None) or a Nack (its action); None for any other request,
    or a bad id or action (the server stops reading there)."""
    content = request.WhichOneof("content")
    try:
        if content == "ack":
            return [read_uuid(value) for value in request.ack.ids], None
        if content == "nack":
            ids = [read_uuid(value) for value in request.nack.ids]
            return ids, _NACK_ACTIONS[request.nack.action]
    except (ValueError, KeyError):
        return None
    return None


# ---- responses --------------------------------------------------------------------------------

_RESP_EVENT = b"\x0a"  # ReadResp.event = 1
_EVENT_EVENT = b"\x0a"  # ReadEvent.event = 1
_EVENT_LINK = b"\x12"  # ReadEvent.link = 2
_EVENT_COMMIT_POSITION = b"\x18"  # ReadEvent.commit_position = 3 (varint)
_EVENT_RETRY_COUNT = b"\x28"  # ReadEvent.retry_count = 5 (varint)


def _recorded(record: Record, position: int, structured: bool) -> bytes:
    """A RecordedEvent carrying ``position`` (the server gives event and link the original
    position); the record's cached encoding when that is its own position."""
    if record.position == position:
        return recorded_event_bytes(record, structured, fill_recorded_event)
    message = streams_pb2.ReadResp.ReadEvent.RecordedEvent()
    fill_recorded_event(message, record, structured)
    message.commit_position = message.prepare_position = position
    return message.SerializeToString()


def event_response(
    message: Message, retry_count: int, structured: bool, may_read: ReadCheck | None
) -> bytes:
    """An encoded ``ReadResp{event: ReadEvent{event, link, commit_position, retry_count}}``;
    a link's target only if the consumer may read it (``may_read``, secure mode)."""
    position = message.log_position
    parts: list[bytes] = []
    target = message.event
    if message.link is not None:
        target = readable_target(target, may_read)
    if target is not None:
        event = _recorded(target, position, structured)
        parts += (_EVENT_EVENT, varint(len(event)), event)
    if message.link is not None:
        link = _recorded(message.link, position, structured)
        parts += (_EVENT_LINK, varint(len(link)), link)
    parts += (_EVENT_COMMIT_POSITION, varint(position), _EVENT_RETRY_COUNT, varint(retry_count))
    body = b"".join(parts)
    return b"".join((_RESP_EVENT, varint(len(body)), body))


def subscription_info(group: Group) -> SubscriptionInfo:
    """``ParseSubscriptionInfo(PersistentSubscriptionStats.GetStatistics())``."""
    settings = group.settings
    average, count, per_consumer = group.measure()
    connections = []
    in_flight = 0
    for consumer in group.consumers.values():
        consumer_average, consumer_count = per_consumer.get(consumer.correlation_id, (0, 0))
        in_flight += consumer.in_flight
        connection = SubscriptionInfo.ConnectionInfo(
            username=consumer.username,
            average_items_per_second=consumer_average,
            total_items=consumer.total_items,
            count_since_last_measurement=consumer_count,
            available_slots=consumer.available_slots,
            in_flight_messages=consumer.in_flight,
            connection_name=consumer.connection_name,
        )
        setattr(connection, "from", consumer.origin)  # "from" is a Python keyword
        connections.append(connection)
    checkpoint = group.last_checkpoint
    known = group.last_known_event_position
    return SubscriptionInfo(
        event_source=group.config.source,
        group_name=group.config.group,
        status=group.status,
        connections=connections,
        average_per_second=average,
        total_items=group.total_items,
        count_since_last_measurement=count,
        last_checkpointed_event_position=(
            "" if checkpoint is None else position_text(group.is_all, checkpoint)
        ),
        last_known_event_position="" if known is None else position_text(group.is_all, known),
        resolve_link_tos=settings.resolve_links,
        start_from=start_from_text(group.config.start_from),
        message_timeout_milliseconds=settings.message_timeout_ms,
        extra_statistics=settings.extra_statistics,
        max_retry_count=settings.max_retry_count,
        live_buffer_size=settings.live_buffer_size,
        buffer_size=settings.history_buffer_size,
        read_batch_size=settings.read_batch_size,
        check_point_after_milliseconds=settings.checkpoint_after_ms,
        min_check_point_count=settings.min_checkpoint_count,
        max_check_point_count=settings.max_checkpoint_count,
        read_buffer_count=group.read_buffer_count,
        live_buffer_count=0,
        retry_buffer_count=group.retry_buffer_count,
        total_in_flight_messages=in_flight,
        outstanding_messages_count=len(group.outstanding),
        named_consumer_strategy=settings.consumer_strategy,
        max_subscriber_count=settings.max_subscriber_count,
        parked_message_count=group.parked_message_count,
    )
