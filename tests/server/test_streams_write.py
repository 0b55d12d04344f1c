"""Streams.Append, Delete and Tombstone through the service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from esdb_wire.protos import shared_pb2, streams_pb2
from esdb_wire.server.records import ANY, NO_STREAM, STREAM_EXISTS
from esdb_wire.server.store import EventStore
from esdb_wire.transport.status import StatusCode
from tests.server.helpers import (
    EMPTY,
    aiter_of,
    append,
    append_requests,
    collect,
    ctx,
    event,
    expected_kwargs,
    ident,
    new_store,
    proposed,
    read_stream_req,
    records,
    rpc_error,
    run,
    service,
)

AppendReq = streams_pb2.AppendReq
MAX_U64 = 2**64 - 1


def last_position(store: EventStore, stream: str) -> int:
    found = store.read_stream(stream, None, 1, backwards=True)
    assert found is not None
    return found.records[0].position


# ---- Append success ----------------------------------------------------------------


def test_append_success_has_revision_and_position_of_the_last_event() -> None:
    store = new_store()
    svc = service(store)
    response = run(append(svc, "s", [proposed(), proposed()], NO_STREAM))
    assert response.WhichOneof("result") == "success"
    success = response.success
    assert success.WhichOneof("current_revision_option") == "current_revision"
    assert success.current_revision == 1
    assert success.position.commit_position == last_position(store, "s")
    assert success.position.prepare_position == success.position.commit_position


def test_empty_append_to_a_missing_stream_replies_no_stream() -> None:
    store = new_store()
    end = store.log_end
    response = run(append(service(store), "s", [], NO_STREAM))
    assert response.success.WhichOneof("current_revision_option") == "no_stream"
    assert response.success.position.commit_position == end


def test_append_stores_type_json_flag_data_and_custom_metadata() -> None:
    store = new_store()
    event_id = uuid.uuid4()
    message = proposed(
        "Kind", b"\x00\x01", content_type="text/plain", event_id=event_id, custom_metadata=b"m"
    )
    run(append(service(store), "s", [message]))
    (record,) = records(store, "s", 0, 1)
    assert (record.event_id, record.event_type, record.is_json) == (event_id, "Kind", False)
    assert (record.data, record.custom_metadata) == (b"\x00\x01", b"m")


def test_structured_proposed_ids_are_decoded() -> None:
    store = new_store()
    known = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
    message = proposed()
    message.id.structured.most_significant_bits = 4822678189205111
    message.id.structured.least_significant_bits = -8603657889541918977
    run(append(service(store), "s", [message]))
    assert records(store, "s", 0, 1)[0].event_id == known


def test_idempotent_append_replies_the_original_success() -> None:
    svc = service()
    messages = [proposed(), proposed()]
    first = run(append(svc, "s", messages))
    assert run(append(svc, "s", messages)) == first


# ---- Append wrong expected version -------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "new_field", "legacy_field", "legacy_value"),
    [
        (ANY, "expected_any", "any_20_6_0", None),
        (STREAM_EXISTS, "expected_stream_exists", "stream_exists_20_6_0", None),
        (NO_STREAM, "expected_no_stream", "expected_revision_20_6_0", MAX_U64),
        (5, "expected_revision", "expected_revision_20_6_0", 5),
    ],
)
def test_wrong_expected_version_fills_both_oneofs(
    expected: int, new_field: str, legacy_field: str, legacy_value: int | None
) -> None:
    store = new_store()
    first = proposed()
    store.append("s", ANY, [event(event_id=uuid.UUID(first.id.string)), event()])
    svc = service(store)
    # any/stream_exists reach WEV through corrupted idempotency (first id known, second not)
    messages = [first, proposed()] if expected in (ANY, STREAM_EXISTS) else [proposed()]
    response = run(append(svc, "s", messages, expected))
    assert response.WhichOneof("result") == "wrong_expected_version"
    wev = response.wrong_expected_version
    assert wev.WhichOneof("expected_revision_option") == new_field
    assert wev.WhichOneof("expected_revision_option_20_6_0") == legacy_field
    if legacy_value is not None:
        assert wev.expected_revision_20_6_0 == legacy_value
    if new_field == "expected_revision":
        assert wev.expected_revision == expected
    assert wev.WhichOneof("current_revision_option") == "current_revision"
    assert wev.WhichOneof("current_revision_option_20_6_0") == "current_revision_20_6_0"
    assert wev.current_revision == wev.current_revision_20_6_0 == 1


def test_wrong_expected_version_on_a_missing_stream_reports_no_stream() -> None:
    response = run(append(service(), "s", [proposed()], 3))
    wev = response.wrong_expected_version
    assert wev.WhichOneof("current_revision_option") == "current_no_stream"
    assert wev.WhichOneof("current_revision_option_20_6_0") == "no_stream_20_6_0"
    assert wev.expected_revision == wev.expected_revision_20_6_0 == 3


def test_stream_exists_on_missing_stream_is_wrong_expected_version() -> None:
    response = run(append(service(), "s", [proposed()], STREAM_EXISTS))
    wev = response.wrong_expected_version
    assert wev.WhichOneof("expected_revision_option") == "expected_stream_exists"
    assert wev.WhichOneof("current_revision_option") == "current_no_stream"


# ---- Append errors -----------------------------------------------------------------


def test_append_to_tombstoned_stream_is_stream_deleted() -> None:
    store = new_store()
    store.tombstone("s", ANY)
    error = rpc_error(append(service(store), "s", [proposed()]))
    assert error.code == StatusCode.FAILED_PRECONDITION
    assert error.message == "Event stream 's' is deleted."
    assert error.trailing_metadata == (("exception", "stream-deleted"), ("stream-name", "s"))


def test_stream_exists_on_soft_deleted_stream_is_stream_deleted() -> None:
    store = new_store()
    store.append("s", ANY, [event()])
    store.delete("s", ANY)
    error = rpc_error(append(service(store), "s", [proposed()], STREAM_EXISTS))
    assert error.message == "Event stream 's' is deleted."


@pytest.mark.parametrize(
    ("message", "missing"),
    [(proposed(event_type=None), "type"), (proposed(content_type=None), "content-type")],
)
def test_missing_required_metadata_is_invalid_argument(
    message: streams_pb2.AppendReq.ProposedMessage, missing: str
) -> None:
    error = rpc_error(append(service(), "s", [proposed(), message]))
    assert error.code == StatusCode.INVALID_ARGUMENT
    assert error.message == f"Required Metadata Property '{missing}' is missing"
    assert error.trailing_metadata == (
        ("exception", "missing-required-metadata-property"),
        ("required-metadata-properties", "type,content-type"),
    )


def test_type_is_checked_before_content_type() -> None:
    error = rpc_error(append(service(), "s", [proposed(event_type=None, content_type=None)]))
    assert error.message == "Required Metadata Property 'type' is missing"


def test_max_append_size_is_checked_as_events_arrive() -> None:
    store = new_store(max_append_size=100)
    pulled: list[int] = []

    async def requests() -> AsyncIterator[AppendReq]:
        for index, request in enumerate(
            append_requests("s", [proposed("T", b"x" * 60) for _ in range(3)])
        ):
            pulled.append(index)
            yield request

    error = rpc_error(service(store).Append(requests(), ctx()))
    assert error.code == StatusCode.INVALID_ARGUMENT
    assert error.message == "Maximum Append Size of 100 Exceeded."
    assert error.trailing_metadata == (
        ("exception", "maximum-append-size-exceeded"),
        ("maximum-append-size", "100"),
    )
    assert pulled == [0, 1, 2]  # the third event was never requested
    assert store.read_stream("s", 0, 10) is None


def test_max_append_size_counts_type_twice_and_default_is_one_mebibyte() -> None:
    store = new_store()
    assert store.max_append_size == 1_048_576
    small = new_store(max_append_size=10)
    # 4 + 2 + 2 * 2 = 10 bytes: exactly at the limit is allowed
    ok = run(append(service(small), "s", [proposed("ab", b"1234", custom_metadata=b"xy")]))
    assert ok.WhichOneof("result") == "success"
    error = rpc_error(append(service(small), "t", [proposed("abc", b"12345")]))  # 11
    assert error.message == "Maximum Append Size of 10 Exceeded."


def test_max_append_event_size() -> None:
    svc = service(max_append_event_size=5)
    event_id = uuid.uuid4()
    error = rpc_error(append(svc, "s", [proposed("T", b"12345", event_id=event_id)]))
    assert error.code == StatusCode.INVALID_ARGUMENT
    assert error.message == (
        f"Event with Id: {event_id}, Size: 7, exceeds Maximum Append Event Size of 5."
    )
    assert error.trailing_metadata == (
        ("exception", "maximum-append-event-size-exceeded"),
        ("maximum-append-event-size", "5"),
        ("event-id", str(event_id)),
        ("proposed-append-event-size", "7"),
    )


def test_first_message_must_be_options() -> None:
    svc = service()
    wrong = [AppendReq(proposed_message=proposed())]
    error = rpc_error(svc.Append(aiter_of(wrong), ctx()))
    assert (error.code, error.message) == (StatusCode.UNKNOWN, "Exception was thrown by handler.")
    assert rpc_error(svc.Append(aiter_of([]), ctx())).code == StatusCode.UNKNOWN
    twice = append_requests("s", [])
    error = rpc_error(svc.Append(aiter_of(twice + twice), ctx()))
    assert error.code == StatusCode.UNKNOWN


def test_missing_expected_revision_is_invalid_argument() -> None:
    options = AppendReq.Options(stream_identifier=ident("s"))
    error = rpc_error(service().Append(aiter_of([AppendReq(options=options)]), ctx()))
    assert error.code == StatusCode.INVALID_ARGUMENT
    assert error.message == (
        "'None' is not a valid "
        "EventStore.Client.Streams.AppendReq+Types+Options+ExpectedStreamRevisionOneofCase"
    )


def test_empty_stream_name_and_bad_ids_are_unhandled() -> None:
    assert rpc_error(append(service(), "", [proposed()])).code == StatusCode.UNKNOWN
    bad = proposed()
    bad.id.string = "not-a-uuid"
    assert rpc_error(append(service(), "s", [bad])).code == StatusCode.UNKNOWN


# ---- Delete and Tombstone ----------------------------------------------------------


def delete_req(stream: str, expected: int) -> streams_pb2.DeleteReq:
    options = streams_pb2.DeleteReq.Options(
        stream_identifier=ident(stream), **expected_kwargs(expected)
    )
    return streams_pb2.DeleteReq(options=options)


def tombstone_req(stream: str, expected: int) -> streams_pb2.TombstoneReq:
    options = streams_pb2.TombstoneReq.Options(
        stream_identifier=ident(stream), **expected_kwargs(expected)
    )
    return streams_pb2.TombstoneReq(options=options)


def test_delete_replies_the_position_of_the_metadata_record() -> None:
    store = new_store()
    store.append("s", ANY, [event()])
    response = run(service(store).Delete(delete_req("s", 0), ctx()))
    assert response.WhichOneof("position_option") == "position"
    assert response.position.commit_position == last_position(store, "$$s")
    assert response.position.prepare_position == response.position.commit_position
    assert [r.WhichOneof("content") for r in collect(service(store), read_stream_req("s"))] == [
        "stream_not_found"
    ]


def test_tombstone_replies_the_position_of_the_tombstone() -> None:
    store = new_store()
    store.append("s", ANY, [event()])
    response = run(service(store).Tombstone(tombstone_req("s", ANY), ctx()))
    assert response.position.commit_position == store.last_position
    assert store.tombstone_record("s") is not None


@pytest.mark.parametrize(
    ("expected", "actual", "expected_text"),
    [(ANY, -1, "-2"), (NO_STREAM, -1, "-1"), (STREAM_EXISTS, -1, "-4"), (3, -1, "3")],
)
def test_delete_of_a_missing_stream_is_wrong_expected_version(
    expected: int, actual: int, expected_text: str
) -> None:
    error = rpc_error(service().Delete(delete_req("s", expected), ctx()))
    assert error.code == StatusCode.FAILED_PRECONDITION
    assert error.message == (
        "Delete failed due to WrongExpectedVersion. Stream: s, "
        f"Expected version: {expected_text}, Actual version: -1"
    )
    assert error.trailing_metadata == (
        ("exception", "wrong-expected-version"),
        ("stream-name", "s"),
        ("expected-version", expected_text),
        ("actual-version", "-1"),
    )


def test_tombstone_wrong_expected_version_also_says_delete() -> None:
    store = new_store()
    store.append("s", ANY, [event(), event()])
    svc = service(store)
    error = rpc_error(svc.Tombstone(tombstone_req("s", 0), ctx()))
    assert error.message == (
        "Delete failed due to WrongExpectedVersion. Stream: s, "
        "Expected version: 0, Actual version: 1"
    )
    assert dict(error.trailing_metadata)["actual-version"] == "1"
    error = rpc_error(svc.Tombstone(tombstone_req("s", NO_STREAM), ctx()))
    assert dict(error.trailing_metadata)["expected-version"] == "-1"


def test_tombstone_of_a_missing_stream_succeeds_with_any_or_no_stream() -> None:
    svc = service()
    for name, expected in (("a", ANY), ("b", NO_STREAM)):
        response = run(svc.Tombstone(tombstone_req(name, expected), ctx()))
        assert response.WhichOneof("position_option") == "position"


def test_deleting_a_tombstoned_stream_is_stream_deleted() -> None:
    store = new_store()
    store.tombstone("s", ANY)
    svc = service(store)
    for call in (
        svc.Delete(delete_req("s", ANY), ctx()),
        svc.Tombstone(tombstone_req("s", ANY), ctx()),
    ):
        error = rpc_error(call)
        assert error.code == StatusCode.FAILED_PRECONDITION
        assert error.message == "Event stream 's' is deleted."


def test_delete_without_expected_revision_is_invalid_argument() -> None:
    options = streams_pb2.DeleteReq.Options(stream_identifier=ident("s"))
    error = rpc_error(service().Delete(streams_pb2.DeleteReq(options=options), ctx()))
    assert error.message == (
        "'None' is not a valid "
        "EventStore.Client.Streams.DeleteReq+Types+Options+ExpectedStreamRevisionOneofCase"
    )
    tombstone = streams_pb2.TombstoneReq.Options(stream_identifier=ident("s"))
    error = rpc_error(service().Tombstone(streams_pb2.TombstoneReq(options=tombstone), ctx()))
    assert "TombstoneReq+Types+Options+ExpectedStreamRevisionOneofCase" in error.message


def test_huge_revisions_follow_the_server_conversion() -> None:
    store = new_store()
    svc = service(store)
    # 2^64-1 is StreamRevision.End, i.e. -1: it behaves like no_stream
    response = run(append(svc, "s", [proposed()], MAX_U64))
    assert response.success.current_revision == 0
    error = rpc_error(append(svc, "s", [proposed()], 2**63))
    assert error.code == StatusCode.UNKNOWN


def test_delete_of_only_metadata_stream_succeeds() -> None:
    store = new_store()
    store.append("$$s", ANY, [event("$metadata", b"{}")])
    response = run(service(store).Delete(delete_req("s", NO_STREAM), ctx()))
    assert response.position.commit_position == store.last_position
    assert shared_pb2.Empty() == EMPTY
