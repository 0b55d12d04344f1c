"""The v2 Streams codec: our objects ⇄ ``kurrentdb.protocol.v2.streams`` messages, record
properties as JSON, caught-up fields, feature detection, and rich errors ⇄ typed info."""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
from google.protobuf import struct_pb2

from esdb_wire import exceptions as exc
from esdb_wire.codec import v2, v2_errors
from esdb_wire.events import NewEvent
from esdb_wire.protos import (
    error_details_pb2,
    kurrent_errors_pb2,
    serverfeatures_pb2,
    streams_pb2,
    v2_errors_pb2,
    v2_shared_pb2,
    v2_streams_pb2,
)
from esdb_wire.protos.wire_names import pack_any
from esdb_wire.records import (
    STREAM_DELETED,
    STREAM_TOMBSTONED,
    AppendRecordsResult,
    NewEvents,
    NewRecord,
    StreamPositionResult,
    StreamStateCheck,
)
from esdb_wire.streams import StreamState
from esdb_wire.transport.status import StatusCode, StatusError

V2 = v2_errors_pb2


# ---- requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, 0), (7, 7), (StreamState.NO_STREAM, -1), (StreamState.ANY, -2), (StreamState.EXISTS, -4)],
)
def test_expected_revision(value: int | StreamState, encoded: int) -> None:
    assert v2.expected_revision(value) == encoded


@pytest.mark.parametrize("value", [-1, -5, True])
def test_expected_revision_rejects_raw_negatives(value: int) -> None:
    with pytest.raises(exc.ProgrammingError):
        v2.expected_revision(value)


def test_expected_state_takes_deleted_and_tombstoned() -> None:
    assert v2.expected_state(STREAM_DELETED) == -5
    assert v2.expected_state(STREAM_TOMBSTONED) == -6
    assert v2.expected_state(StreamState.EXISTS) == -4
    assert v2.expected_state(3) == 3


def test_append_request_always_encodes_the_expected_revision_zero_included() -> None:
    event = NewEvent("Placed", b'{"a":1}', metadata=b'{"user":"u1","n":2}')
    request = v2.append_request(NewEvents("order-1", [event], 0))
    encoded = request.SerializeToString()
    assert b"\x18\x00" in encoded  # field 3, sint64 0: present
    decoded = v2_streams_pb2.AppendRequest.FromString(encoded)
    assert decoded.HasField("expected_revision")
    assert decoded.expected_revision == 0
    assert decoded.stream == "order-1"
    (record,) = decoded.records
    assert record.record_id == str(event.id)
    assert record.schema.name == "Placed"
    assert record.schema.format == v2_shared_pb2.SCHEMA_FORMAT_JSON
    assert record.data == b'{"a":1}'
    assert record.properties["user"].string_value == "u1"
    assert record.properties["n"].number_value == 2
    assert not record.HasField("stream")  # AppendSession names the stream once


def test_absent_expected_revision_means_any() -> None:
    decoded = v2_streams_pb2.AppendRequest.FromString(
        v2_streams_pb2.AppendRequest(stream="s").SerializeToString()
    )
    assert not decoded.HasField("expected_revision")


def test_append_requests_one_per_stream() -> None:
    batch = [NewEvents(f"s-{i}", [NewEvent("T", b"{}")], StreamState.ANY) for i in range(3)]
    requests = [v2_streams_pb2.AppendRequest.FromString(r) for r in v2.append_requests(batch)]
    assert [r.stream for r in requests] == ["s-0", "s-1", "s-2"]
    assert [r.expected_revision for r in requests] == [-2, -2, -2]
    assert len(v2.append_requests(batch[0])) == 1


def test_binary_content_is_the_bytes_format() -> None:
    event = NewEvent("Blob", b"\x00\x01", content_type="application/octet-stream")
    record = v2.append_record(event, "blobs")
    assert record.schema.format == v2_shared_pb2.SCHEMA_FORMAT_BYTES
    assert record.stream == "blobs"


@pytest.mark.parametrize("metadata", [b"\xff\xfe", b'"text"', b"[1]", b"{bad"])
def test_metadata_must_be_a_json_object(metadata: bytes) -> None:
    with pytest.raises(exc.ProgrammingError):
        v2.properties_of(metadata)


def test_properties_keep_json_types() -> None:
    properties = v2.properties_of(b'{"s":"x","b":true,"z":null,"l":[1,"a"],"o":{"k":1.5}}')
    assert properties["s"].string_value == "x"
    assert properties["b"].bool_value is True
    assert properties["z"].WhichOneof("kind") == "null_value"
    assert [v.WhichOneof("kind") for v in properties["l"].list_value.values] == [
        "number_value",
        "string_value",
    ]
    assert properties["o"].struct_value.fields["k"].number_value == 1.5


