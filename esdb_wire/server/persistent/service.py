"""The PersistentSubscriptions service (Create, Update, Delete, Read, GetInfo, List,
ReplayParked, RestartSubsystem) over an :class:`~esdb_wire.server.store.EventStore`.

Hands ``persistent.proto`` requests (through :mod:`.wire`) to the groups of a
:class:`~.subsystem.Subsystem`. Methods follow :mod:`esdb_wire.server.rpc`. Everything runs
on the event loop of the calls: a clock tick (``loop.call_later``) retries timed-out
messages and writes checkpoints, and one task per group with connected consumers waits for
new records in the store, as the Streams subscriptions do, so nothing here ever holds up an
append.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Final, Union

from esdb_wire.protos import persistent_pb2, shared_pb2
from esdb_wire.server import errors
from esdb_wire.server.auth import READ, StreamAccess, user_of
from esdb_wire.server.persistent.config import GroupFailed
from esdb_wire.server.persistent.consumers import Consumer, Message
from esdb_wire.server.persistent.group import Group
from esdb_wire.server.persistent.subsystem import (
    GroupExists,
    GroupNotFound,
    Subsystem,
    SubsystemStopped,
)
from esdb_wire.server.persistent.wire import (
    NEGATIVE_STOP_AT,
    already_exists,
    check_stream_name,
    create_config,
    does_not_exist,
    dropped,
    event_response,
    failed,
    maximum_subscribers_reached,
    settlement,
    source_of,
    subscription_info,
    update_config,
)
from esdb_wire.server.rpc import CallContext
from esdb_wire.server.store import EventStore

ReadResp = persistent_pb2.ReadResp

# Seconds between clock ticks: the server's PersistentSubscriptionService ticks every
# second, so a message times out on the first tick after its timeout (up to a second
# late) and clients that batch their acks (esdbclient waits up to 0.2 s) are not retried
# before their acks arrive. Tests may tick faster.
DEFAULT_TICK_INTERVAL: Final = 1.0
UNKNOWN_CONNECTION_NAME: Final = "<unknown>"
RESTART_WRONG_STATE: Final = (
    "Persistent Subscriptions cannot be restarted as it is in the wrong state."
)


@contextlib.contextmanager
def _group_errors(source: str, group: str) -> Iterator[None]:
    """The engine's errors about the group ``group`` on ``source`` as the service's."""
    try:
        yield
    except GroupNotFound:
        raise does_not_exist(source, group) from None
    except GroupExists:
        raise already_exists(source, group) from None
    except GroupFailed as error:
        raise failed(source, group, error.reason) from None


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

    def drop_all(self) -> None:
        """Before a store reset: drop every consumer (CANCELLED "dropped", as on a
        subsystem restart); the groups are not used again."""
        self._subsystem.stop()
        self._reap_pumps()

    def reload(self) -> None:
        """After a store reset: build the groups again from the (now empty) store."""
        self._subsystem.stop()
        self._subsystem.start()
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
        config = create_config(request.options)
        with _group_errors(config.source, config.group):
            self._subsystem.create(config)
        return persistent_pb2.CreateResp()

    async def Update(
        self, request: persistent_pb2.UpdateReq, context: CallContext
    ) -> persistent_pb2.UpdateResp:
        """Replace a group's settings and drop its consumers; the strategy comes from the
        enum (field 13) and a $all group keeps its filter."""
        self._ensure_running()
        config = update_config(request.options)
        try:
            with _group_errors(config.source, config.group):
                self._subsystem.update(config)
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
        source = source_of(options, case, "stream_identifier")
        if case != "all":
            check_stream_name(source, group)
        try:
            with _group_errors(source, group):
                self._subsystem.delete(source, group)
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
        source = source_of(options, options.WhichOneof("stream_option"), "stream_identifier")
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
        with _group_errors(source, group_name):
            group = self._subsystem.get(source, group_name)
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
            settled = settlement(request)
            if settled is None:
                return
            ids, action = settled
            group = self._subsystem.groups.get(key)
            if group is None:
                continue
            if action is None:
                group.ack(ids)
            else:
                group.nack(ids, action, request.nack.reason)

    # ---- GetInfo / List ----

    async def GetInfo(
        self, request: persistent_pb2.GetInfoReq, context: CallContext
    ) -> persistent_pb2.GetInfoResp:
        self._ensure_running()
        options = request.options
        source = source_of(options, options.WhichOneof("stream_option"), "stream_identifier")
        with _group_errors(source, options.group_name):
            group = self._subsystem.get(source, options.group_name)
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
            source = source_of(stream_option, stream_option.WhichOneof("stream_option"), "stream")
        elif case != "list_all_subscriptions":
            raise errors.unhandled()
        with _group_errors(source or "", ""):
            groups = self._subsystem.list(source)
        return persistent_pb2.ListResp(subscriptions=[subscription_info(g) for g in groups])

    # ---- ReplayParked / RestartSubsystem ----

    async def ReplayParked(
        self, request: persistent_pb2.ReplayParkedReq, context: CallContext
    ) -> persistent_pb2.ReplayParkedResp:
        """Queue the parked messages (before ``stop_at``) for redelivery as retries."""
        self._ensure_running()
        options = request.options
        group_name = options.group_name
        source = source_of(options, options.WhichOneof("stream_option"), "stream_identifier")
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
