"""Secondary indexes read through the ``$all`` prefix filter, and the 25.1 fields of
``caught_up`` (timestamp, stream revision, ``$all`` position)."""

from __future__ import annotations

import asyncio

import pytest

from esdb_wire.protos import streams_pb2
from esdb_wire.server.indexes import category_of
from esdb_wire.server.records import ANY
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams import StreamsService
from esdb_wire.transport.status import StatusCode
from tests.server.helpers import (
    TICKS_2024,
    Options,
    collect,
    ctx,
    decoded,
    event,
    new_store,
    read_all_req,
    read_error,
    service,
    subscribe_stream_req,
)

ReadResp = streams_pb2.ReadResp


def index_filter(*prefixes: str) -> Options.FilterOptions:
    expression = Options.FilterOptions.Expression(prefix=list(prefixes))
    return Options.FilterOptions(
        stream_identifier=expression, max=32, checkpointIntervalMultiplier=1
    )


def seeded() -> EventStore:
    store = new_store()
    store.append("order-1", ANY, [event("Placed"), event("Shipped")])
    store.append("order-2", ANY, [event("Placed")])
    store.append("invoice-1", ANY, [event("Issued"), event("$system-type")])
    store.append("orderless", ANY, [event("Placed")])
    store.append("$system", ANY, [event("Placed")])
    store.append("order", ANY, [event("Placed")])
    return store


def names(responses: list[ReadResp]) -> list[tuple[str, str]]:
    return [
        (r.event.event.stream_identifier.stream_name.decode(), r.event.event.metadata["type"])
        for r in responses
        if r.HasField("event")
    ]


def test_category_of() -> None:
    assert category_of("order-1-2") == "order"
    assert category_of("order") == "order"
    assert category_of("-x") == ""


def test_category_index() -> None:
    svc = service(seeded())
    found = names(collect(svc, read_all_req(filter_options=index_filter("$idx-ce-order"))))
    assert found == [
        ("order-1", "Placed"),
        ("order-1", "Shipped"),
        ("order-2", "Placed"),
        ("order", "Placed"),
    ]


def test_event_type_index_leaves_out_system_streams() -> None:
    svc = service(seeded())
    found = names(collect(svc, read_all_req(filter_options=index_filter("$idx-et-Placed"))))
    assert found == [
        ("order-1", "Placed"),
        ("order-2", "Placed"),
        ("orderless", "Placed"),
        ("order", "Placed"),
    ]
    system_type = read_all_req(filter_options=index_filter("$idx-et-$system-type"))
    assert names(collect(svc, system_type)) == []  # "$" event types are not indexed


def test_all_index_and_backwards_limit_and_position() -> None:
    store = seeded()
    svc = service(store)
    everything = names(collect(svc, read_all_req(filter_options=index_filter("$idx-all"))))
    assert len(everything) == 6
    assert all(not s.startswith("$") and not t.startswith("$") for s, t in everything)
    backwards = collect(
        svc,
        read_all_req(
            filter_options=index_filter("$idx-ce-order"), backwards=True, from_end=True, count=2
        ),
    )
    assert names(backwards) == [("order", "Placed"), ("order-2", "Placed")]
    second = collect(svc, read_all_req(filter_options=index_filter("$idx-ce-order")))[1]
    position = second.event.commit_position
    from_there = collect(
        svc, read_all_req(filter_options=index_filter("$idx-ce-order"), position=position)
    )
    assert names(from_there)[0] == ("order-1", "Shipped")  # inclusive, as $all reads


def test_index_subscription() -> None:
    async def scenario() -> None:
        store = seeded()
        svc = service(store)
        request = read_all_req(filter_options=index_filter("$idx-ce-invoice"), subscribe=True)
        subscription = decoded(svc.Read(request, ctx()))
        got: list[ReadResp] = []
        while len(names(got)) < 1 or got[-1].WhichOneof("content") != "caught_up":
            got.append(await asyncio.wait_for(subscription.__anext__(), 1))
        store.append("invoice-2", ANY, [event("Issued")])
        store.append("order-9", ANY, [event("Placed")])
        while True:
            response = await asyncio.wait_for(subscription.__anext__(), 1)
            if response.HasField("event"):
                break
        assert names([response]) == [("invoice-2", "Issued")]
        await subscription.aclose()  # type: ignore[attr-defined]

    asyncio.run(scenario())


def test_unknown_index_and_mixed_prefixes() -> None:
    svc = service(seeded())
    error = read_error(svc, read_all_req(filter_options=index_filter("$idx-user-nope")))
    assert error.code is StatusCode.NOT_FOUND
    assert error.message == "Index '$idx-user-nope' not found."
    assert ("exception", "index-not-found") in error.trailing_metadata
    error = read_error(svc, read_all_req(filter_options=index_filter("$idx-ce-order", "order")))
    assert error.code is StatusCode.INVALID_ARGUMENT
    assert error.message.startswith("Index reads only work with one index name")


def test_ordinary_prefix_filters_are_unchanged() -> None:
    svc = service(seeded())
    found = names(collect(svc, read_all_req(filter_options=index_filter("order-"))))
    assert found == [("order-1", "Placed"), ("order-1", "Shipped"), ("order-2", "Placed")]


# ---- caught_up fields ----------------------------------------------------------------


async def _first_caught_up(svc: StreamsService, request: streams_pb2.ReadReq) -> ReadResp:
    subscription = decoded(svc.Read(request, ctx()))
    while True:
        response = await asyncio.wait_for(subscription.__anext__(), 1)
        if response.WhichOneof("content") == "caught_up":
            await subscription.aclose()  # type: ignore[attr-defined]
            return response


@pytest.mark.parametrize("start", [None, 0])
def test_stream_caught_up_carries_time_and_revision(start: int | None) -> None:
    store = new_store()
    store.append("s", ANY, [event() for _ in range(3)])
    request = subscribe_stream_req("s", start=start)
    caught_up = asyncio.run(_first_caught_up(service(store), request)).caught_up
    assert caught_up.timestamp.ToNanoseconds() == TICKS_2024 * 100
    assert caught_up.HasField("stream_revision")
    assert caught_up.stream_revision == 2
    assert not caught_up.HasField("position")


def test_stream_caught_up_of_an_empty_stream_has_no_revision() -> None:
    store = new_store()
    caught_up = asyncio.run(_first_caught_up(service(store), subscribe_stream_req("none")))
    assert caught_up.caught_up.HasField("timestamp")
    assert not caught_up.caught_up.HasField("stream_revision")


@pytest.mark.parametrize("from_end", [False, True])
def test_all_caught_up_carries_the_position(from_end: bool) -> None:
    store = new_store()
    store.append("s", ANY, [event() for _ in range(3)])
    request = read_all_req(subscribe=True, from_end=from_end)
    caught_up = asyncio.run(_first_caught_up(service(store), request)).caught_up
    assert caught_up.HasField("timestamp")
    assert not caught_up.HasField("stream_revision")
    assert caught_up.position.commit_position == store.last_position
    assert caught_up.position.prepare_position == store.last_position
