"""Streams.Read (count reads): options, encoding, not-found, links, filters, control messages."""

from __future__ import annotations

import json
import uuid

import pytest

from esdb_wire.protos import shared_pb2, streams_pb2
from esdb_wire.protos.uuids import read_uuid, uuid_message
from esdb_wire.server.records import ANY, DELETED_STREAM
from esdb_wire.server.store import EventStore
from esdb_wire.transport.status import StatusCode
from tests.server.helpers import (
    EMPTY,
    TICKS_2024,
    Options,
    append,
    collect,
    event,
    ident,
    kinds,
    link,
    new_store,
    proposed,
    read_all_req,
    read_error,
    read_stream_req,
    records,
    revisions,
    run,
    service,
)

KNOWN = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")


def store_with(stream: str = "s", count: int = 3) -> EventStore:
    store = new_store()
    store.append(stream, ANY, [event(f"T{i}") for i in range(count)])
    return store


# ---- UUIDs -------------------------------------------------------------------------


def test_structured_uuid_is_java_layout_signed_halves() -> None:
    message = uuid_message(KNOWN, structured=True)
    assert message.structured.most_significant_bits == 4822678189205111
    assert message.structured.least_significant_bits == -8603657889541918977
    assert read_uuid(message) == KNOWN


def test_string_uuid_is_lowercase_canonical() -> None:
    message = uuid_message(KNOWN, structured=False)
    assert message.string == "00112233-4455-6677-8899-aabbccddeeff"
    assert read_uuid(shared_pb2.UUID(string="00112233-4455-6677-8899-AABBCCDDEEFF")) == KNOWN
    with pytest.raises(ValueError, match="Invalid argument"):
        read_uuid(shared_pb2.UUID())


@pytest.mark.parametrize("string", [False, True])
def test_read_honours_the_uuid_option(string: bool) -> None:
    store = new_store()
    store.append("s", ANY, [event(event_id=KNOWN)])
    (response,) = collect(service(store), read_stream_req("s", uuid_string=string))
    event_id = response.event.event.id
    assert event_id.WhichOneof("value") == ("string" if string else "structured")
    assert read_uuid(event_id) == KNOWN


def test_an_empty_uuid_option_means_structured() -> None:
    store = store_with(count=1)
    request = read_stream_req("s")
    request.options.uuid_option.Clear()
    request.options.uuid_option.SetInParent()
    (response,) = collect(service(store), request)
    assert response.event.event.id.WhichOneof("value") == "structured"


def test_missing_uuid_option_is_invalid_argument() -> None:
    request = read_stream_req("s")
    request.options.ClearField("uuid_option")
    error = read_error(service(), request)
    assert error.code == StatusCode.INVALID_ARGUMENT
    assert error.message == (
        "'uuidOption' is a required argument of type "
        "EventStore.Client.Streams.ReadReq+Types+Options+Types+UUIDOption"
    )


# ---- option combinations -----------------------------------------------------------


def test_missing_stream_option_is_invalid_argument() -> None:
    request = read_stream_req("s")
    request.options.ClearField("stream")
    error = read_error(service(), request)
    assert error.code == StatusCode.INVALID_ARGUMENT
    assert error.message == (
        "'None' is not a valid "
        "EventStore.Client.Streams.ReadReq+Types+Options+StreamOptionOneofCase"
    )


def combination(request: streams_pb2.ReadReq) -> str:
    error = read_error(service(), request)
    assert error.code == StatusCode.INVALID_ARGUMENT
    return error.message


def test_stream_read_with_a_filter_is_an_invalid_combination() -> None:
    request = read_stream_req("s")
    request.options.filter.max = 10
    assert (
        combination(request) == "The combination of (Stream, Count, Forwards, Filter) is invalid."
    )


def test_missing_filter_option_is_an_invalid_combination() -> None:
    request = read_stream_req("s", backwards=True)
    request.options.ClearField("no_filter")
    assert combination(request) == "The combination of (Stream, Count, Backwards, None) is invalid."


def test_backwards_subscriptions_are_invalid_combinations() -> None:
    request = read_stream_req("s", backwards=True)
    request.options.subscription.SetInParent()
    assert combination(request) == (
        "The combination of (Stream, Subscription, Backwards, NoFilter) is invalid."
    )
    request = read_all_req(subscribe=True)
    request.options.read_direction = Options.Backwards
    assert combination(request) == (
        "The combination of (All, Subscription, Backwards, NoFilter) is invalid."
    )


