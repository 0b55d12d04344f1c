"""The PersistentSubscriptions service (Create, Update, Delete, Read, GetInfo, List,
ReplayParked, RestartSubsystem) over an :class:`~esdb_wire.server.store.EventStore`.

Translates ``persistent.proto`` messages to the engine in :mod:`.persistent_state` and back,
with the real server's validation, error texts and trailers (spec §4, §5). Methods follow
:mod:`esdb_wire.server.rpc`. Everything runs on the event loop of the calls: a clock tick
(``loop.call_later``) retries timed-out messages and writes checkpoints, and one task per
group with connected consumers waits for new records in the store, as the Streams
subscriptions do, so nothing here ever holds up an append.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Final, Union

from google.protobuf.message import Message as ProtoMessage

from esdb_wire.codec.uuids import read_uuid
from esdb_wire.protos import persistent_pb2, shared_pb2, streams_pb2
from esdb_wire.server import errors
from esdb_wire.server.auth import READ, StreamAccess, user_of
from esdb_wire.server.encoding import recorded_event_bytes, varint
from esdb_wire.server.persistent_state import (
    ALL_NOT_SUPPORTED,
    ALL_STREAM,
    BAD_STREAM_NAME,
    DISPATCH_TO_SINGLE,
    NEGATIVE_STOP_AT,
    PINNED,
    ROUND_ROBIN,
    Consumer,
    EventFilterSpec,
    Group,
    GroupConfig,
    GroupExists,
    GroupFailed,
    GroupNotFound,
    GroupSettings,
    Message,
    StartFrom,
    Subsystem,
    SubsystemStopped,
    filter_from_expression,
    position_text,
    start_from_text,
)
from esdb_wire.server.rpc import CallContext, RpcError
from esdb_wire.server.store import EventStore, ReadCheck, Record, readable_target
from esdb_wire.server.streams import fill_recorded_event, stream_name_of
from esdb_wire.transport.status import StatusCode

CreateReq = persistent_pb2.CreateReq
UpdateReq = persistent_pb2.UpdateReq
ReadReq = persistent_pb2.ReadReq
ReadResp = persistent_pb2.ReadResp
SubscriptionInfo = persistent_pb2.SubscriptionInfo

# Seconds between clock ticks (the server ticks every second; finer only makes message
# timeouts and time-based checkpoints more punctual).
DEFAULT_TICK_INTERVAL: Final = 0.1
UNKNOWN_CONNECTION_NAME: Final = "<unknown>"
RESTART_WRONG_STATE: Final = (
    "Persistent Subscriptions cannot be restarted as it is in the wrong state."
)

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


def _group_trailers(kind: str, stream: str, group: str) -> list[tuple[str, str]]:
    return [(_EXCEPTION, kind), ("stream-name", stream), ("group-name", group)]


def does_not_exist(stream: str, group: str) -> RpcError:
    return RpcError(
        StatusCode.NOT_FOUND,
        f"Subscription group {group} on stream {stream} does not exist.",
        _group_trailers("persistent-subscription-does-not-exist", stream, group),
    )


def already_exists(stream: str, group: str) -> RpcError:
    return RpcError(
        StatusCode.ALREADY_EXISTS,
        f"Subscription group {group} on stream {stream} exists.",
        _group_trailers("persistent-subscription-exists", stream, group),
    )


def maximum_subscribers_reached(stream: str, group: str) -> RpcError:
    return RpcError(
        StatusCode.FAILED_PRECONDITION,
        f"Maximum subscriptions reached for subscription group {group} on stream {stream}.",
        _group_trailers("maximum-subscribers-reached", stream, group),
    )


def dropped(stream: str, group: str) -> RpcError:
    return RpcError(
        StatusCode.CANCELLED,
        f"Subscription group {group} on stream {stream} was dropped.",
        _group_trailers("persistent-subscription-dropped", stream, group),
    )


def failed(stream: str, group: str, reason: str) -> RpcError:
    return RpcError(
        StatusCode.INTERNAL,
        f"Subscription group {group} on stream {stream} failed: '{reason}'",
        [*_group_trailers("persistent-subscription-failed", stream, group), ("reason", reason)],
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


def _source_of(options: ProtoMessage, case: str | None, identifier_field: str) -> str:
    """The event source of Delete/GetInfo/ReplayParked options (``all`` or a stream)."""
    if case == "all":
        return ALL_STREAM
    if case == identifier_field:
        return stream_name_of(getattr(options, identifier_field))
    raise errors.unhandled()  # InvalidOperationException


def _check_stream_name(stream: str, group: str) -> None:
    """What the service answers for a stream-option request it cannot take."""
    if not stream:
        raise failed(stream, group, BAD_STREAM_NAME)
    if stream == ALL_STREAM:
        raise failed(stream, group, ALL_NOT_SUPPORTED)


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


class _Dropped:
    """Queued after a dropped consumer's last message."""