def test_append_records_request_keeps_order_and_checks() -> None:
    records = [
        NewRecord("a-1", "T1", b"{}"),
        NewRecord("b-1", "T2", b"x", content_type="application/octet-stream"),
        NewRecord("a-1", "T3", b"{}"),
    ]
    checks = [
        StreamStateCheck("a-1", StreamState.NO_STREAM),
        StreamStateCheck("c-1", 0),
        StreamStateCheck("d-1", STREAM_TOMBSTONED),
    ]
    request = v2.append_records_request(records, checks)
    decoded = v2_streams_pb2.AppendRecordsRequest.FromString(request)
    assert [(r.stream, r.schema.name) for r in decoded.records] == [
        ("a-1", "T1"),
        ("b-1", "T2"),
        ("a-1", "T3"),
    ]
    assert [r.record_id for r in decoded.records] == [str(r.id) for r in records]
    states = [(c.stream_state.stream, c.stream_state.expected_state) for c in decoded.checks]
    assert states == [("a-1", -1), ("c-1", 0), ("d-1", -6)]
    assert decoded.checks[1].stream_state.HasField("expected_state")  # 0 is encoded
    single = v2_streams_pb2.AppendRecordsRequest.FromString(
        v2.append_records_request(records[0], checks[0])
    )
    assert len(single.records) == 1
    assert len(single.checks) == 1
    unchecked = v2_streams_pb2.AppendRecordsRequest.FromString(v2.append_records_request(records))
    assert len(unchecked.checks) == 0


def test_new_record_equality_is_by_id() -> None:
    ident = uuid.uuid4()
    assert NewRecord("a", "T", b"", id=ident) == NewRecord("b", "U", b"x", id=ident)
    assert NewRecord("a", "T", b"") != NewRecord("a", "T", b"")


# ---- responses -----------------------------------------------------------------------


def test_append_session_result() -> None:
    response = v2_streams_pb2.AppendSessionResponse(position=1234)
    response.output.add(stream="a", stream_revision=0)
    response.output.add(stream="b", stream_revision=4)
    result = v2.append_session_result(response.SerializeToString())
    assert result.commit_position == 1234
    assert result.stream_positions == (StreamPositionResult("a", 0), StreamPositionResult("b", 4))


def test_append_records_result() -> None:
    response = v2_streams_pb2.AppendRecordsResponse(position=99)
    response.revisions.add(stream="a", revision=2)
    assert v2.append_records_result(response.SerializeToString()) == AppendRecordsResult(
        99, (StreamPositionResult("a", 2),)
    )


def test_v2_methods_from_server_features() -> None:
    supported = serverfeatures_pb2.SupportedMethods()
    supported.methods.add(method_name="appendsession", service_name=v2.SERVICE_NAME)
    supported.methods.add(method_name="appendrecords", service_name=v2.SERVICE_NAME)
    supported.methods.add(method_name="read", service_name="event_store.client.streams.streams")
    assert v2.v2_methods(supported.SerializeToString()) == {"appendsession", "appendrecords"}
    assert v2.v2_methods(b"") == set()


def test_subscription_status_fields() -> None:
    response = streams_pb2.ReadResp()
    caught_up = response.caught_up
    caught_up.timestamp.seconds = 1_700_000_000
    caught_up.timestamp.nanos = 123_456_000
    caught_up.stream_revision = 0
    status = v2.subscription_status(response)
    assert status is not None
    assert status.kind == "caught_up"
    assert status.timestamp == datetime.datetime(
        2023, 11, 14, 22, 13, 20, 123456, tzinfo=datetime.timezone.utc
    )
    assert status.stream_revision == 0
    assert status.commit_position is None
    behind = streams_pb2.ReadResp()
    behind.fell_behind.position.commit_position = 10
    behind.fell_behind.position.prepare_position = 10
    status = v2.subscription_status(behind)
    assert status is not None
    assert status.kind == "fell_behind"
    assert (status.timestamp, status.stream_revision) == (None, None)
    assert (status.commit_position, status.prepare_position) == (10, 10)
    old = v2.subscription_status(streams_pb2.ReadResp(caught_up=streams_pb2.ReadResp.CaughtUp()))
    assert old is not None
    assert old.timestamp is None
    assert v2.subscription_status(streams_pb2.ReadResp(last_stream_position=3)) is None


# ---- properties as v1 metadata ---------------------------------------------------------