def test_missing_count_option_is_an_invalid_combination() -> None:
    request = read_all_req()
    request.options.ClearField("count")
    assert combination(request) == "The combination of (All, None, Forwards, NoFilter) is invalid."


def test_unknown_direction_is_an_invalid_combination() -> None:
    request = read_all_req()
    request.options.read_direction = 7  # type: ignore[assignment]
    assert combination(request) == "The combination of (All, Count, 7, NoFilter) is invalid."


# ---- stream reads ------------------------------------------------------------------


def test_forwards_and_backwards_stream_reads() -> None:
    svc = service(store_with(count=10))
    assert revisions(collect(svc, read_stream_req("s"))) == list(range(10))
    assert revisions(collect(svc, read_stream_req("s", start=7))) == [7, 8, 9]
    assert revisions(collect(svc, read_stream_req("s", start=2, count=3))) == [2, 3, 4]
    backwards = read_stream_req("s", from_end=True, count=3, backwards=True)
    assert revisions(collect(svc, backwards)) == [9, 8, 7]
    assert revisions(collect(svc, read_stream_req("s", start=4, backwards=True))) == [4, 3, 2, 1, 0]
    past_end = read_stream_req("s", start=50, count=2, backwards=True)
    assert revisions(collect(svc, past_end)) == [9, 8]
    assert revisions(collect(svc, read_stream_req("s", backwards=True))) == [0]
    assert collect(svc, read_stream_req("s", start=10)) == []


def test_missing_and_soft_deleted_streams_reply_stream_not_found() -> None:
    store = store_with("gone")
    store.delete("gone", ANY)
    svc = service(store)
    for name in ("missing", "gone"):
        for backwards in (False, True):
            responses = collect(svc, read_stream_req(name, backwards=backwards, from_end=backwards))
            assert kinds(responses) == ["stream_not_found"]
            assert responses[0].stream_not_found.stream_identifier == ident(name)


def test_tombstoned_stream_and_its_metastream_fail_with_stream_deleted() -> None:
    store = store_with()
    store.tombstone("s", ANY)
    for name in ("s", "$$s"):
        error = read_error(service(store), read_stream_req(name))
        assert error.code == StatusCode.FAILED_PRECONDITION
        assert error.message == f"Event stream '{name}' is deleted."
        assert error.trailing_metadata == (("exception", "stream-deleted"), ("stream-name", name))


def test_forwards_from_end_or_count_zero_fail_like_the_server() -> None:
    svc = service(store_with())
    for request in (read_stream_req("s", from_end=True), read_stream_req("s", count=0)):
        error = read_error(svc, request)
        assert error.code == StatusCode.UNKNOWN
        assert error.message == "Unexpected ReadStreamResult: Error"


def test_empty_stream_name_is_an_unhandled_exception() -> None:
    error = read_error(service(), read_stream_req(""))
    assert (error.code, error.message) == (StatusCode.UNKNOWN, "Exception was thrown by handler.")


def test_stream_reads_apply_truncation() -> None:
    store = store_with(count=5)
    store.append("$$s", ANY, [event("$metadata", b'{"$maxCount":2}')])
    assert revisions(collect(service(store), read_stream_req("s"))) == [3, 4]


# ---- RecordedEvent encoding --------------------------------------------------------


def test_recorded_event_fields() -> None:
    store = new_store()
    store.append("s", ANY, [event("Kind", b"payload", event_id=KNOWN, custom_metadata=b"meta")])
    record = records(store, "s", 0, 1)[0]
    (response,) = collect(service(store), read_stream_req("s", uuid_string=True))
    read_event = response.event
    assert not read_event.HasField("link")
    assert read_event.commit_position == record.position
    recorded = read_event.event
    assert recorded.id.string == str(KNOWN)
    assert recorded.stream_identifier.stream_name == b"s"
    assert recorded.stream_revision == 0
    assert recorded.commit_position == recorded.prepare_position == record.position
    assert dict(recorded.metadata) == {
        "type": "Kind",
        "content-type": "application/json",
        "created": "17040672000000000",
    }
    assert recorded.data == b"payload"
    assert recorded.custom_metadata == b"meta"
    assert str(TICKS_2024) == "17040672000000000"


