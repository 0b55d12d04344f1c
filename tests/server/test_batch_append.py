"""Streams.BatchAppend: correlation, chunking, per-write Status errors, deadlines."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from google.protobuf import duration_pb2, timestamp_pb2

from esdb_wire.protos import shared_pb2, streams_pb2
from esdb_wire.protos.wire_names import unpack_any
from esdb_wire.server.records import ANY, NO_STREAM, STREAM_EXISTS
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams import StreamsService
from esdb_wire.transport.status import StatusCode
from tests.server.helpers import (
    aiter_of,
    ctx,
    event,
    ident,
    new_store,
    proposed,
    run,
    service,
)

BatchAppendReq = streams_pb2.BatchAppendReq
BatchAppendResp = streams_pb2.BatchAppendResp


def batch_message(
    event_type: str | None = "Thing", data: bytes = b"{}"
) -> BatchAppendReq.ProposedMessage:
    message = proposed(event_type, data)
    return BatchAppendReq.ProposedMessage(
        id=message.id, metadata=dict(message.metadata), data=message.data
    )


def correlation() -> shared_pb2.UUID:
    return shared_pb2.UUID(string=str(uuid.uuid4()))


def options(
    stream: str,
    expected: int = ANY,
    *,
    deadline: duration_pb2.Duration | None = None,
    deadline_21_10_0: timestamp_pb2.Timestamp | None = None,
) -> BatchAppendReq.Options:
    batch_options = BatchAppendReq.Options(
        stream_identifier=ident(stream), deadline=deadline, deadline_21_10_0=deadline_21_10_0
    )
    names = {ANY: "any", NO_STREAM: "no_stream", STREAM_EXISTS: "stream_exists"}
    if expected in names:
        getattr(batch_options, names[expected]).SetInParent()
    else:
        batch_options.stream_position = expected
    return batch_options


def request(
    correlation_id: shared_pb2.UUID,
    batch_options: BatchAppendReq.Options | None = None,
    messages: Iterable[BatchAppendReq.ProposedMessage] = (),
    *,
    final: bool = True,
) -> BatchAppendReq:
    req = BatchAppendReq(
        correlation_id=correlation_id, proposed_messages=list(messages), is_final=final
    )
    if batch_options is not None:
        req.options.CopyFrom(batch_options)
    return req


def batch(svc: StreamsService, requests: list[BatchAppendReq]) -> list[BatchAppendResp]:
    async def main() -> list[BatchAppendResp]:
        return [r async for r in svc.BatchAppend(aiter_of(requests), ctx())]

    return run(main())


def test_batch_append_success() -> None:
    store = new_store()
    cid = correlation()
    (response,) = batch(service(store), [request(cid, options("s"), [batch_message()] * 1)])
    assert response.correlation_id == cid
    assert response.stream_identifier == ident("s")
    assert response.WhichOneof("result") == "success"
    assert response.success.current_revision == 0
    assert response.success.position.commit_position == store.last_position
    assert response.success.position.prepare_position == store.last_position
    assert response.WhichOneof("expected_stream_position") is None


def test_chunks_with_the_same_correlation_are_written_on_is_final() -> None:
    store = new_store()
    cid = correlation()
    requests = [
        request(cid, options("s", NO_STREAM), [batch_message()], final=False),
        request(cid, None, [batch_message(), batch_message()], final=False),
        request(cid, None, [batch_message()], final=True),
    ]
    (response,) = batch(service(store), requests)
    assert response.success.current_revision == 3
    assert store.last_revision("s") == 3


def test_interleaved_writes_reply_in_completion_order() -> None:
    store = new_store()
    first, second = correlation(), correlation()
    requests = [
        request(first, options("a"), [batch_message()], final=False),
        request(second, options("b"), [batch_message()], final=True),
        request(first, None, [batch_message()], final=True),
    ]
    replies = batch(service(store), requests)
    assert [r.correlation_id for r in replies] == [second, first]
    assert [r.success.current_revision for r in replies] == [0, 1]


def test_empty_final_write_to_a_missing_stream_replies_no_stream() -> None:
    (response,) = batch(service(), [request(correlation(), options("s", NO_STREAM))])
    assert response.success.WhichOneof("current_revision_option") == "no_stream"
    assert response.success.WhichOneof("position_option") == "position"


def error_status(response: BatchAppendResp) -> tuple[int, str]:
    assert response.WhichOneof("result") == "error"
    return response.error.code, response.error.message


def test_wrong_expected_version_is_a_status_with_details() -> None:
    store = new_store()
    store.append("s", ANY, [event(), event()])
    svc = service(store)
    cases = [(5, "expected_stream_position"), (NO_STREAM, "expected_no_stream")]
    for expected, field in cases:
        (response,) = batch(
            svc, [request(correlation(), options("s", expected), [batch_message()])]
        )
        assert error_status(response) == (StatusCode.ALREADY_EXISTS, "WrongExpectedVersion")
        details = response.error.details
        assert details.type_url == "type.googleapis.com/event_store.client.WrongExpectedVersion"
        wev = unpack_any(details, shared_pb2.WrongExpectedVersion)
        assert wev is not None
        assert wev.current_stream_revision == 1
        assert wev.WhichOneof("expected_stream_position_option") == field
        assert response.stream_identifier == ident("s")
    (missing,) = batch(svc, [request(correlation(), options("new", STREAM_EXISTS))])
    wev = unpack_any(missing.error.details, shared_pb2.WrongExpectedVersion)
    assert wev is not None
    assert wev.WhichOneof("current_stream_revision_option") == "current_no_stream"
    assert wev.WhichOneof("expected_stream_position_option") == "expected_stream_exists"


def test_wrong_expected_version_any_from_corrupted_idempotency() -> None:
    store = new_store()
    message = batch_message()
    store.append("s", ANY, [event(event_id=uuid.UUID(message.id.string))])
    (response,) = batch(
        service(store), [request(correlation(), options("s"), [message, batch_message()])]
    )
    wev = unpack_any(response.error.details, shared_pb2.WrongExpectedVersion)
    assert wev is not None
    assert wev.WhichOneof("expected_stream_position_option") == "expected_any"


def test_stream_deleted_is_a_not_found_status() -> None:
    store = new_store()
    store.tombstone("s", ANY)
    (response,) = batch(service(store), [request(correlation(), options("s"), [batch_message()])])
    assert error_status(response) == (StatusCode.NOT_FOUND, "StreamDeleted")
    detail = unpack_any(response.error.details, shared_pb2.StreamDeleted)
    assert detail is not None
    assert detail.stream_identifier == ident("s")


def test_non_positive_deadline_is_an_immediate_timeout() -> None:
    store = new_store()
    svc = service(store)
    zero = options("s", deadline=duration_pb2.Duration(seconds=0))
    past = timestamp_pb2.Timestamp()
    past.FromNanoseconds(time.time_ns() - 1_000_000_000)
    expired = options("s", deadline_21_10_0=past)
    for batch_options in (zero, expired):
        cid = correlation()
        requests = [
            request(cid, batch_options, [batch_message()], final=False),
            request(cid, None, [batch_message()], final=True),
        ]
        (response,) = batch(svc, requests)
        assert response.correlation_id == cid
        assert error_status(response) == (StatusCode.DEADLINE_EXCEEDED, "Timeout")
        assert unpack_any(response.error.details, shared_pb2.Timeout) is not None
        assert response.stream_identifier == ident("s")
    assert store.last_revision("s") == -1


def test_positive_deadlines_write_normally() -> None:
    future = timestamp_pb2.Timestamp()
    future.FromNanoseconds(time.time_ns() + 10_000_000_000)
    for batch_options in (
        options("s", deadline=duration_pb2.Duration(seconds=5)),
        options("s", deadline_21_10_0=future),
    ):
        (response,) = batch(service(), [request(correlation(), batch_options, [batch_message()])])
        assert response.WhichOneof("result") == "success"


def test_maximum_append_size_fails_the_write_at_once() -> None:
    store = new_store(max_append_size=50)
    cid = correlation()
    requests = [
        request(cid, options("s"), [batch_message(data=b"x" * 40)], final=False),
        request(cid, None, [batch_message(data=b"x" * 40)], final=False),
        request(cid, None, [batch_message()], final=True),
    ]
    (response,) = batch(service(store), requests)
    assert error_status(response) == (StatusCode.INVALID_ARGUMENT, "MaximumAppendSizeExceeded")
    detail = unpack_any(response.error.details, shared_pb2.MaximumAppendSizeExceeded)
    assert detail is not None
    assert detail.maxAppendSize == 50
    assert store.last_revision("s") == -1


def test_missing_stream_identifier_is_a_bad_request() -> None:
    cid = correlation()
    no_stream = BatchAppendReq.Options()
    no_stream.any.SetInParent()
    (response,) = batch(service(), [request(cid, no_stream, [batch_message()])])
    assert error_status(response) == (StatusCode.INVALID_ARGUMENT, "BadRequest")
    detail = unpack_any(response.error.details, shared_pb2.BadRequest)
    assert detail is not None
    assert detail.message == "Required field StreamIdentifier not set."


def test_missing_metadata_or_expectation_is_a_bad_request() -> None:
    svc = service()
    (no_type,) = batch(
        svc, [request(correlation(), options("s"), [batch_message(event_type=None)])]
    )
    assert error_status(no_type) == (StatusCode.INVALID_ARGUMENT, "BadRequest")
    detail = unpack_any(no_type.error.details, shared_pb2.BadRequest)
    assert detail is not None
    assert detail.message == "The given key was not present in the dictionary."
    assert no_type.stream_identifier == ident("s")
    no_expectation = BatchAppendReq.Options(stream_identifier=ident("s"))
    (response,) = batch(svc, [request(correlation(), no_expectation, [batch_message()])])
    detail = unpack_any(response.error.details, shared_pb2.BadRequest)
    assert detail is not None
    assert detail.message == (
        "'None' is not a valid "
        "EventStore.Client.Streams.BatchAppendReq+Types+Options+ExpectedStreamPositionOneofCase"
    )


def test_messages_for_an_unknown_correlation_are_ignored() -> None:
    store: EventStore = new_store()
    assert batch(service(store), [request(correlation(), None, [batch_message()])]) == []
    assert store.last_revision("s") == -1


def test_empty_stream_name_is_a_bad_request() -> None:
    (response,) = batch(service(), [request(correlation(), options(""), [batch_message()])])
    detail = unpack_any(response.error.details, shared_pb2.BadRequest)
    assert detail is not None
    assert detail.message == "Value cannot be null. (Parameter 'eventStreamId')"


def test_bad_correlation_id_is_a_bad_request() -> None:
    bad = request(shared_pb2.UUID(string="nope"), options("s"), [batch_message()])
    (response,) = batch(service(), [bad])
    assert error_status(response) == (StatusCode.INVALID_ARGUMENT, "BadRequest")
    assert response.stream_identifier == ident("s")