def test_record_metadata_json_layout_and_order() -> None:
    properties = v2.properties_of(b'{"user":"u1","n":2,"x":1.5,"f":false}')
    text = v2.record_metadata(properties, "Placed", v2_shared_pb2.SCHEMA_FORMAT_JSON)
    assert text == (
        b'{ "user": "u1", "n": 2, "x": 1.5, "f": false, '
        b'"$schema.name": "Placed", "$schema.format": "Json" }'
    )
    schema_id = str(uuid.uuid4())
    text = v2.record_metadata({}, "Blob", v2_shared_pb2.SCHEMA_FORMAT_BYTES, schema_id)
    assert json.loads(text) == {
        "$schema.format": "Bytes",
        "$schema.id": schema_id,
        "$schema.name": "Blob",
    }
    assert text.startswith(b'{ "$schema.format": "Bytes", "$schema.id"')


def test_record_metadata_escapes_like_dotnet() -> None:
    properties = {"k": struct_pb2.Value(string_value="<a&b='c'>\u00e9\n")}
    text = v2.record_metadata(properties, "T", v2_shared_pb2.SCHEMA_FORMAT_JSON)
    assert text.startswith(b'{ "k": "\\u003ca\\u0026b\\u003d\\u0027c\\u0027\\u003e\xc3\xa9\\n"')
    assert json.loads(text)["k"] == "<a&b='c'>\u00e9\n"


def test_properties_json_nesting_and_numbers() -> None:
    properties = v2.properties_of(b'{"o":{},"l":[],"m":[{"a":null}],"big":1e20,"tiny":1.5e-7}')
    text = v2.properties_json(properties).decode()
    assert text == ('{ "o": { }, "l": [ ], "m": [ { "a": null } ], "big": 1E+20, "tiny": 1.5E-07 }')


def test_unrenderable_properties_become_a_properties_error() -> None:
    properties = {"bad": struct_pb2.Value(), "nan": struct_pb2.Value(number_value=float("nan"))}
    document = json.loads(v2.record_metadata(properties, "T", v2_shared_pb2.SCHEMA_FORMAT_JSON))
    assert document["$schema.name"] == "T"
    assert document["$schema.format"] == "Json"
    assert document["$propertiesError"].startswith("Could not render record properties: ")


# ---- rich errors -------------------------------------------------------------------------


def _encoded(reason: str, detail: object, domain: str = "streams") -> bytes:
    code = v2_errors.STATUS_CODES[(domain, reason)]
    return v2_errors.encode_rich_error(code, "text", reason, domain, [detail])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("reason", "detail", "expected"),
    [
        (
            "STREAM_REVISION_CONFLICT",
            V2.StreamRevisionConflictErrorDetails(
                stream="s", expected_revision=0, actual_revision=-1
            ),
            v2_errors.RevisionConflict("s", 0, -1),
        ),
        (
            "STREAM_DELETED",
            V2.StreamDeletedErrorDetails(stream="s"),
            v2_errors.StreamDeleted("s"),
        ),
        (
            "STREAM_TOMBSTONED",
            V2.StreamTombstonedErrorDetails(stream="s"),
            v2_errors.StreamTombstoned("s"),
        ),
        (
            "APPEND_RECORD_SIZE_EXCEEDED",
            V2.AppendRecordSizeExceededErrorDetails(stream="s", record_id="r", size=9, max_size=8),
            v2_errors.RecordTooLarge("s", "r", 9, 8),
        ),
        (
            "APPEND_TRANSACTION_SIZE_EXCEEDED",
            V2.AppendTransactionSizeExceededErrorDetails(size=9, max_size=8),
            v2_errors.TransactionTooLarge(9, 8),
        ),
        (
            "STREAM_ALREADY_IN_APPEND_SESSION",
            V2.StreamAlreadyInAppendSessionErrorDetails(stream="S"),
            v2_errors.DuplicateStreamInSession("S"),
        ),
        (
            "STREAM_NOT_FOUND",
            V2.StreamNotFoundErrorDetails(stream="s"),
            v2_errors.StreamNotFound("s"),
        ),
    ],
)
def test_streams_errors_decode_to_typed_details(
    reason: str, detail: object, expected: v2_errors.ErrorDetail
) -> None:
    decoded = v2_errors.decode_rich_error(_encoded(reason, detail))
    assert decoded is not None
    assert decoded.reason == reason
    assert decoded.domain == "streams"
    assert decoded.code is v2_errors.STATUS_CODES[("streams", reason)]
    assert decoded.message == "text"
    assert decoded.detail == expected