def test_content_type_collapses_to_json_or_octet_stream() -> None:
    svc = service()
    messages = [
        proposed(content_type="application/json"),
        proposed(content_type="text/plain"),
        proposed(content_type="application/octet-stream", extra={"other": "dropped"}),
        proposed(content_type=""),
    ]
    run(append(svc, "s", messages))
    responses = collect(svc, read_stream_req("s"))
    assert [r.event.event.metadata["content-type"] for r in responses] == [
        "application/json",
        "application/octet-stream",
        "application/octet-stream",
        "application/octet-stream",
    ]
    assert all(
        set(r.event.event.metadata) == {"type", "content-type", "created"} for r in responses
    )


def test_tombstone_record_as_read_from_all() -> None:
    store = store_with(count=1)
    store.tombstone("s", ANY)
    responses = collect(service(store), read_all_req(from_end=True, backwards=True, count=1))
    recorded = responses[0].event.event
    assert recorded.stream_revision == DELETED_STREAM
    assert recorded.metadata["type"] == "$streamDeleted"
    assert recorded.metadata["content-type"] == "application/octet-stream"
    assert recorded.data == b""


# ---- links -------------------------------------------------------------------------


def link_store() -> EventStore:
    store = new_store()
    store.append("target", ANY, [event("Target")])
    store.append("links", ANY, [link(0, "target"), link(3, "target")])
    return store


def test_links_unresolved_are_returned_as_events() -> None:
    store = link_store()
    responses = collect(service(store), read_stream_req("links"))
    assert [r.event.event.metadata["type"] for r in responses] == ["$>", "$>"]
    assert responses[0].event.event.data == b"0@target"
    assert not any(r.event.HasField("link") for r in responses)


def test_resolved_link_carries_target_event_and_link_position() -> None:
    store = link_store()
    target = records(store, "target", 0, 1)[0]
    links = records(store, "links", 0, 2)
    resolved, dangling = collect(service(store), read_stream_req("links", resolve_links=True))
    assert resolved.event.event.stream_identifier.stream_name == b"target"
    assert resolved.event.event.metadata["type"] == "Target"
    assert resolved.event.event.commit_position == target.position
    assert resolved.event.link.stream_identifier.stream_name == b"links"
    assert resolved.event.link.commit_position == links[0].position
    assert resolved.event.commit_position == links[0].position
    assert not dangling.event.HasField("event")
    assert dangling.event.link.stream_revision == 1
    assert dangling.event.commit_position == links[1].position


def test_links_resolve_in_all_reads() -> None:
    store = link_store()
    request = read_all_req(from_end=True, backwards=True, count=2, resolve_links=True)
    dangling, resolved = collect(service(store), request)
    assert resolved.event.event.metadata["type"] == "Target"
    assert not dangling.event.HasField("event")


# ---- control option ----------------------------------------------------------------


def test_compatibility_one_adds_last_stream_position() -> None:
    svc = service(store_with(count=4))
    forwards = collect(svc, read_stream_req("s", count=2, compatibility=1))
    assert kinds(forwards) == ["event", "event", "last_stream_position"]
    assert forwards[-1].last_stream_position == 3
    backwards = collect(svc, read_stream_req("s", from_end=True, backwards=True, compatibility=1))
    assert kinds(backwards)[-1] == "last_stream_position"
    assert backwards[-1].last_stream_position == 3
    assert kinds(collect(svc, read_stream_req("s", count=2))) == ["event", "event"]


def test_compatibility_one_reports_first_stream_position_after_truncation() -> None:
    store = store_with(count=40)
    store.append("$$s", ANY, [event("$metadata", json.dumps({"$tb": 35}).encode())])
    svc = service(store)
    responses = collect(svc, read_stream_req("s", compatibility=1))
    assert kinds(responses)[0] == "first_stream_position"
    assert responses[0].first_stream_position == 35
    assert revisions(responses) == [35, 36, 37, 38, 39]
    # when the first page has events, no first_stream_position
    near = collect(svc, read_stream_req("s", start=30, compatibility=1))
    assert kinds(near)[0] == "event"


def test_not_found_has_no_control_messages() -> None:
    responses = collect(service(), read_stream_req("nope", compatibility=1))
    assert kinds(responses) == ["stream_not_found"]


# ---- $all reads --------------------------------------------------------------------


