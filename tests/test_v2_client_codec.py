"""What the client's v2 Streams methods rely on in the codec: rich errors to typed
exceptions (kurrentdbclient 1.3.5's classes, through ``map_error``), the secondary index
requests, and the rpc paths."""

from __future__ import annotations

import uuid

import pytest
from google.protobuf.message import Message

from esdb_wire import exceptions as exc
from esdb_wire.client import paths
from esdb_wire.codec import v2, v2_errors
from esdb_wire.codec.errors import map_error
from esdb_wire.protos import error_details_pb2, kurrent_errors_pb2, v2_errors_pb2, v2_streams_pb2
from esdb_wire.protos.streams_pb2 import ReadReq
from esdb_wire.protos.wire_names import method_path
from esdb_wire.records import ConsistencyCheck, StreamStateCheck
from esdb_wire.streams import StreamState
from esdb_wire.transport.status import StatusCode, StatusError

V2 = v2_errors_pb2


def failed(reason: str, *details: Message, domain: str = "streams") -> StatusError:
    """A failed call whose trailers carry the rich error ``reason`` with ``details``."""
    code = v2_errors.STATUS_CODES[(domain, reason)]
    trailer = v2_errors.encode_rich_error(code, "text", reason, domain, details)
    return StatusError(code, "text", details_bin=trailer)


def test_revision_conflict() -> None:
    detail = V2.StreamRevisionConflictErrorDetails(
        stream="s", expected_revision=5, actual_revision=0
    )
    error = map_error(failed("STREAM_REVISION_CONFLICT", detail))
    assert type(error) is exc.WrongCurrentVersion
    assert (error.stream_name, error.expected_version, error.actual_version) == ("s", 5, 0)
    assert str(error) == "FAILED_PRECONDITION: text"
    assert exc.WrongCurrentVersionError is exc.WrongCurrentVersion


@pytest.mark.parametrize(
    ("expected", "actual", "expected_version", "actual_version"),
    [
        (-1, 3, StreamState.NO_STREAM, 3),
        (-4, -1, StreamState.EXISTS, StreamState.NO_STREAM),
        (-2, 0, StreamState.ANY, 0),
        (0, -1, 0, StreamState.NO_STREAM),
    ],
)
def test_revision_conflict_states(
    expected: int, actual: int, expected_version: object, actual_version: object
) -> None:
    detail = V2.StreamRevisionConflictErrorDetails(
        stream="s", expected_revision=expected, actual_revision=actual
    )
    error = map_error(failed("STREAM_REVISION_CONFLICT", detail))
    assert isinstance(error, exc.WrongCurrentVersion)
    assert (error.expected_version, error.actual_version) == (expected_version, actual_version)


def test_consistency_violation() -> None:
    details = V2.AppendConsistencyViolationErrorDetails()
    for index, (expected, actual) in enumerate([(-1, 0), (3, -6)]):
        details.violations.add(
            check_index=index,
            stream_state=V2.ConsistencyViolation.StreamStateViolation(
                stream=f"s{index}", expected_state=expected, actual_state=actual
            ),
        )
    error = map_error(failed("APPEND_CONSISTENCY_VIOLATION", details))
    assert isinstance(error, exc.ConsistencyChecksFailedError)
    assert isinstance(error, exc.FailedPrecondition)
    assert error.failures == (
        exc.ConsistencyCheckFailure(0, exc.StreamStateCheckFailure("s0", -1, 0)),
        exc.ConsistencyCheckFailure(1, exc.StreamStateCheckFailure("s1", 3, -6)),
    )


def test_stream_tombstoned_and_deleted() -> None:
    error = map_error(failed("STREAM_TOMBSTONED", V2.StreamTombstonedErrorDetails(stream="t")))
    assert isinstance(error, exc.StreamTombstonedError)
    assert isinstance(error, exc.StreamIsDeleted)
    assert error.stream_name == "t"
    error = map_error(failed("STREAM_DELETED", V2.StreamDeletedErrorDetails(stream="d")))
    assert isinstance(error, exc.StreamDeletedError)
    assert isinstance(error, exc.StreamIsDeleted)
    assert error.stream_name == "d"