def test_consistency_violation_decodes_every_violation() -> None:
    details = V2.AppendConsistencyViolationErrorDetails()
    for index, actual in enumerate((-1, -5, -6, 3)):
        details.violations.add(
            check_index=index,
            stream_state=V2.ConsistencyViolation.StreamStateViolation(
                stream=f"s{index}", expected_state=0, actual_state=actual
            ),
        )
    decoded = v2_errors.decode_rich_error(_encoded("APPEND_CONSISTENCY_VIOLATION", details))
    assert decoded is not None
    assert decoded.code is StatusCode.FAILED_PRECONDITION
    assert decoded.detail == v2_errors.ConsistencyViolation(
        tuple(
            v2_errors.StreamStateViolation(i, f"s{i}", 0, actual)
            for i, actual in enumerate((-1, -5, -6, 3))
        )
    )


def test_server_domain_errors() -> None:
    denied = kurrent_errors_pb2.AccessDeniedErrorDetails(operation="streams:write:s", username="u")
    decoded = v2_errors.decode_rich_error(_encoded("ACCESS_DENIED", denied, "server"))
    assert decoded is not None
    assert decoded.code is StatusCode.PERMISSION_DENIED
    assert decoded.detail == v2_errors.AccessDenied("streams:write:s", "u", None)
    bad = error_details_pb2.BadRequest()
    bad.field_violations.add(field="Stream", description="Stream must not be empty.")
    decoded = v2_errors.decode_rich_error(_encoded("BAD_REQUEST", bad, "server"))
    assert decoded is not None
    assert decoded.code is StatusCode.INVALID_ARGUMENT
    assert decoded.detail == v2_errors.BadRequest(
        (v2_errors.FieldViolation("Stream", "Stream must not be empty."),)
    )
    leader = kurrent_errors_pb2.NotLeaderNodeErrorDetails()
    leader.current_leader.host = "node2"
    leader.current_leader.port = 2113
    decoded = v2_errors.decode_rich_error(_encoded("NOT_LEADER_NODE", leader, "server"))
    assert decoded is not None
    assert decoded.detail == v2_errors.NotLeader("node2", 2113, None)


def test_error_info_comes_first_and_unknown_details_are_skipped() -> None:
    status = error_details_pb2.RichStatus(code=9, message="m")
    status.details.append(pack_any(error_details_pb2.RetryInfo()))
    status.details.append(pack_any(error_details_pb2.ErrorInfo(reason="X", domain="streams")))
    status.details.append(pack_any(V2.StreamTombstonedErrorDetails(stream="s")))
    decoded = v2_errors.decode_rich_error(status.SerializeToString())
    assert decoded is not None
    assert (decoded.reason, decoded.detail) == ("X", v2_errors.StreamTombstoned("s"))


def test_no_error_info_is_not_a_rich_error() -> None:
    status = error_details_pb2.RichStatus(code=9, message="m")
    status.details.append(pack_any(V2.StreamTombstonedErrorDetails(stream="s")))
    assert v2_errors.decode_rich_error(status.SerializeToString()) is None
    assert v2_errors.decode_rich_error(b"\xff\xff\xff") is None


def test_a_v1_status_trailer_is_not_a_rich_error() -> None:
    """EventStoreDB's own Status (a single Any) parses, but has no ErrorInfo."""
    from esdb_wire.protos import shared_pb2, status_pb2  # noqa: PLC0415

    v1 = status_pb2.Status(message="m", details=pack_any(shared_pb2.AccessDenied()))
    assert v2_errors.decode_rich_error(v1.SerializeToString()) is None


def test_rich_error_of_a_transport_error() -> None:
    data = _encoded("STREAM_TOMBSTONED", V2.StreamTombstonedErrorDetails(stream="s"))
    error = StatusError(StatusCode.FAILED_PRECONDITION, "text", details_bin=data)
    decoded = v2_errors.rich_error_of(error)
    assert decoded is not None
    assert decoded.detail == v2_errors.StreamTombstoned("s")
    assert v2_errors.rich_error_of(StatusError(StatusCode.UNKNOWN, "x")) is None


def test_reasons_are_the_enum_names_without_prefix() -> None:
    """As the node derives them (ErrorExtensions.GetErrorMetadata)."""
    streams = {
        value.name.removeprefix("STREAMS_ERROR_")
        for value in V2.StreamsError.DESCRIPTOR.values
        if value.number
    }
    server = {
        value.name.removeprefix("SERVER_ERROR_")
        for value in kurrent_errors_pb2.ServerError.DESCRIPTOR.values
        if value.number
    }
    assert {reason for domain, reason in v2_errors.STATUS_CODES if domain == "streams"} == streams
    assert {reason for domain, reason in v2_errors.STATUS_CODES if domain == "server"} == server