def test_all_reads_forwards_inclusive_backwards_exclusive() -> None:
    store = store_with(count=3)
    written = records(store, "s", 0, 3)
    svc = service(store)
    middle = written[1].position
    assert revisions(collect(svc, read_all_req(position=middle))) == [1, 2]
    backwards = collect(svc, read_all_req(position=middle, backwards=True, count=1))
    assert revisions(backwards) == [0]
    assert collect(svc, read_all_req(from_end=True)) == []
    assert collect(svc, read_all_req(backwards=True)) == []
    from_end = collect(svc, read_all_req(from_end=True, backwards=True, count=2))
    assert revisions(from_end) == [2, 1]


def test_all_reads_include_system_events_but_not_epochs() -> None:
    store = store_with(count=1)
    responses = collect(service(store), read_all_req())
    names = [r.event.event.stream_identifier.stream_name for r in responses]
    assert names == [b"$settings", b"s"]


def test_all_read_rejects_commit_below_prepare() -> None:
    request = read_all_req(position=10)
    request.options.all.position.prepare_position = 11
    error = read_error(service(), request)
    assert error.code == StatusCode.UNKNOWN


# ---- filters -----------------------------------------------------------------------


def filter_store() -> EventStore:
    store = new_store()
    store.append("order-1", ANY, [event("OrderPlaced"), event("OrderShipped")])
    store.append("user-1", ANY, [event("UserCreated")])
    store.append("xorder-2", ANY, [event("Ordered")])
    return store


def filtered(
    *, stream: bool, regex: str = "", prefixes: tuple[str, ...] = ()
) -> Options.FilterOptions:
    expression = Options.FilterOptions.Expression(regex=regex, prefix=list(prefixes))
    if stream:
        return Options.FilterOptions(stream_identifier=expression, max=32)
    return Options.FilterOptions(event_type=expression, count=EMPTY)


def names_and_types(responses: list[streams_pb2.ReadResp]) -> list[tuple[str, str]]:
    return [
        (r.event.event.stream_identifier.stream_name.decode(), r.event.event.metadata["type"])
        for r in responses
    ]


def test_regex_filter_is_an_unanchored_search_on_stream_names() -> None:
    svc = service(filter_store())
    responses = collect(svc, read_all_req(filter_options=filtered(stream=True, regex="order-")))
    assert names_and_types(responses) == [
        ("order-1", "OrderPlaced"),
        ("order-1", "OrderShipped"),
        ("xorder-2", "Ordered"),
    ]


def test_prefix_filter_matches_any_prefix_of_event_types() -> None:
    svc = service(filter_store())
    options = filtered(stream=False, prefixes=("OrderS", "User"))
    responses = collect(svc, read_all_req(filter_options=options))
    assert names_and_types(responses) == [("order-1", "OrderShipped"), ("user-1", "UserCreated")]


def test_regex_wins_over_prefixes_and_default_filter_applies_first() -> None:
    store = filter_store()
    svc = service(store)
    options = filtered(stream=True, regex="^\\$", prefixes=("user",))
    responses = collect(svc, read_all_req(filter_options=options))
    assert names_and_types(responses) == [("$settings", "$settings")]  # no $epoch-information


def test_filtered_backwards_read_with_count() -> None:
    svc = service(filter_store())
    options = filtered(stream=False, regex="^Order")
    request = read_all_req(from_end=True, backwards=True, count=2, filter_options=options)
    assert names_and_types(collect(svc, request)) == [
        ("xorder-2", "Ordered"),
        ("order-1", "OrderShipped"),
    ]


def test_filter_without_a_window_is_invalid_argument() -> None:
    options = Options.FilterOptions(event_type=Options.FilterOptions.Expression(regex="x"))
    error = read_error(service(), read_all_req(filter_options=options))
    assert error.code == StatusCode.INVALID_ARGUMENT
    assert error.message == (
        "'None' is not a valid "
        "EventStore.Client.Streams.ReadReq+Types+Options+Types+FilterOptions+WindowOneofCase"
    )


def test_filter_without_a_target_is_invalid_argument() -> None:
    error = read_error(service(), read_all_req(filter_options=Options.FilterOptions(max=3)))
    assert error.code == StatusCode.INVALID_ARGUMENT
    assert error.message.endswith(
        "is not a valid EventStore.Client.Streams.ReadReq+Types+Options+Types+FilterOptions"
    )


def test_bad_regex_is_an_unhandled_exception() -> None:
    error = read_error(service(), read_all_req(filter_options=filtered(stream=True, regex="(")))
    assert error.code == StatusCode.UNKNOWN
