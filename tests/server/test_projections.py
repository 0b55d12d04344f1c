"""The standard projections ($streams, $stream_by_category, $by_category, $by_event_type)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.protobuf import empty_pb2

from esdb_wire.client import paths
from esdb_wire.protos import shared_pb2, streams_pb2
from esdb_wire.protos.uuids import read_uuid
from esdb_wire.server import __main__ as cli
from esdb_wire.server.embedded import EmbeddedServer
from esdb_wire.server.projections import StandardProjections, category_of, is_projected_stream
from esdb_wire.server.records import ANY, DELETED_STREAM, NO_STREAM, Record, Success
from esdb_wire.server.store import EventStore
from esdb_wire.transport.blocking import Channel
from tests.server.helpers import (
    Options,
    aiter_of,
    append,
    append_requests,
    collect,
    ctx,
    event,
    ident,
    link,
    new_store,
    proposed,
    read_all_req,
    read_stream_req,
    records,
    run,
    service,
)

OCTET = "application/octet-stream"
G_EMPTY = empty_pb2.Empty()
# The event-type filter clients put on $all reads by default: exclude types "\\$.*".
CLIENT_DEFAULT_EXCLUDE = "^(?!(\\$.*$))"
LINK_KEYS = ["$v", "$c", "$p", "$causedBy"]


def projected_store(**kwargs: Any) -> EventStore:
    return new_store(observer=StandardProjections(), **kwargs)


def all_records(store: EventStore) -> list[Record]:
    """The whole log (the default $all filter hides $epoch-information)."""
    return store.records_after(-1, 10_000)


def stream_names(store: EventStore) -> set[str]:
    return {record.stream_name for record in all_records(store)}


def data_of(store: EventStore, stream: str) -> list[bytes]:
    return [record.data for record in records(store, stream, 0, 1000)]


def meta_of(record: Record) -> dict[str, Any]:
    parsed = json.loads(record.custom_metadata)
    assert isinstance(parsed, dict)
    return parsed


# ---- off by default --------------------------------------------------------------------


def test_projections_are_off_by_default() -> None:
    store = new_store()
    store.append("order-1", ANY, [event("Created"), event("Paid")])
    store.tombstone("order-1", ANY)
    names = stream_names(store)
    assert names == {"$epoch-information", "$settings", "order-1"}
    assert store.read_stream("$ce-order", 0, 10) is None
    assert store.read_stream("$streams", 0, 10) is None


def test_embedded_server_option_values() -> None:
    assert EmbeddedServer()._projections is False
    assert EmbeddedServer(run_projections="None")._projections is False
    assert EmbeddedServer(run_projections="system")._projections is False
    assert EmbeddedServer(run_projections="All")._projections is True
    with pytest.raises(ValueError, match="run_projections"):
        EmbeddedServer(run_projections="some")


@pytest.mark.parametrize(
    ("argv", "expected"), [([], "none"), (["--run-projections", "ALL"], "all")]
)
def test_cli_run_projections_option(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: str
) -> None:
    started: list[EmbeddedServer] = []

    async def fake_serve(server: EmbeddedServer, *, dev: bool = False) -> None:
        assert not dev
        started.append(server)

    monkeypatch.setattr(cli, "_serve", fake_serve)
    cli.main(["--port", "0", "--quiet", "--insecure", *argv])
    assert [server.run_projections for server in started] == [expected]
    assert started[0]._projections is (expected == "all")


def test_cli_rejects_unknown_run_projections(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--run-projections", "some"])
    assert "--run-projections" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], None),  # the default: start them with "all"
        (["--start-standard-projections"], True),
        (["--start-standard-projections", "False"], False),
        (["--start-standard-projections=true"], True),
    ],
)
def test_cli_start_standard_projections_option(argv: list[str], expected: bool | None) -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["--insecure", "--run-projections", "all", *argv])
    server = cli.server_from_args(args, parser)
    assert server.start_standard_projections is expected
    with pytest.raises(SystemExit):
        parser.parse_args(["--start-standard-projections", "maybe"])


# ---- categories ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("order-1", "order"),
        ("order-1-2", "order"),
        ("order-", "order"),
        ("order", None),
        ("-order", None),
        ("$ce-order", None),
        ("$$order-1", None),
        ("", None),
    ],
)
def test_category_is_the_text_before_the_first_dash(name: str, category: str | None) -> None:
    assert category_of(name) == category


@pytest.mark.parametrize(
    ("name", "projected"),
    [
        ("order-1", True),
        ("orders", True),
        ("$$order-1", True),
        ("$ce-order", False),
        ("$$$ce-order", False),
        ("$settings", False),
        ("$", False),
    ],
)
def test_projected_streams(name: str, projected: bool) -> None:
    assert is_projected_stream(name) is projected


# ---- the links ---------------------------------------------------------------------------


def test_each_projection_writes_its_links_after_the_events() -> None:
    store = projected_store()
    created = event("Created")
    paid = event("Paid")
    result = store.append("order-1", NO_STREAM, [created, paid])
    second = records(store, "order-1", 0, 10)[1]
    assert isinstance(result, Success)
    assert result.position == second.position  # the caller's last event, not a link

    assert data_of(store, "$streams") == [b"0@order-1"]
    assert data_of(store, "$ce-order") == [b"0@order-1", b"1@order-1"]
    assert data_of(store, "$et-Created") == [b"0@order-1"]
    assert data_of(store, "$et-Paid") == [b"1@order-1"]
    assert data_of(store, "$category-order") == [b"order-1"]

    links = [
        record
        for name in ("$streams", "$ce-order", "$et-Created", "$et-Paid", "$category-order")
        for record in records(store, name, 0, 10)
    ]
    assert all(record.position > second.position for record in links)
    assert all(not record.is_json for record in links)
    for name in ("$streams", "$ce-order", "$et-Created", "$et-Paid"):
        assert {record.event_type for record in records(store, name, 0, 10)} == {"$>"}
    assert [record.event_type for record in records(store, "$category-order", 0, 10)] == ["$@"]
    ce = records(store, "$ce-order", 0, 10)
    assert [record.revision for record in ce] == [0, 1]


def test_link_metadata_is_json_with_the_source_position_and_id() -> None:
    store = projected_store()
    store.append("order-1", ANY, [event("Created")])
    source = records(store, "order-1", 0, 1)[0]
    position = source.position
    caused_by = str(source.event_id)
    (streams,) = records(store, "$streams", 0, 10)
    (category,) = records(store, "$category-order", 0, 10)
    (ce,) = records(store, "$ce-order", 0, 10)
    (et,) = records(store, "$et-Created", 0, 10)
    assert meta_of(streams) == {
        "$v": "1:-1:1:4",
        "$c": position,
        "$p": position,
        "$causedBy": caused_by,
    }
    assert meta_of(category)["$v"] == "2:-1:1:4"
    assert list(meta_of(ce)) == ["$v", "$c", "$p", "$o", "$causedBy"]
    assert meta_of(ce) == {
        "$v": "3:-1:1:4",
        "$c": position,
        "$p": position,
        "$o": "order-1",
        "$causedBy": caused_by,
    }
    assert list(meta_of(et)) == LINK_KEYS
    assert meta_of(et)["$v"] == "4:-1:1:4"


def test_new_link_streams_get_their_metadata_first() -> None:
    store = projected_store()
    store.append("order-1", ANY, [event("Created")])
    store.append("order-2", ANY, [event("Created")])
    for name in ("$streams", "$ce-order", "$et-Created", "$category-order"):
        meta = records(store, "$$" + name, 0, 10)
        assert [record.data for record in meta] == [b'{"$acl":{"$r":"$all","$mr":"$all"}}']
        assert meta[0].position < records(store, name, 0, 1)[0].position
    # Written once per stream, not per link.
    assert sum(record.event_type == "$metadata" for record in all_records(store)) == 4


def test_streams_and_stream_categories_only_for_revision_zero() -> None:
    store = projected_store()
    store.append("order-1", ANY, [event()])
    store.append("order-1", ANY, [event(), event()])
    store.append("order-2", ANY, [event()])
    assert data_of(store, "$streams") == [b"0@order-1", b"0@order-2"]
    assert data_of(store, "$category-order") == [b"order-1", b"order-2"]
    assert len(data_of(store, "$ce-order")) == 4


def test_streams_without_a_category() -> None:
    store = projected_store()
    store.append("orders", ANY, [event("Placed")])
    store.append("-odd", ANY, [event("Placed")])
    store.append("a-b-c", ANY, [event("Placed")])
    names = stream_names(store)
    assert not any(name.startswith("$ce-") and name != "$ce-a" for name in names)
    assert not any(name.startswith("$category-") and name != "$category-a" for name in names)
    assert data_of(store, "$streams") == [b"0@orders", b"0@-odd", b"0@a-b-c"]
    assert data_of(store, "$et-Placed") == [b"0@orders", b"0@-odd", b"0@a-b-c"]
    assert data_of(store, "$ce-a") == [b"0@a-b-c"]


def test_system_streams_are_not_projected() -> None:
    store = projected_store()
    before = len(all_records(store))
    store.append("$mine-1", ANY, [event("Thing")])
    store.append("$$$mine-1", ANY, [event("$metadata", b"{}")])
    assert len(all_records(store)) == before + 2


def test_user_metadata_events_are_indexed_by_type_but_not_category() -> None:
    store = projected_store()
    store.append("order-1", ANY, [event("Created")])
    store.append("$$order-1", ANY, [event("$metadata", b'{"$maxCount":5}')])
    assert data_of(store, "$et-$metadata") == [b"0@$$order-1"]
    assert data_of(store, "$streams") == [b"0@order-1", b"0@$$order-1"]
    assert data_of(store, "$ce-order") == [b"0@order-1"]
    assert data_of(store, "$category-order") == [b"order-1"]


def test_user_links_are_categorised_by_their_target_and_not_indexed_by_type() -> None:
    store = projected_store()
    store.append("order-1", ANY, [event("Created")])
    store.append("mylinks-1", ANY, [link(0, "order-1")])
    assert data_of(store, "$ce-mylinks") == [b"0@order-1"]
    assert data_of(store, "$streams") == [b"0@order-1", b"0@mylinks-1"]
    assert store.read_stream("$et-$>", 0, 10) is None


def test_soft_delete_and_tombstone_are_projected_as_deleted() -> None:
    store = projected_store()
    store.append("order-1", ANY, [event("Created")])
    store.append("order-2", ANY, [event("Created")])
    store.delete("order-1", ANY)
    store.tombstone("order-2", ANY)
    ce = records(store, "$ce-order", 0, 10)
    assert [record.data for record in ce] == [
        b"0@order-1",
        b"0@order-2",
        b"0@$$order-1",
        f"{DELETED_STREAM}@order-2".encode(),
    ]
    assert meta_of(ce[2])["$o"] == "order-1"
    assert meta_of(ce[2])["$deleted"] == -1
    assert meta_of(ce[3])["$deleted"] == -1
    assert "$deleted" not in meta_of(ce[0])
    # As upstream: the soft delete's link names the deleted stream with the revision of
    # the metadata event.
    assert data_of(store, "$et-$deleted") == [b"0@order-1", f"{DELETED_STREAM}@order-2".encode()]
    assert store.read_stream("$et-$metadata", 0, 10) is None
    assert store.read_stream("$et-$streamDeleted", 0, 10) is None


def test_a_recreated_stream_is_not_listed_again() -> None:
    store = projected_store()
    store.append("order-1", ANY, [event("Created")])
    store.delete("order-1", ANY)
    store.append("order-1", ANY, [event("Created")])
    assert records(store, "order-1", 0, 10)[0].revision == 1
    assert data_of(store, "$streams") == [b"0@order-1", b"0@$$order-1"]
    assert data_of(store, "$ce-order")[-1] == b"1@order-1"
    # The recreation rewrites the metadata ($tb = 1): a plain $metadata event.
    assert data_of(store, "$et-$metadata") == [b"1@$$order-1"]


def test_idempotent_reappend_writes_no_links() -> None:
    store = projected_store()
    events = [event("Created"), event("Paid")]
    first = store.append("order-1", NO_STREAM, events)
    count = len(all_records(store))
    again = store.append("order-1", NO_STREAM, events)
    assert again == first
    again = store.append("order-1", ANY, events)
    assert again == first
    assert len(all_records(store)) == count
    assert len(data_of(store, "$ce-order")) == 2


def test_wrong_expected_version_writes_no_links() -> None:
    store = projected_store()
    store.append("order-1", ANY, [event()])
    count = len(all_records(store))
    store.append("order-1", 5, [event()])
    assert len(all_records(store)) == count


def test_links_to_a_tombstoned_link_stream_are_dropped() -> None:
    store = projected_store()
    store.append("order-1", ANY, [event("Created")])
    store.tombstone("$ce-order", ANY)
    store.append("order-2", ANY, [event("Created")])  # does not fail
    assert records(store, "order-2", 0, 10)[0].revision == 0
    assert data_of(store, "$et-Created") == [b"0@order-1", b"0@order-2"]


# ---- through the Streams service -----------------------------------------------------------


def test_append_response_is_the_last_user_event() -> None:
    store = projected_store()
    svc = service(store)
    response = run(append(svc, "order-1", [proposed("A"), proposed("B")]))
    last = records(store, "order-1", 0, 10)[-1]
    assert response.success.current_revision == 1
    assert response.success.position.commit_position == last.position
    assert store.last_position > last.position


def test_batch_append_is_projected_too() -> None:
    store = projected_store()
    svc = service(store)
    request = streams_pb2.BatchAppendReq(
        correlation_id=shared_pb2.UUID(string=str(uuid.uuid4())),
        options=streams_pb2.BatchAppendReq.Options(stream_identifier=ident("order-9"), any=G_EMPTY),
        proposed_messages=[
            streams_pb2.BatchAppendReq.ProposedMessage(
                id=shared_pb2.UUID(string=str(uuid.uuid4())),
                metadata={"type": "Created", "content-type": "application/json"},
                data=b"{}",
            )
        ],
        is_final=True,
    )

    async def go() -> list[streams_pb2.BatchAppendResp]:
        return [response async for response in svc.BatchAppend(aiter_of([request]), ctx())]

    (response,) = run(go())
    assert response.WhichOneof("result") == "success"
    assert response.success.position.commit_position == records(store, "order-9", 0, 1)[0].position
    assert data_of(store, "$ce-order") == [b"0@order-9"]


def test_reading_a_category_stream_resolves_links_on_request() -> None:
    store = projected_store()
    svc = service(store)
    run(append(svc, "order-1", [proposed("Created", b'{"n":1}')]))
    run(append(svc, "order-2", [proposed("Created", b'{"n":2}')]))

    raw = collect(svc, read_stream_req("$ce-order"))
    assert [r.event.event.metadata["type"] for r in raw] == ["$>", "$>"]
    assert [r.event.event.data for r in raw] == [b"0@order-1", b"0@order-2"]
    assert [r.event.event.metadata["content-type"] for r in raw] == [OCTET, OCTET]
    assert not any(r.event.HasField("link") for r in raw)

    resolved = collect(svc, read_stream_req("$ce-order", resolve_links=True))
    events = [r.event.event for r in resolved]
    assert [(e.stream_identifier.stream_name, e.stream_revision, e.data) for e in events] == [
        (b"order-1", 0, b'{"n":1}'),
        (b"order-2", 0, b'{"n":2}'),
    ]
    assert [e.metadata["type"] for e in events] == ["Created", "Created"]
    links = [r.event.link for r in resolved]
    assert [link.stream_identifier.stream_name for link in links] == [b"$ce-order"] * 2
    assert [link.stream_revision for link in links] == [0, 1]
    assert [link.data for link in links] == [b"0@order-1", b"0@order-2"]
    # The read position is the link's; the event keeps its own.
    for response in resolved:
        assert response.event.commit_position == response.event.link.commit_position
        assert response.event.event.commit_position < response.event.link.commit_position


def test_category_stream_references_are_not_resolved() -> None:
    store = projected_store()
    svc = service(store)
    run(append(svc, "order-1", [proposed("Created")]))
    (response,) = collect(svc, read_stream_req("$category-order", resolve_links=True))
    assert response.event.event.metadata["type"] == "$@"
    assert response.event.event.data == b"order-1"
    assert not response.event.HasField("link")


@pytest.mark.parametrize("hard", [False, True])
def test_links_to_deleted_events_resolve_to_no_event(hard: bool) -> None:
    store = projected_store()
    svc = service(store)
    run(append(svc, "order-1", [proposed("Created"), proposed("Paid")]))
    if hard:
        store.tombstone("order-1", ANY)
    else:
        store.delete("order-1", ANY)
    resolved = collect(svc, read_stream_req("$et-Created", resolve_links=True))
    assert len(resolved) == 1
    assert not resolved[0].event.HasField("event")
    assert resolved[0].event.link.data == b"0@order-1"
    ce = collect(svc, read_stream_req("$ce-order", resolve_links=True))
    assert [r.event.HasField("event") for r in ce][:2] == [False, False]


def test_all_contains_the_links_but_the_client_default_filter_hides_them() -> None:
    store = projected_store()
    svc = service(store)
    run(append(svc, "order-1", [proposed("Created"), proposed("Paid")]))

    everything = collect(svc, read_all_req())
    types = [r.event.event.metadata["type"] for r in everything]
    streams = [r.event.event.stream_identifier.stream_name.decode() for r in everything]
    assert types.count("$>") == 5
    assert types.count("$@") == 1
    assert {"$ce-order", "$et-Created", "$et-Paid", "$streams", "$category-order"} <= set(streams)

    default = Options.FilterOptions(
        event_type=Options.FilterOptions.Expression(regex=CLIENT_DEFAULT_EXCLUDE), max=32
    )
    filtered = collect(svc, read_all_req(filter_options=default))
    assert [r.event.event.metadata["type"] for r in filtered] == ["Created", "Paid"]


def test_stream_subscription_to_a_category_gets_live_links() -> None:
    store = projected_store()
    svc = service(store)
    run(append(svc, "order-1", [proposed("Created")]))

    async def go() -> list[str]:
        request = read_stream_req("$ce-order", resolve_links=True)
        request.options.subscription.SetInParent()
        seen: list[str] = []
        reads = svc.Read(request, ctx())
        async for item in reads:
            response = streams_pb2.ReadResp.FromString(item) if isinstance(item, bytes) else item
            if response.WhichOneof("content") == "caught_up":
                await append(svc, "order-2", [proposed("Created")])
            elif response.WhichOneof("content") == "event":
                seen.append(response.event.event.stream_identifier.stream_name.decode())
                if len(seen) == 2:
                    break
        await reads.aclose()  # type: ignore[attr-defined]
        return seen

    assert run(go()) == ["order-1", "order-2"]


# ---- over real sockets ---------------------------------------------------------------------
# Through the transport with hand-built messages (not a client API), on a running server.


def _read(channel: Channel, request: streams_pb2.ReadReq) -> list[streams_pb2.ReadResp]:
    call = channel.unary_stream(paths.READ, request.SerializeToString(), timeout=10)
    return [streams_pb2.ReadResp.FromString(data) for data in call]


def _append(channel: Channel, stream: str, *messages: Any) -> streams_pb2.AppendResp:
    requests = [r.SerializeToString() for r in append_requests(stream, messages, NO_STREAM)]
    data = channel.stream_unary(paths.APPEND, requests, timeout=10)
    return streams_pb2.AppendResp.FromString(data)


@pytest.fixture
def channel_to() -> Iterator[Callable[[EmbeddedServer], Channel]]:
    channels: list[Channel] = []

    def connect(server: EmbeddedServer) -> Channel:
        channels.append(Channel(server.host, server.port))
        return channels[-1]

    yield connect
    for channel in channels:
        channel.close()


def test_embedded_server_with_projections(channel_to: Callable[[EmbeddedServer], Channel]) -> None:
    with EmbeddedServer(run_projections="all") as server:
        channel = channel_to(server)
        created, shipped = uuid.uuid4(), uuid.uuid4()
        response = _append(
            channel,
            "order-1",
            proposed("Created", b'{"id":1}', event_id=created),
            proposed("Shipped", b'{"id":1}', event_id=shipped),
        )
        position = response.success.position.commit_position
        _append(channel, "order-2", proposed("Created", b'{"id":2}'))

        links = [r.event.event for r in _read(channel, read_stream_req("$ce-order"))]
        assert [(e.metadata["type"], e.data) for e in links] == [
            ("$>", b"0@order-1"),
            ("$>", b"1@order-1"),
            ("$>", b"0@order-2"),
        ]
        assert [e.metadata["content-type"] for e in links] == [OCTET] * 3
        assert all(e.commit_position > position for e in links)
        assert json.loads(links[0].custom_metadata)["$causedBy"] == str(created)

        resolved = _read(channel, read_stream_req("$ce-order", resolve_links=True))
        events = [r.event.event for r in resolved]
        assert [(e.stream_identifier.stream_name, e.stream_revision) for e in events] == [
            (b"order-1", 0),
            (b"order-1", 1),
            (b"order-2", 0),
        ]
        assert [read_uuid(e.id) for e in events[:2]] == [created, shipped]
        assert [r.event.link.stream_identifier.stream_name for r in resolved] == [b"$ce-order"] * 3
        assert [r.event.commit_position for r in resolved] == [e.commit_position for e in links]

        default_filter = Options.FilterOptions(
            event_type=Options.FilterOptions.Expression(regex=CLIENT_DEFAULT_EXCLUDE), max=32
        )
        shown = _read(channel, read_all_req(filter_options=default_filter))
        assert [r.event.event.metadata["type"] for r in shown] == ["Created", "Shipped", "Created"]


def test_embedded_server_without_projections(
    channel_to: Callable[[EmbeddedServer], Channel],
) -> None:
    with EmbeddedServer() as server:
        channel = channel_to(server)
        _append(channel, "order-1", proposed("Created"))
        for name in ("$ce-order", "$streams", "$et-Created", "$category-order"):
            (response,) = _read(channel, read_stream_req(name))
            assert response.WhichOneof("content") == "stream_not_found"
