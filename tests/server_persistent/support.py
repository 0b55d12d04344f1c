"""Builders and a consumer harness for calling the PersistentSubscriptions service directly."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, Union

import pytest

from esdb_wire.protos import persistent_pb2, shared_pb2
from esdb_wire.protos.uuids import read_uuid
from esdb_wire.server.persistent.service import PersistentSubscriptionsService
from esdb_wire.server.records import ANY, ProposedEvent, Record
from esdb_wire.server.store import EventStore
from esdb_wire.transport.status import StatusError
from tests.server.fake_context import FakeContext
from tests.server.helpers import event, new_store

T = TypeVar("T")

CreateReq = persistent_pb2.CreateReq
UpdateReq = persistent_pb2.UpdateReq
ReadReq = persistent_pb2.ReadReq
ReadResp = persistent_pb2.ReadResp
ReadEvent = persistent_pb2.ReadResp.ReadEvent
EMPTY = shared_pb2.Empty()
TIMEOUT = 5.0

# "start", "end", a revision / position, or None (start) for Create/Update.
Start = Union[str, int, None]


def service(store: EventStore | None = None, **kwargs: Any) -> PersistentSubscriptionsService:
    kwargs.setdefault("tick_interval", 0.01)
    return PersistentSubscriptionsService(store or new_store(), **kwargs)


def ctx(metadata: Mapping[str, str] | None = None) -> FakeContext:
    return FakeContext(metadata)


def ident(name: str) -> shared_pb2.StreamIdentifier:
    return shared_pb2.StreamIdentifier(stream_name=name.encode())


def append(store: EventStore, stream: str, count: int, **kwargs: Any) -> list[Record]:
    """Append ``count`` events to ``stream``; returns the records."""
    result = store.append(stream, ANY, [event(**kwargs) for _ in range(count)])
    assert hasattr(result, "position")
    found = store.read_stream(stream, store.last_revision(stream) - count + 1, count)
    assert found is not None
    return found.records


def append_events(store: EventStore, stream: str, events: Sequence[ProposedEvent]) -> None:
    store.append(stream, ANY, list(events))


_SETTINGS_DEFAULTS: dict[str, Any] = {
    "message_timeout_ms": 30_000,
    "max_retry_count": 10,
    "live_buffer_size": 500,
    "read_batch_size": 20,
    "history_buffer_size": 500,
    "checkpoint_after_ms": 2_000,
    "min_checkpoint_count": 10,
    "max_checkpoint_count": 1_000,
    "max_subscriber_count": 0,
}


def create_settings(**overrides: Any) -> CreateReq.Settings:
    values = dict(_SETTINGS_DEFAULTS, consumer_strategy="RoundRobin")
    values.update(overrides)
    return CreateReq.Settings(**values)


def update_settings(**overrides: Any) -> UpdateReq.Settings:
    values = dict(_SETTINGS_DEFAULTS, named_consumer_strategy=UpdateReq.RoundRobin)
    values.update(overrides)
    return UpdateReq.Settings(**values)


def _stream_options(cls: Any, stream: str, start: Start) -> Any:
    options = cls(stream_identifier=ident(stream))
    if start is None or start == "start":
        options.start.CopyFrom(EMPTY)
    elif start == "end":
        options.end.CopyFrom(EMPTY)
    else:
        assert isinstance(start, int)
        options.revision = start
    return options


def _all_options(cls: Any, start: Start) -> Any:
    options = cls()
    if start is None or start == "start":
        options.start.CopyFrom(EMPTY)
    elif start == "end":
        options.end.CopyFrom(EMPTY)
    else:
        assert isinstance(start, int)
        options.position.commit_position = start
        options.position.prepare_position = start
    return options


def create_stream(
    stream: str, group: str, start: Start = None, **settings: Any
) -> persistent_pb2.CreateReq:
    options = CreateReq.Options(
        stream=_stream_options(CreateReq.StreamOptions, stream, start),
        group_name=group,
        settings=create_settings(**settings),
    )
    return CreateReq(options=options)


def stream_filter(regex: str = "", prefixes: Iterable[str] = ()) -> Any:
    expression = CreateReq.AllOptions.FilterOptions.Expression(regex=regex, prefix=list(prefixes))
    return CreateReq.AllOptions.FilterOptions(
        stream_identifier=expression, max=32, checkpointIntervalMultiplier=1
    )


def type_filter(regex: str = "", prefixes: Iterable[str] = ()) -> Any:
    expression = CreateReq.AllOptions.FilterOptions.Expression(regex=regex, prefix=list(prefixes))
    return CreateReq.AllOptions.FilterOptions(
        event_type=expression, max=32, checkpointIntervalMultiplier=1
    )


def create_all(
    group: str, start: Start = None, event_filter: Any = None, **settings: Any
) -> persistent_pb2.CreateReq:
    all_options = _all_options(CreateReq.AllOptions, start)
    if event_filter is None:
        all_options.no_filter.CopyFrom(EMPTY)
    else:
        all_options.filter.CopyFrom(event_filter)
    options = CreateReq.Options(
        all=all_options, group_name=group, settings=create_settings(**settings)
    )
    return CreateReq(options=options)


def update_stream(
    stream: str, group: str, start: Start = None, **settings: Any
) -> persistent_pb2.UpdateReq:
    options = UpdateReq.Options(
        stream=_stream_options(UpdateReq.StreamOptions, stream, start),
        group_name=group,
        settings=update_settings(**settings),
    )
    return UpdateReq(options=options)


def update_all(group: str, start: Start = None, **settings: Any) -> persistent_pb2.UpdateReq:
    options = UpdateReq.Options(
        all=_all_options(UpdateReq.AllOptions, start),
        group_name=group,
        settings=update_settings(**settings),
    )
    return UpdateReq(options=options)


def delete_req(stream: str | None, group: str) -> persistent_pb2.DeleteReq:
    options = persistent_pb2.DeleteReq.Options(group_name=group)
    if stream is None:
        options.all.CopyFrom(EMPTY)
    else:
        options.stream_identifier.CopyFrom(ident(stream))
    return persistent_pb2.DeleteReq(options=options)


def info_req(stream: str | None, group: str) -> persistent_pb2.GetInfoReq:
    options = persistent_pb2.GetInfoReq.Options(group_name=group)
    if stream is None:
        options.all.CopyFrom(EMPTY)
    else:
        options.stream_identifier.CopyFrom(ident(stream))
    return persistent_pb2.GetInfoReq(options=options)


def list_req(stream: str | None = None, *, everything: bool = False) -> persistent_pb2.ListReq:
    if everything:
        return persistent_pb2.ListReq(
            options=persistent_pb2.ListReq.Options(list_all_subscriptions=EMPTY)
        )
    option = persistent_pb2.ListReq.StreamOption()
    if stream is None:
        option.all.CopyFrom(EMPTY)
    else:
        option.stream.CopyFrom(ident(stream))
    return persistent_pb2.ListReq(options=persistent_pb2.ListReq.Options(list_for_stream=option))


def replay_req(
    stream: str | None, group: str, stop_at: int | None = None
) -> persistent_pb2.ReplayParkedReq:
    options = persistent_pb2.ReplayParkedReq.Options(group_name=group)
    if stream is None:
        options.all.CopyFrom(EMPTY)
    else:
        options.stream_identifier.CopyFrom(ident(stream))
    if stop_at is None:
        options.no_limit.CopyFrom(EMPTY)
    else:
        options.stop_at = stop_at
    return persistent_pb2.ReplayParkedReq(options=options)


def read_options(
    stream: str | None, group: str, buffer_size: int = 10, *, structured: bool = False
) -> persistent_pb2.ReadReq:
    uuid_option = ReadReq.Options.UUIDOption()
    if structured:
        uuid_option.structured.CopyFrom(EMPTY)
    else:
        uuid_option.string.CopyFrom(EMPTY)
    options = ReadReq.Options(group_name=group, buffer_size=buffer_size, uuid_option=uuid_option)
    if stream is None:
        options.all.CopyFrom(EMPTY)
    else:
        options.stream_identifier.CopyFrom(ident(stream))
    return ReadReq(options=options)


def ack_id(read_event: ReadEvent) -> uuid.UUID:
    """The id to ack: the link's when the event came through a (resolved) link."""
    record = read_event.link if read_event.HasField("link") else read_event.event
    return read_uuid(record.id)