def test_size_limits() -> None:
    record_id = uuid.uuid4()
    detail = V2.AppendRecordSizeExceededErrorDetails(
        stream="s", record_id=str(record_id), size=9, max_size=8
    )
    error = map_error(failed("APPEND_RECORD_SIZE_EXCEEDED", detail))
    assert isinstance(error, exc.RecordMaxSizeExceededError)
    assert isinstance(error, exc.InvalidArgumentError)
    assert isinstance(error, exc.BadRequestError)
    assert (error.stream_name, error.event_id, error.size, error.max_size) == ("s", record_id, 9, 8)
    detail = V2.AppendRecordSizeExceededErrorDetails(stream="s", record_id="r", size=9, max_size=8)
    error = map_error(failed("APPEND_RECORD_SIZE_EXCEEDED", detail))
    assert isinstance(error, exc.RecordMaxSizeExceededError)
    assert error.event_id is None
    too_much = V2.AppendTransactionSizeExceededErrorDetails(size=9, max_size=8)
    error = map_error(failed("APPEND_TRANSACTION_SIZE_EXCEEDED", too_much))
    assert isinstance(error, exc.TransactionMaxSizeExceededError)
    assert isinstance(error, exc.AbortedByServer)
    assert isinstance(error, exc.MaximumAppendSizeExceededError)
    assert (error.size, error.max_size) == (9, 8)
    assert error.rpc is not None


def test_duplicate_stream_in_session() -> None:
    detail = V2.StreamAlreadyInAppendSessionErrorDetails(stream="S")
    error = map_error(failed("STREAM_ALREADY_IN_APPEND_SESSION", detail))
    assert isinstance(error, exc.MultiAppendToSameStreamError)
    assert isinstance(error, exc.AbortedByServer)
    assert error.stream_name == "S"


def test_other_details() -> None:
    error = map_error(failed("STREAM_NOT_FOUND", V2.StreamNotFoundErrorDetails(stream="s")))
    assert isinstance(error, exc.StreamNotFound)
    error = map_error(
        failed("STREAM_ALREADY_EXISTS", V2.StreamAlreadyExistsErrorDetails(stream="s"))
    )
    assert isinstance(error, exc.AlreadyExists)
    denied = kurrent_errors_pb2.AccessDeniedErrorDetails(operation="streams:write:s")
    error = map_error(failed("ACCESS_DENIED", denied, domain="server"))
    assert isinstance(error, exc.AccessDeniedError)
    bad = error_details_pb2.BadRequest()
    bad.field_violations.add(field="Stream", description="Stream must not be empty.")
    assert isinstance(map_error(failed("BAD_REQUEST", bad, domain="server")), exc.BadRequestError)
    leader = kurrent_errors_pb2.NotLeaderNodeErrorDetails()
    leader.current_leader.host = "node2"
    leader.current_leader.port = 2114
    error = map_error(failed("NOT_LEADER_NODE", leader, domain="server"))
    assert isinstance(error, exc.NodeIsNotLeader)
    assert (error.host, error.port) == ("node2", 2114)


def test_without_a_known_detail_the_status_code_decides() -> None:
    assert type(map_error(failed("APPEND_SESSION_NO_REQUESTS"))) is exc.FailedPrecondition
    assert type(map_error(failed("SERVER_NOT_READY", domain="server"))) is exc.ServiceUnavailable
    assert v2_errors.rich_exception(failed("APPEND_SESSION_NO_REQUESTS")) is None
    plain = StatusError(StatusCode.FAILED_PRECONDITION, "text")
    assert v2_errors.rich_exception(plain) is None
    assert type(map_error(plain)) is exc.FailedPrecondition


def test_index_requests() -> None:
    assert v2.index_name("ce-order") == "$idx-ce-order"
    assert v2.index_name("$idx-et-Placed") == "$idx-et-Placed"
    read = ReadReq.FromString(v2.read_index_request("ce-order", position=7, limit=3)).options
    assert read.WhichOneof("filter_option") == "filter"
    expression = read.filter.stream_identifier
    assert (expression.regex, list(expression.prefix)) == ("", ["$idx-ce-order"])
    assert (read.all.position.commit_position, read.count) == (7, 3)
    assert read.read_direction == read.Forwards
    subscribe = ReadReq.FromString(v2.subscribe_index_request("$idx-all")).options
    assert list(subscribe.filter.stream_identifier.prefix) == ["$idx-all"]
    assert subscribe.HasField("subscription")
    assert subscribe.all.HasField("start")


def test_client_paths_match_the_descriptors() -> None:
    service = v2_streams_pb2.DESCRIPTOR.services_by_name["StreamsService"]
    assert method_path(service, "AppendSession") == paths.APPEND_SESSION
    assert method_path(service, "AppendRecords") == paths.APPEND_RECORDS


def test_consistency_check_is_kurrentdbclients_name() -> None:
    assert ConsistencyCheck is StreamStateCheck
