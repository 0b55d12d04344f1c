"""The v2 Streams service, called directly: AppendSession and AppendRecords semantics,
atomicity, consistency checks, size limits, ids, properties seen by v1 readers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from google.protobuf import struct_pb2

from esdb_wire.codec import v2_errors
from esdb_wire.protos import v2_shared_pb2, v2_streams_pb2
from esdb_wire.server.records import ANY, NO_STREAM, STREAM_EXISTS
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams_v2 import StreamsV2Service
from esdb_wire.transport.status import StatusCode, StatusError
from tests.server.helpers import aiter_of, ctx, event, new_store, records, run

AppendRequest = v2_streams_pb2.AppendRequest
AppendRecord = v2_streams_pb2.AppendRecord
JSON = v2_shared_pb2.SCHEMA_FORMAT_JSON
BYTES = v2_shared_pb2.SCHEMA_FORMAT_BYTES


def record(
    name: str = "Thing",
    data: bytes = b"{}",
    *,
    stream: str | None = None,
    record_id: str | None = None,
    fmt: int = JSON,
    properties: dict[str, Any] | None = None,
    schema_id: str | None = None,
) -> AppendRecord:
    message = AppendRecord(data=data)
    message.schema.name = name
    message.schema.format = fmt  # type: ignore[assignment]
    if schema_id is not None:
        message.schema.id = schema_id
    message.record_id = record_id or str(uuid.uuid4())
    if stream is not None:
        message.stream = stream
    if properties:
        struct = struct_pb2.Struct()
        struct.update(properties)
        for key, value in struct.fields.items():
            message.properties[key].CopyFrom(value)
    return message


def request(
    stream: str, messages: Sequence[AppendRecord] | None = None, expected: int | None = None
) -> AppendRequest:
    message = AppendRequest(stream=stream, records=messages or [record()])
    if expected is not None:
        message.expected_revision = expected
    return message


def session(
    store: EventStore, requests: Sequence[AppendRequest], **kwargs: Any
) -> v2_streams_pb2.AppendSessionResponse:
    return run(StreamsV2Service(store, **kwargs).AppendSession(aiter_of(requests), ctx()))


def append_records(
    store: EventStore,
    messages: Sequence[AppendRecord],
    checks: Sequence[tuple[str, int]] = (),
    **kwargs: Any,
) -> v2_streams_pb2.AppendRecordsResponse:
    message = v2_streams_pb2.AppendRecordsRequest(records=messages)
    for stream, expected in checks:
        check = message.checks.add().stream_state
        check.stream = stream
        check.expected_state = expected
    return run(StreamsV2Service(store, **kwargs).AppendRecords(message, ctx()))


def rich(error: pytest.ExceptionInfo[StatusError]) -> v2_errors.RichError:
    assert error.value.details_bin is not None
    decoded = v2_errors.decode_rich_error(error.value.details_bin)
    assert decoded is not None
    assert decoded.code is error.value.code
    assert decoded.message == error.value.message
    return decoded


def seed(store: EventStore, stream: str, count: int = 1) -> None:
    store.append(stream, ANY, [event() for _ in range(count)])


# ---- AppendSession ---------------------------------------------------------------------


def test_session_appends_to_many_streams_in_one_transaction() -> None:
    store = new_store()
    streams = [f"order-{i}" for i in range(10)]
    before = store.log_end
    response = session(store, [request(name, [record(), record()], NO_STREAM) for name in streams])
    assert [(o.stream, o.stream_revision) for o in response.output] == [
        (name, 1) for name in streams
    ]
    assert not response.output[0].HasField("position")  # the node sets only the total
    written = store.read_all_forwards(before, 100)
    assert [r.stream_name for r in written] == [name for name in streams for _ in (0, 1)]
    assert response.position == written[-1].position


def test_session_is_all_or_nothing() -> None:
    store = new_store()
    seed(store, "order-5", 3)
    streams = [f"order-{i}" for i in range(10)]
    before = store.log_end
    with pytest.raises(StatusError) as error:
        session(store, [request(name, expected=NO_STREAM) for name in streams])
    assert rich(error).detail == v2_errors.RevisionConflict("order-5", NO_STREAM, 2)
    assert error.value.code is StatusCode.FAILED_PRECONDITION
    assert error.value.message == (
        "Append failed due to a revision conflict on stream 'order-5'. "
        "Expected revision: -1. Actual revision: 2."
    )
    assert store.read_all_forwards(before, 100) == []
    assert all(store.last_revision(name) == -1 for name in streams if name != "order-5")


@pytest.mark.parametrize("second", ["Orders-1", "ORDERS-1", "orders-1"])
def test_a_stream_twice_in_a_session_is_rejected(second: str) -> None:
    store = new_store()
    with pytest.raises(StatusError) as error:
        session(store, [request("orders-1"), request("other"), request(second)])
    assert error.value.code is StatusCode.ABORTED
    assert rich(error).detail == v2_errors.DuplicateStreamInSession(second)
    assert store.last_revision("orders-1") == -1


def test_expected_revision_zero_is_checked_and_absent_means_any() -> None:
    store = new_store()
    seed(store, "s", 2)
    with pytest.raises(StatusError) as error:
        session(store, [request("s", expected=0)])
    assert rich(error).detail == v2_errors.RevisionConflict("s", 0, 1)
    response = session(store, [request("s")])  # no expected_revision: any
    assert response.output[0].stream_revision == 2


def test_exists_on_a_missing_stream_is_a_conflict() -> None:
    store = new_store()
    with pytest.raises(StatusError) as error:
        session(store, [request("t", expected=STREAM_EXISTS)])
    assert rich(error).detail == v2_errors.RevisionConflict("t", STREAM_EXISTS, -1)


def test_tombstoned_stream() -> None:
    store = new_store()
    seed(store, "gone")
    store.tombstone("gone", ANY)
    with pytest.raises(StatusError) as error:
        session(store, [request("ok"), request("gone")])
    assert error.value.code is StatusCode.FAILED_PRECONDITION
    assert rich(error).detail == v2_errors.StreamTombstoned("gone")
    assert store.last_revision("ok") == -1


def test_soft_deleted_stream_is_recreated() -> None:
    store = new_store()
    seed(store, "s", 2)
    store.delete("s", ANY)
    response = session(store, [request("s", expected=NO_STREAM)])
    assert response.output[0].stream_revision == 2
    assert [r.revision for r in records(store, "s", 0, 10)] == [2]


def test_a_resent_session_is_idempotent() -> None:
    store = new_store()
    requests = [request("a", [record(), record()], NO_STREAM), request("b", [record()], NO_STREAM)]
    first = session(store, requests)
    again = session(store, requests)
    assert [(o.stream, o.stream_revision) for o in again.output] == [("a", 1), ("b", 0)]
    assert again.position == first.position
    assert store.last_revision("a") == 1


def test_an_empty_session_fails() -> None:
    with pytest.raises(StatusError) as error:
        session(new_store(), [])
    assert error.value.code is StatusCode.FAILED_PRECONDITION
    decoded = rich(error)
    assert (decoded.reason, decoded.detail) == ("APPEND_SESSION_NO_REQUESTS", None)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (AppendRequest(stream="", records=[record()]), "Stream"),
        (AppendRequest(stream="$$", records=[record()]), "Stream"),
        (AppendRequest(stream="s"), "Records"),
        (AppendRequest(stream="s", records=[record()], expected_revision=-3), "ExpectedRevision"),
        (AppendRequest(stream="s", records=[record(record_id="nope")]), "RecordId"),
        (AppendRequest(stream="s", records=[record(name="")]), "Schema.Name"),
        (AppendRequest(stream="s", records=[record(name="a b")]), "Schema.Name"),
        (AppendRequest(stream="s", records=[record(fmt=0)]), "Schema.Format"),
        (AppendRequest(stream="s", records=[record(schema_id="x")]), "Schema.Id"),
    ],
)
def test_invalid_requests_are_bad_requests(message: AppendRequest, field: str) -> None:
    with pytest.raises(StatusError) as error:
        session(new_store(), [message])
    assert error.value.code is StatusCode.INVALID_ARGUMENT
    decoded = rich(error)
    assert (decoded.reason, decoded.domain) == ("BAD_REQUEST", "server")
    assert isinstance(decoded.detail, v2_errors.BadRequest)
    assert decoded.detail.violations[0].field == field
    assert error.value.message.startswith("The 'AppendRequest' is invalid: ")


def test_property_values_need_a_kind() -> None:
    message = record()
    message.properties["empty"].CopyFrom(struct_pb2.Value())
    with pytest.raises(StatusError) as error:
        session(new_store(), [request("s", [message])])
    assert "Property values must have a type set." in error.value.message


# ---- records as v1 events ----------------------------------------------------------------


def test_records_become_v1_events_with_schema_metadata() -> None:
    store = new_store()
    schema_id = str(uuid.uuid4())
    messages = [
        record("Placed", b'{"a":1}', properties={"user": "u1", "n": 2}),
        record("Blob", b"\x00", fmt=BYTES, schema_id=schema_id),
    ]
    session(store, [request("order-1", messages)])
    placed, blob = records(store, "order-1", 0, 10)
    assert (placed.event_type, placed.is_json, placed.data) == ("Placed", True, b'{"a":1}')
    assert json.loads(placed.custom_metadata) == {
        "user": "u1",
        "n": 2,
        "$schema.name": "Placed",
        "$schema.format": "Json",
    }
    assert placed.custom_metadata.startswith(b"{ ")
    assert placed.custom_metadata.endswith(
        b', "$schema.name": "Placed", "$schema.format": "Json" }'
    )
    assert (blob.event_type, blob.is_json) == ("Blob", False)
    assert json.loads(blob.custom_metadata) == {
        "$schema.format": "Bytes",
        "$schema.id": schema_id,
        "$schema.name": "Blob",
    }


def test_record_ids_are_kept_or_generated() -> None:
    store = new_store()
    given = uuid.uuid4()
    without = record()
    without.ClearField("record_id")
    session(store, [request("s", [record(record_id=str(given)), without])])
    first, second = records(store, "s", 0, 10)
    assert first.event_id == given
    assert second.event_id.version == 4


# ---- size limits ---------------------------------------------------------------------------


def test_record_size_limit() -> None:
    store = new_store()
    big = record("Big", b"x" * 100, properties={"k": "v"})
    with pytest.raises(StatusError) as error:
        session(store, [request("a"), request("b", [big])], max_record_size=100)
    assert error.value.code is StatusCode.INVALID_ARGUMENT
    detail = rich(error).detail
    assert isinstance(detail, v2_errors.RecordTooLarge)
    # data + the properties as a Struct + the schema name
    struct_size = struct_pb2.Struct(fields=dict(big.properties)).ByteSize()
    assert (detail.stream, detail.record_id, detail.max_size) == ("b", big.record_id, 100)
    assert detail.size == 100 + struct_size + len("Big")
    assert error.value.message.startswith(f"The size of record {big.record_id} (")
    assert store.last_revision("a") == -1


def test_transaction_size_limit() -> None:
    store = new_store()
    messages = [record("T", b"x" * 40) for _ in range(3)]
    with pytest.raises(StatusError) as error:
        session(
            store, [request("a", messages[:2]), request("b", messages[2:])], max_append_size=100
        )
    assert error.value.code is StatusCode.ABORTED
    assert rich(error).detail == v2_errors.TransactionTooLarge(123, 100)
    assert error.value.message == (
        "Transaction size (123.000 B) exceeded the maximum allowed size of 100.000 B by "
        "23.000 B, after 3 record(s)."
    )
    assert store.last_revision("a") == -1


def test_the_store_limit_is_the_default_transaction_limit() -> None:
    store = new_store(max_append_size=50)
    with pytest.raises(StatusError) as error:
        session(store, [request("a", [record("T", b"x" * 60)])])
    assert rich(error).detail == v2_errors.TransactionTooLarge(61, 50)


# ---- AppendRecords -----------------------------------------------------------------------------


def test_append_records_interleaves_streams_in_request_order() -> None:
    store = new_store()
    before = store.log_end
    messages = [record(f"T{i}", stream=name) for i, name in enumerate("abab")]
    response = append_records(store, messages, [("a", NO_STREAM)])
    assert [(r.stream, r.revision) for r in response.revisions] == [("a", 1), ("b", 1)]
    log = store.read_all_forwards(before, 10)
    assert [(r.stream_name, r.event_type) for r in log] == [
        ("a", "T0"),
        ("b", "T1"),
        ("a", "T2"),
        ("b", "T3"),
    ]
    assert response.position == log[-1].position


def test_one_failing_check_writes_nothing_to_ten_streams() -> None:
    store = new_store()
    seed(store, "check-me", 4)
    streams = [f"order-{i}" for i in range(10)]
    before = store.log_end
    messages = [record(stream=name) for name in streams]
    checks = [(name, NO_STREAM) for name in streams] + [("check-me", 1)]
    with pytest.raises(StatusError) as error:
        append_records(store, messages, checks)
    assert rich(error).detail == v2_errors.ConsistencyViolation(
        (v2_errors.StreamStateViolation(10, "check-me", 1, 3),)
    )
    assert store.read_all_forwards(before, 100) == []
    assert error.value.message == (
        "Append failed due to consistency violations.\n\n"
        " - Stream 'check-me' is at revision 3, expected revision 1."
    )
    checks[-1] = ("check-me", 3)
    response = append_records(store, messages, checks)
    assert sorted(r.stream for r in response.revisions) == sorted(streams)


def test_every_failing_check_is_reported() -> None:
    store = new_store()
    seed(store, "exists", 2)
    seed(store, "deleted", 1)
    store.delete("deleted", ANY)
    seed(store, "gone")
    store.tombstone("gone", ANY)
    checks = [
        ("exists", NO_STREAM),  # actual revision
        ("missing", STREAM_EXISTS),  # -1
        ("deleted", STREAM_EXISTS),  # -5
        ("gone", 0),  # -6
        ("exists", 1),  # ok ... but a duplicate check: rejected below
    ]
    with pytest.raises(StatusError) as error:
        append_records(store, [record(stream="w")], checks)
    assert rich(error).reason == "BAD_REQUEST"
    with pytest.raises(StatusError) as error:
        append_records(store, [record(stream="w")], checks[:4])
    detail = rich(error).detail
    assert isinstance(detail, v2_errors.ConsistencyViolation)
    assert [(v.check_index, v.actual_state) for v in detail.violations] == [
        (0, 1),
        (1, -1),
        (2, -5),
        (3, -6),
    ]
    assert store.last_revision("w") == -1


@pytest.mark.parametrize(
    ("state", "expected", "actual"),
    [
        # (stream state, expected, actual reported or None when the check holds)
        ("missing", NO_STREAM, None),
        ("missing", 0, -1),
        ("missing", -5, -1),
        ("missing", -6, -1),
        ("at-2", 2, None),
        ("at-2", STREAM_EXISTS, None),
        ("at-2", -5, 2),
        ("at-2", -6, 2),
        ("deleted-at-0", NO_STREAM, None),
        ("deleted-at-0", -5, None),
        ("deleted-at-0", 0, None),
        ("deleted-at-0", 3, 0),
        ("deleted-at-0", STREAM_EXISTS, -5),
        ("deleted-at-0", -6, 0),
        ("tombstoned", -6, None),
        ("tombstoned", NO_STREAM, None),
        ("tombstoned", -5, -6),
        ("tombstoned", STREAM_EXISTS, -6),
    ],
)
def test_check_only_matrix(state: str, expected: int, actual: int | None) -> None:
    store = new_store()
    if state == "at-2":
        seed(store, state, 3)
    elif state == "deleted-at-0":
        seed(store, state)
        store.delete(state, ANY)
    elif state == "tombstoned":
        store.tombstone(state, ANY)
    messages = [record(stream="writer")]
    if actual is None:
        append_records(store, messages, [(state, expected)])
        assert store.last_revision("writer") == 0
        return
    with pytest.raises(StatusError) as error:
        append_records(store, messages, [(state, expected)])
    assert rich(error).detail == v2_errors.ConsistencyViolation(
        (v2_errors.StreamStateViolation(0, state, expected, actual),)
    )


def test_written_streams_must_not_be_tombstoned() -> None:
    store = new_store()
    store.tombstone("gone", ANY)
    for checks in ([], [("gone", NO_STREAM)], [("gone", -6)]):
        with pytest.raises(StatusError) as error:
            append_records(store, [record(stream="gone")], checks)
        detail = rich(error).detail
        assert isinstance(detail, v2_errors.ConsistencyViolation)
        assert detail.violations[0].actual_state == -6


def test_writing_a_deleted_stream_expected_deleted_recreates_it() -> None:
    store = new_store()
    seed(store, "s", 2)
    store.delete("s", ANY)
    response = append_records(store, [record(stream="s")], [("s", -5)])
    assert [(r.stream, r.revision) for r in response.revisions] == [("s", 2)]
    assert not store.is_soft_deleted("s")


@pytest.mark.parametrize(
    ("checks", "field"),
    [
        ([("s", ANY)], "Checks"),
        ([("s", -3)], "Checks"),
        ([("", 0)], "Stream"),
        ([("s", 0), ("S", 1)], "Checks"),
    ],
)
def test_invalid_checks(checks: list[tuple[str, int]], field: str) -> None:
    with pytest.raises(StatusError) as error:
        append_records(new_store(), [record(stream="w")], checks)
    decoded = rich(error)
    assert decoded.reason == "BAD_REQUEST"
    assert isinstance(decoded.detail, v2_errors.BadRequest)
    assert decoded.detail.violations[0].field == field
    assert error.value.message.startswith("The 'AppendRecordsRequest' is invalid: ")


def test_records_need_a_stream_and_a_request_needs_records() -> None:
    for messages in ([record()], []):
        with pytest.raises(StatusError) as error:
            append_records(new_store(), messages)
        assert rich(error).reason == "BAD_REQUEST"


def test_append_records_size_limits() -> None:
    store = new_store()
    with pytest.raises(StatusError) as error:
        append_records(store, [record("T", b"x" * 20, stream="a")], max_record_size=10)
    detail = rich(error).detail
    assert isinstance(detail, v2_errors.RecordTooLarge)
    assert detail.stream == "a"
    messages = [record("T", b"x" * 20, stream=s) for s in "abc"]
    with pytest.raises(StatusError) as error:
        append_records(store, messages, max_append_size=50)
    assert rich(error).detail == v2_errors.TransactionTooLarge(63, 50)


# ---- registration ----------------------------------------------------------------------------


def test_server_features_and_secure_policy_list_the_v2_service() -> None:
    from esdb_wire.server import auth  # noqa: PLC0415
    from esdb_wire.server.features import supported_methods  # noqa: PLC0415

    service = "kurrentdb.protocol.v2.streams.StreamsService"
    pairs = [(service, "AppendSession"), (service, "AppendRecords"), ("other.Thing", "Do")]
    listed = supported_methods(pairs, "25.0.0").methods
    assert [(m.service_name, m.method_name, list(m.features)) for m in listed] == [
        ("kurrentdb.protocol.v2.streams.streamsservice", "appendsession", []),
        ("kurrentdb.protocol.v2.streams.streamsservice", "appendrecords", []),
    ]
    assert auth.policy_of(f"/{service}/AppendSession") == auth.SERVICE