def rpc_error(awaitable: Awaitable[Any]) -> StatusError:
    """Run ``awaitable`` on a fresh loop; it must fail with a :class:`StatusError`."""

    async def main() -> Any:
        return await asyncio.wait_for(awaitable, TIMEOUT)

    with pytest.raises(StatusError) as caught:
        asyncio.run(main())
    return caught.value


def trailers(error: StatusError) -> dict[str, Any]:
    return dict(error.trailing_metadata)


_END = object()
_Item = Union[ReadResp, StatusError, object]


class Consumer:
    """Drives one ``Read`` call: requests from a queue, responses into a queue."""

    def __init__(
        self,
        svc: PersistentSubscriptionsService,
        stream: str | None,
        group: str,
        buffer_size: int = 10,
        *,
        structured: bool = False,
        metadata: Mapping[str, str] | None = None,
        first: persistent_pb2.ReadReq | None = None,
    ) -> None:
        self.requests: asyncio.Queue[persistent_pb2.ReadReq | None] = asyncio.Queue()
        self.responses: asyncio.Queue[_Item] = asyncio.Queue()
        self.received: list[ReadEvent] = []
        request = first or read_options(stream, group, buffer_size, structured=structured)
        self.task = asyncio.ensure_future(self._run(svc, request, ctx(metadata)))

    async def _requests(self, first: persistent_pb2.ReadReq) -> AsyncIterator[ReadReq]:
        yield first
        while True:
            request = await self.requests.get()
            if request is None:
                return
            yield request

    async def _run(
        self, svc: PersistentSubscriptionsService, first: persistent_pb2.ReadReq, context: Any
    ) -> None:
        try:
            async for item in svc.Read(self._requests(first), context):
                response = ReadResp.FromString(item) if isinstance(item, bytes) else item
                self.responses.put_nowait(response)
        except StatusError as error:
            self.responses.put_nowait(error)
        self.responses.put_nowait(_END)

    async def _get(self, timeout: float) -> _Item:
        return await asyncio.wait_for(self.responses.get(), timeout)

    async def confirmation(self, timeout: float = TIMEOUT) -> str:
        item = await self._get(timeout)
        assert isinstance(item, ReadResp), item
        assert item.WhichOneof("content") == "subscription_confirmation", item
        return item.subscription_confirmation.subscription_id

    async def next(self, timeout: float = TIMEOUT) -> ReadEvent:
        item = await self._get(timeout)
        assert isinstance(item, ReadResp), f"expected an event, got {item!r}"
        assert item.WhichOneof("content") == "event", item
        self.received.append(item.event)
        return item.event

    async def take(self, count: int, timeout: float = TIMEOUT) -> list[ReadEvent]:
        return [await self.next(timeout) for _ in range(count)]

    async def error(self, timeout: float = TIMEOUT) -> StatusError:
        """The error the call ends with (events before it are skipped)."""
        while True:
            item = await self._get(timeout)
            if isinstance(item, StatusError):
                return item
            assert item is not _END, "the call ended without an error"

    async def ended(self, timeout: float = TIMEOUT) -> None:
        item = await self._get(timeout)
        assert item is _END, item

    async def quiet(self, seconds: float = 0.1) -> None:
        """Nothing arrives for ``seconds``."""
        with contextlib.suppress(asyncio.TimeoutError):
            item = await self._get(seconds)
            raise AssertionError(f"unexpected {item!r}")

    def ack(self, *events: ReadEvent | uuid.UUID) -> None:
        ids = [e if isinstance(e, uuid.UUID) else ack_id(e) for e in events]
        uuids = [shared_pb2.UUID(string=str(i)) for i in ids]
        self.requests.put_nowait(ReadReq(ack=ReadReq.Ack(id=b"sub", ids=uuids)))

    def nack(self, action: str, *events: ReadEvent | uuid.UUID, reason: str = "") -> None:
        ids = [e if isinstance(e, uuid.UUID) else ack_id(e) for e in events]
        nack = ReadReq.Nack(
            id=b"sub",
            ids=[shared_pb2.UUID(string=str(i)) for i in ids],
            action=getattr(ReadReq.Nack, action),
            reason=reason,
        )
        self.requests.put_nowait(ReadReq(nack=nack))

    async def settle(self) -> None:
        """Let queued acks and nacks reach the group."""
        for _ in range(5):
            await asyncio.sleep(0)

    async def disconnect(self) -> None:
        """Cancel the call, as a client going away does."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def run(coroutine: Awaitable[T], timeout: float = 30.0) -> T:
    async def main() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(main())


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = TIMEOUT) -> None:
    """Wait until ``check()`` is true (for effects of the clock tick)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def revisions(events: Iterable[ReadEvent]) -> list[int]:
    return [e.event.stream_revision for e in events]