_DROPPED: Final = _Dropped()
_Outgoing = Union[tuple[Message, int], _Dropped]


# ---- the service -------------------------------------------------------------------------------


class PersistentSubscriptionsService:
    """``event_store.client.persistent_subscriptions.PersistentSubscriptions`` over a store.

    Groups are kept in the store (``$persistentSubscriptionConfig``, checkpoint and parked
    streams), so a new service on the same store finds them and resumes after their
    checkpoints. ``tick_interval`` is the clock tick in seconds; ``clock`` a monotonic time
    source in seconds; ``username`` the user consumers are reported as (an insecure node
    runs every call as the system account). ``access`` (secure mode) checks that a
    consumer may read the group's source stream (``Subscriptions.ProcessMessages`` is the
    stream's ``$r``); consumers are then reported as their own user, and get a resolved
    link's event only if they may read its stream too.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        tick_interval: float = DEFAULT_TICK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        username: str = "system",
        access: StreamAccess | None = None,
    ) -> None:
        self._store = store
        self.access = access
        self._tick_interval = tick_interval
        self._username = username
        self._subsystem = Subsystem(store, now=clock, username=username)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pumps: dict[Group, asyncio.Task[None]] = {}
        self._closed = False

    @property
    def subsystem(self) -> Subsystem:
        """The groups (for diagnostics and tests)."""
        return self._subsystem

    def close(self) -> None:
        """Stop: drop every consumer (CANCELLED "dropped"), stop the clock and the pumps."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._subsystem.stop()
        self._reap_pumps()

    # ---- the loop: clock tick and pumps ----

    def _ensure_running(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._pumps = {}
            self._timer = None
        if self._timer is None and not self._closed:
            self._timer = loop.call_later(self._tick_interval, self._on_tick)
        return loop

    def _on_tick(self) -> None:
        self._timer = None
        if self._closed or self._loop is None:
            return
        try:
            self._subsystem.tick()
        finally:
            self._timer = self._loop.call_later(self._tick_interval, self._on_tick)

    def _start_pump(self, group: Group) -> None:
        task = self._pumps.get(group)
        if task is None or task.done():
            loop = self._ensure_running()
            self._pumps[group] = loop.create_task(self._pump(group))

    def _reap_pumps(self) -> None:
        """Cancel the pumps of groups that are closed or have no consumers left."""
        for group, task in list(self._pumps.items()):
            if group.closed or not group.consumers:
                task.cancel()
                del self._pumps[group]

    async def _pump(self, group: Group) -> None:
        """Pull the group whenever the store has new records (or it asked to go on)."""
        store = self._store
        more = asyncio.Event()
        group.on_more = more.set
        try:
            while not group.closed:
                more.clear()
                seen = store.last_position
                group.pull()
                if more.is_set():
                    await asyncio.sleep(0)
                    continue
                waiters = {
                    asyncio.ensure_future(store.wait_for_records_after(seen)),
                    asyncio.ensure_future(more.wait()),
                }
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            group.on_more = None

    # ---- Create / Update / Delete ----

    async def Create(
        self, request: persistent_pb2.CreateReq, context: CallContext
    ) -> persistent_pb2.CreateResp:
        """Create a group (spec §5): a stream (revision inclusive, end = live) or $all."""
        self._ensure_running()
        options = request.options
        settings = options.settings
        group = options.group_name
        strategy = settings.consumer_strategy or _named_strategy(settings.named_consumer_strategy)
        case = options.WhichOneof("stream_option")
        event_filter = None
        start: StartFrom
        if case == "all":
            all_start = _all_start(options.all)
            if all_start is None:
                raise errors.invalid_argument("None", CREATE_ALL_OPTION_CASE_TYPE)
            start = all_start
            event_filter = _event_filter(options.all)
            source = ALL_STREAM
        else:
            if case == "stream":
                source = stream_name_of(options.stream.stream_identifier)
                start = _stream_start(options.stream, CREATE_REVISION_CASE_TYPE)
            else:  # the deprecated fields, for backwards compatibility
                source = stream_name_of(options.stream_identifier)
                start = _revision(settings.revision)
            _check_stream_name(source, group)
        config = GroupConfig(
            source, group, start, _group_settings(settings, strategy), event_filter
        )
        try:
            self._subsystem.create(config)
        except GroupExists:
            raise already_exists(source, group) from None
        except GroupFailed as error:
            raise failed(source, group, error.reason) from None
        return persistent_pb2.CreateResp()

    async def Update(
        self, request: persistent_pb2.UpdateReq, context: CallContext
    ) -> persistent_pb2.UpdateResp:
        """Replace a group's settings and drop its consumers; the strategy comes from the
        enum (field 13) and a $all group keeps its filter."""
        self._ensure_running()
        options = request.options
        settings = options.settings
        group = options.group_name
        strategy = _named_strategy(settings.named_consumer_strategy)
        case = options.WhichOneof("stream_option")
        start: StartFrom
        if case == "all":
            all_start = _all_start(options.all)
            if all_start is None:
                raise errors.unhandled()  # InvalidOperationException
            start = all_start
            source = ALL_STREAM
        else:
            if case == "stream":
                source = stream_name_of(options.stream.stream_identifier)
                start = _stream_start(options.stream, UPDATE_REVISION_CASE_TYPE)
            else:
                source = stream_name_of(options.stream_identifier)
                start = _revision(settings.revision)
            _check_stream_name(source, group)
        config = GroupConfig(source, group, start, _group_settings(settings, strategy))
        try:
            self._subsystem.update(config)
        except GroupNotFound:
            raise does_not_exist(source, group) from None
        except GroupFailed as error:
            raise failed(source, group, error.reason) from None
        finally:
            self._reap_pumps()
        return persistent_pb2.UpdateResp()

    async def Delete(
        self, request: persistent_pb2.DeleteReq, context: CallContext
    ) -> persistent_pb2.DeleteResp:
        """Delete a group: drop its consumers, soft-delete its checkpoint and parked streams."""
        self._ensure_running()
        options = request.options
        group = options.group_name
        case = options.WhichOneof("stream_option")
        source = _source_of(options, case, "stream_identifier")
        if case != "all":
            _check_stream_name(source, group)
        try:
            self._subsystem.delete(source, group)
        except GroupNotFound:
            raise does_not_exist(source, group) from None
        finally:
            self._reap_pumps()
        return persistent_pb2.DeleteResp()

    # ---- Read ----

    async def Read(
        self, requests: AsyncIterator[persistent_pb2.ReadReq], context: CallContext
    ) -> AsyncIterator[ReadResp | bytes]:
        """Connect a consumer: confirmation, then events (encoded) as the group hands them
        out; acks and nacks are read concurrently. Ends with CANCELLED "dropped" when the
        group is updated, deleted or restarted."""
        loop = self._ensure_running()
        iterator = requests.__aiter__()
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            return
        if first.WhichOneof("content") != "options":
            raise errors.unhandled()  # InvalidOperationException
        options = first.options
        source = _source_of(options, options.WhichOneof("stream_option"), "stream_identifier")
        group_name = options.group_name
        if not group_name or options.buffer_size <= 0:
            raise errors.unhandled()  # Ensure.NotNullOrEmpty / a channel of capacity <= 0
        username = self._username
        may_read = None
        if self.access is not None:
            user = user_of(context)
            self.access.check(user, READ, source)
            may_read = self.access.read_check(user)
            if user is not None:
                username = user.name
        structured = options.uuid_option.WhichOneof("content") != "string"
        try:
            group = self._subsystem.get(source, group_name)
        except GroupNotFound:
            raise does_not_exist(source, group_name) from None
        if group.has_reached_max_consumers:
            raise maximum_subscribers_reached(source, group_name)
        outbox: asyncio.Queue[_Outgoing] = asyncio.Queue()
        consumer = Consumer(
            max_in_flight=options.buffer_size,
            deliver=lambda message, retry_count: outbox.put_nowait((message, retry_count)),
            drop=lambda: outbox.put_nowait(_DROPPED),
            connection_name=context.metadata.get("connection-name", UNKNOWN_CONNECTION_NAME),
            username=username,
        )
        group.add_consumer(consumer)
        self._start_pump(group)
        reader: asyncio.Task[None] | None = None
        try:
            confirmation = ReadResp.SubscriptionConfirmation(subscription_id=group.key)
            yield ReadResp(subscription_confirmation=confirmation)
            reader = loop.create_task(self._read_acks(iterator, group.key))
            while True:
                item = await outbox.get()
                if isinstance(item, _Dropped):
                    raise dropped(source, group_name)
                message, retry_count = item
                yield event_response(message, retry_count, structured, may_read)
        finally:
            if reader is not None:
                reader.cancel()
            group.remove_consumer(consumer)
            self._reap_pumps()

    async def _read_acks(self, requests: AsyncIterator[persistent_pb2.ReadReq], key: str) -> None:
        """Hand acks and nacks to the group; like the server, stop at a bad request. The
        group is looked up by key for each request, as the server routes them."""
        async for request in requests:
            content = request.WhichOneof("content")
            try:
                if content == "ack":
                    ids = [read_uuid(value) for value in request.ack.ids]
                    action = ""
                elif content == "nack":
                    ids = [read_uuid(value) for value in request.nack.ids]
                    action = _NACK_ACTIONS[request.nack.action]
                else:
                    return
            except (ValueError, KeyError):
                return
            group = self._subsystem.groups.get(key)
            if group is None:
                continue
            if content == "ack":
                group.ack(ids)
            else:
                group.nack(ids, action, request.nack.reason)

    # ---- GetInfo / List ----

    async def GetInfo(
        self, request: persistent_pb2.GetInfoReq, context: CallContext
    ) -> persistent_pb2.GetInfoResp:
        self._ensure_running()
        options = request.options
        source = _source_of(options, options.WhichOneof("stream_option"), "stream_identifier")
        try:
            group = self._subsystem.get(source, options.group_name)
        except GroupNotFound:
            raise does_not_exist(source, options.group_name) from None
        return persistent_pb2.GetInfoResp(subscription_info=subscription_info(group))

    async def List(
        self, request: persistent_pb2.ListReq, context: CallContext
    ) -> persistent_pb2.ListResp:
        """Every group, or a stream's; NOT_FOUND for a stream that never had one."""
        self._ensure_running()
        options = request.options
        case = options.WhichOneof("list_option")
        source: str | None = None
        if case == "list_for_stream":
            stream_option = options.list_for_stream
            source = _source_of(stream_option, stream_option.WhichOneof("stream_option"), "stream")
        elif case != "list_all_subscriptions":
            raise errors.unhandled()
        try:
            groups = self._subsystem.list(source)
        except GroupNotFound:
            raise does_not_exist(source or "", "") from None
        return persistent_pb2.ListResp(subscriptions=[subscription_info(g) for g in groups])

    # ---- ReplayParked / RestartSubsystem ----

    async def ReplayParked(
        self, request: persistent_pb2.ReplayParkedReq, context: CallContext
    ) -> persistent_pb2.ReplayParkedResp:
        """Queue the parked messages (before ``stop_at``) for redelivery as retries."""
        self._ensure_running()
        options = request.options
        group_name = options.group_name
        source = _source_of(options, options.WhichOneof("stream_option"), "stream_identifier")
        stop_case = options.WhichOneof("stop_at_option")
        if stop_case == "stop_at":
            stop_at: int | None = options.stop_at
        elif stop_case == "no_limit":
            stop_at = None
        else:
            raise errors.unhandled()
        if stop_at is not None and stop_at < 0:
            raise failed(source, group_name, NEGATIVE_STOP_AT)
        group = self._subsystem.groups.get(f"{source}::{group_name}")
        if group is None:
            raise does_not_exist(source, group_name)
        group.replay_parked(stop_at)
        return persistent_pb2.ReplayParkedResp()

    async def RestartSubsystem(
        self, request: shared_pb2.Empty, context: CallContext
    ) -> shared_pb2.Empty:
        """Drop every consumer and rebuild the groups from the stored configuration; each
        resumes after its last checkpoint."""
        self._ensure_running()
        try:
            self._subsystem.restart()
        except SubsystemStopped:
            raise failed("", "", RESTART_WRONG_STATE) from None
        finally:
            self._reap_pumps()
        return shared_pb2.Empty()
