"""Builders and runners shared by the embedded-server service tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from typing import Any, TypeVar

import pytest

from esdb_wire.protos import shared_pb2, streams_pb2
from esdb_wire.server.records import ANY, NO_STREAM, STREAM_EXISTS, ProposedEvent, Record
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams import StreamsService
from esdb_wire.transport.status import StatusError
from tests.server.fake_context import FakeContext

T = TypeVar("T")

# 2024-01-01T00:00:00Z in .NET ticks since the Unix epoch.
TICKS_2024 = 17_040_672_000_000_000
Options = streams_pb2.ReadReq.Options
EMPTY = shared_pb2.Empty()


class Clock:
    """A settable tick clock."""

    def __init__(self, now: int = TICKS_2024) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def new_store(**kwargs: Any) -> EventStore:
    kwargs.setdefault("clock", Clock())
    return EventStore(**kwargs)


def records(
    store: EventStore, stream: str, start: int | None, count: int, *, backwards: bool = False
) -> list[Record]:
    """A stream read that must find the stream."""
    found = store.read_stream(stream, start, count, backwards=backwards)
    assert found is not None
    return found.records


def service(store: EventStore | None = None, **kwargs: Any) -> StreamsService:
    return StreamsService(store or new_store(), **kwargs)


def ctx() -> FakeContext:
    return FakeContext()


def run(awaitable: Awaitable[T]) -> T:
    async def main() -> T:
        return await awaitable

    return asyncio.run(main())


def event(
    event_type: str = "Thing",
    data: bytes = b'{"a":1}',
    *,
    is_json: bool = True,
    event_id: uuid.UUID | None = None,
    custom_metadata: bytes = b"",
) -> ProposedEvent:
    return ProposedEvent(event_id or uuid.uuid4(), event_type, is_json, data, custom_metadata)


def link(revision: int, stream: str) -> ProposedEvent:
    return event("$>", f"{revision}@{stream}".encode(), is_json=False)


def ident(name: str) -> shared_pb2.StreamIdentifier:
    return shared_pb2.StreamIdentifier(stream_name=name.encode())


def proposed(
    event_type: str | None = "Thing",
    data: bytes = b'{"a":1}',
    *,
    content_type: str | None = "application/json",
    event_id: uuid.UUID | None = None,
    custom_metadata: bytes = b"",
    extra: Mapping[str, str] | None = None,
) -> streams_pb2.AppendReq.ProposedMessage:
    metadata = dict(extra or {})
    if event_type is not None:
        metadata["type"] = event_type
    if content_type is not None:
        metadata["content-type"] = content_type
    return streams_pb2.AppendReq.ProposedMessage(
        id=shared_pb2.UUID(string=str(event_id or uuid.uuid4())),
        metadata=metadata,
        data=data,
        custom_metadata=custom_metadata,
    )


def expected_kwargs(expected: int, revision_field: str = "revision") -> dict[str, Any]:
    """Oneof kwargs for an expected revision (store constants or n >= 0)."""
    names = {ANY: "any", NO_STREAM: "no_stream", STREAM_EXISTS: "stream_exists"}
    if expected in names:
        return {names[expected]: EMPTY}
    return {revision_field: expected}


def append_requests(
    stream: str,
    messages: Iterable[streams_pb2.AppendReq.ProposedMessage],
    expected: int = ANY,
) -> list[streams_pb2.AppendReq]:
    options = streams_pb2.AppendReq.Options(
        stream_identifier=ident(stream), **expected_kwargs(expected)
    )
    return [streams_pb2.AppendReq(options=options)] + [
        streams_pb2.AppendReq(proposed_message=message) for message in messages
    ]


async def aiter_of(items: Iterable[T]) -> AsyncIterator[T]:
    for item in items:
        yield item


async def append(
    svc: StreamsService,
    stream: str,
    messages: Iterable[streams_pb2.AppendReq.ProposedMessage],
    expected: int = ANY,
) -> streams_pb2.AppendResp:
    return await svc.Append(aiter_of(append_requests(stream, messages, expected)), ctx())


def read_stream_req(
    stream: str,
    *,
    start: int | None = None,
    from_end: bool = False,
    count: int = 1000,
    backwards: bool = False,
    resolve_links: bool = False,
    uuid_string: bool = False,
    compatibility: int = 0,
) -> streams_pb2.ReadReq:
    stream_options = Options.StreamOptions(stream_identifier=ident(stream))
    if start is not None:
        stream_options.revision = start
    elif from_end:
        stream_options.end.CopyFrom(EMPTY)
    else:
        stream_options.start.CopyFrom(EMPTY)
    options = Options(
        stream=stream_options,
        read_direction=Options.Backwards if backwards else Options.Forwards,
        resolve_links=resolve_links,
        count=count,
        no_filter=EMPTY,
        uuid_option=uuid_option(uuid_string),
        control_option=Options.ControlOption(compatibility=compatibility),
    )
    return streams_pb2.ReadReq(options=options)


def uuid_option(string: bool) -> streams_pb2.ReadReq.Options.UUIDOption:
    if string:
        return Options.UUIDOption(string=EMPTY)
    return Options.UUIDOption(structured=EMPTY)


def read_all_req(
    *,
    position: int | None = None,
    from_end: bool = False,
    count: int = 1000,
    backwards: bool = False,
    resolve_links: bool = False,
    filter_options: streams_pb2.ReadReq.Options.FilterOptions | None = None,
    subscribe: bool = False,
) -> streams_pb2.ReadReq:
    all_options = Options.AllOptions()
    if position is not None:
        all_options.position.commit_position = position
        all_options.position.prepare_position = position
    elif from_end:
        all_options.end.CopyFrom(EMPTY)
    else:
        all_options.start.CopyFrom(EMPTY)
    options = Options(
        all=all_options,
        read_direction=Options.Backwards if backwards else Options.Forwards,
        resolve_links=resolve_links,
        uuid_option=uuid_option(False),
    )
    if subscribe:
        options.subscription.SetInParent()
    else:
        options.count = count
    if filter_options is None:
        options.no_filter.CopyFrom(EMPTY)
    else:
        options.filter.CopyFrom(filter_options)
    return streams_pb2.ReadReq(options=options)


def subscribe_stream_req(
    stream: str, *, start: int | None = None, from_end: bool = False, resolve_links: bool = False
) -> streams_pb2.ReadReq:
    request = read_stream_req(
        stream, start=start, from_end=from_end, resolve_links=resolve_links, uuid_string=True
    )
    request.options.subscription.SetInParent()
    return request


async def read_all_responses(
    svc: StreamsService, request: streams_pb2.ReadReq
) -> list[streams_pb2.ReadResp]:
    return [response async for response in decoded(svc.Read(request, ctx()))]


def collect(svc: StreamsService, request: streams_pb2.ReadReq) -> list[streams_pb2.ReadResp]:
    return run(read_all_responses(svc, request))


def kinds(responses: Iterable[streams_pb2.ReadResp]) -> list[str | None]:
    return [response.WhichOneof("content") for response in responses]


def revisions(responses: Iterable[streams_pb2.ReadResp]) -> list[int]:
    return [r.event.event.stream_revision for r in responses if r.HasField("event")]


def rpc_error(awaitable: Awaitable[Any]) -> StatusError:
    """Run ``awaitable``, which must fail with a :class:`StatusError`."""
    with pytest.raises(StatusError) as caught:
        run(awaitable)
    return caught.value


def read_error(svc: StreamsService, request: streams_pb2.ReadReq) -> StatusError:
    return rpc_error(read_all_responses(svc, request))


async def decoded(
    responses: AsyncIterator[streams_pb2.ReadResp | bytes],
) -> AsyncIterator[streams_pb2.ReadResp]:
    """Read responses as messages (the service yields events already encoded)."""
    async for item in responses:
        yield streams_pb2.ReadResp.FromString(item) if isinstance(item, bytes) else item
