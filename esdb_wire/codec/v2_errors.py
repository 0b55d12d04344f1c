"""KurrentDB's rich errors (v2 Streams API, 25.1+): ``grpc-status-details-bin`` ⇄ typed info.

The trailer holds a ``google.rpc.Status`` (same code and message as the call's status)
whose details are a ``google.rpc.ErrorInfo`` (``reason`` such as
``STREAM_REVISION_CONFLICT``, ``domain`` ``streams`` or ``server``) followed by a typed
detail. :func:`decode_rich_error` turns the trailer into a :class:`RichError` whose
``detail`` is one of the dataclasses below (None when the server sent none we know);
:func:`encode_rich_error` builds the trailer, as the server does. :func:`rich_exception`
turns a failed call's rich error into the client's typed exception.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Union

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from esdb_wire import exceptions as exc
from esdb_wire.protos import error_details_pb2, kurrent_errors_pb2, v2_errors_pb2
from esdb_wire.protos.wire_names import canonical_name, pack_any, unpack_any
from esdb_wire.streams import StreamState
from esdb_wire.transport.status import StatusCode, StatusError

V2 = v2_errors_pb2
STREAMS_DOMAIN: Final = "streams"
SERVER_DOMAIN: Final = "server"

# Reasons (the enum value names without their "STREAMS_ERROR_" / "SERVER_ERROR_" prefix).
STREAM_NOT_FOUND: Final = "STREAM_NOT_FOUND"
STREAM_ALREADY_EXISTS: Final = "STREAM_ALREADY_EXISTS"
STREAM_DELETED: Final = "STREAM_DELETED"
STREAM_TOMBSTONED: Final = "STREAM_TOMBSTONED"
STREAM_REVISION_CONFLICT: Final = "STREAM_REVISION_CONFLICT"
APPEND_RECORD_SIZE_EXCEEDED: Final = "APPEND_RECORD_SIZE_EXCEEDED"
APPEND_TRANSACTION_SIZE_EXCEEDED: Final = "APPEND_TRANSACTION_SIZE_EXCEEDED"
STREAM_ALREADY_IN_APPEND_SESSION: Final = "STREAM_ALREADY_IN_APPEND_SESSION"
APPEND_SESSION_NO_REQUESTS: Final = "APPEND_SESSION_NO_REQUESTS"
APPEND_CONSISTENCY_VIOLATION: Final = "APPEND_CONSISTENCY_VIOLATION"
ACCESS_DENIED: Final = "ACCESS_DENIED"
BAD_REQUEST: Final = "BAD_REQUEST"
NOT_LEADER_NODE: Final = "NOT_LEADER_NODE"
OPERATION_TIMEOUT: Final = "OPERATION_TIMEOUT"
SERVER_NOT_READY: Final = "SERVER_NOT_READY"
SERVER_OVERLOADED: Final = "SERVER_OVERLOADED"
SERVER_MALFUNCTION: Final = "SERVER_MALFUNCTION"
SERVER_SHUTTING_DOWN: Final = "SERVER_SHUTTING_DOWN"

# Upstream's (kurrent.rpc.error) annotations: the status code of each error.
STATUS_CODES: Final[dict[tuple[str, str], StatusCode]] = {
    (STREAMS_DOMAIN, STREAM_NOT_FOUND): StatusCode.NOT_FOUND,
    (STREAMS_DOMAIN, STREAM_ALREADY_EXISTS): StatusCode.ALREADY_EXISTS,
    (STREAMS_DOMAIN, STREAM_DELETED): StatusCode.FAILED_PRECONDITION,
    (STREAMS_DOMAIN, STREAM_TOMBSTONED): StatusCode.FAILED_PRECONDITION,
    (STREAMS_DOMAIN, STREAM_REVISION_CONFLICT): StatusCode.FAILED_PRECONDITION,
    (STREAMS_DOMAIN, APPEND_RECORD_SIZE_EXCEEDED): StatusCode.INVALID_ARGUMENT,
    (STREAMS_DOMAIN, APPEND_TRANSACTION_SIZE_EXCEEDED): StatusCode.ABORTED,
    (STREAMS_DOMAIN, STREAM_ALREADY_IN_APPEND_SESSION): StatusCode.ABORTED,
    (STREAMS_DOMAIN, APPEND_SESSION_NO_REQUESTS): StatusCode.FAILED_PRECONDITION,
    (STREAMS_DOMAIN, APPEND_CONSISTENCY_VIOLATION): StatusCode.FAILED_PRECONDITION,
    (SERVER_DOMAIN, ACCESS_DENIED): StatusCode.PERMISSION_DENIED,
    (SERVER_DOMAIN, BAD_REQUEST): StatusCode.INVALID_ARGUMENT,
    (SERVER_DOMAIN, NOT_LEADER_NODE): StatusCode.FAILED_PRECONDITION,
    (SERVER_DOMAIN, OPERATION_TIMEOUT): StatusCode.DEADLINE_EXCEEDED,
    (SERVER_DOMAIN, SERVER_NOT_READY): StatusCode.UNAVAILABLE,
    (SERVER_DOMAIN, SERVER_OVERLOADED): StatusCode.UNAVAILABLE,
    (SERVER_DOMAIN, SERVER_MALFUNCTION): StatusCode.INTERNAL,
    (SERVER_DOMAIN, SERVER_SHUTTING_DOWN): StatusCode.UNAVAILABLE,
}


# ---- typed details -------------------------------------------------------------------


@dataclass(frozen=True)
class StreamNotFound:
    stream: str


@dataclass(frozen=True)
class StreamAlreadyExists:
    stream: str


@dataclass(frozen=True)
class StreamDeleted:
    """The stream is soft-deleted."""

    stream: str


@dataclass(frozen=True)
class StreamTombstoned:
    """The stream is tombstoned (hard-deleted): it can never be written again."""

    stream: str


@dataclass(frozen=True)
class RevisionConflict:
    """An append's expected revision did not hold (-1 actual: no stream)."""

    stream: str
    expected_revision: int
    actual_revision: int


@dataclass(frozen=True)
class RecordTooLarge:
    """One record exceeds the server's maximum record size (bytes)."""

    stream: str
    record_id: str
    size: int
    max_size: int


@dataclass(frozen=True)
class TransactionTooLarge:
    """The records of one append exceed the server's maximum append size (bytes)."""

    size: int
    max_size: int


@dataclass(frozen=True)
class DuplicateStreamInSession:
    """A stream was named twice in one append session (names compare case-insensitively)."""

    stream: str


@dataclass(frozen=True)
class StreamStateViolation:
    """A failed consistency check: ``actual_state`` is a revision, or -1 (no stream),
    -5 (deleted), -6 (tombstoned). ``check_index`` is the check's place in the request."""

    check_index: int
    stream: str
    expected_state: int
    actual_state: int


@dataclass(frozen=True)
class ConsistencyViolation:
    """Every failed check of an ``AppendRecords`` request (nothing was written)."""

    violations: tuple[StreamStateViolation, ...]


@dataclass(frozen=True)
class AccessDenied:
    operation: str
    username: str | None = None
    permission: str | None = None


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


@dataclass(frozen=True)
class BadRequest:
    """The request failed validation."""

    violations: tuple[FieldViolation, ...]


@dataclass(frozen=True)
class NotLeader:
    host: str
    port: int
    node_id: str | None = None


ErrorDetail = Union[
    StreamNotFound,
    StreamAlreadyExists,
    StreamDeleted,
    StreamTombstoned,
    RevisionConflict,
    RecordTooLarge,
    TransactionTooLarge,
    DuplicateStreamInSession,
    ConsistencyViolation,
    AccessDenied,
    BadRequest,
    NotLeader,
]


@dataclass(frozen=True)
class RichError:
    """A decoded ``grpc-status-details-bin``: status, ErrorInfo and the typed detail."""

    code: StatusCode
    message: str
    reason: str | None
    domain: str | None
    detail: ErrorDetail | None = None


# ---- decoding --------------------------------------------------------------------------


def decode_rich_error(data: bytes) -> RichError | None:
    """The rich error a ``grpc-status-details-bin`` trailer carries; None if it is not a
    ``google.rpc.Status`` with an ErrorInfo (e.g. a v1 API's trailer)."""
    try:
        status = error_details_pb2.RichStatus.FromString(data)
    except DecodeError:
        return None
    reason = domain = None
    detail: ErrorDetail | None = None
    for packed in status.details:
        info = unpack_any(packed, error_details_pb2.ErrorInfo)
        if info is not None:
            if reason is None:
                reason, domain = info.reason, info.domain
            continue
        if detail is None:
            detail = _typed_detail(packed)
    if reason is None:
        return None
    try:
        code = StatusCode(status.code)
    except ValueError:
        code = StatusCode.UNKNOWN
    return RichError(code, status.message, reason, domain, detail)


def _typed_detail(packed: any_pb2.Any) -> ErrorDetail | None:
    """The typed detail ``packed`` holds, if we know its type."""
    name = packed.type_url.rpartition("/")[2]
    decode = _DECODERS.get(name)
    if decode is None:
        return None
    try:
        return decode(packed.value)
    except DecodeError:
        return None


def _revision_conflict(data: bytes) -> ErrorDetail:
    message = V2.StreamRevisionConflictErrorDetails.FromString(data)
    return RevisionConflict(
        message.stream, int(message.expected_revision), int(message.actual_revision)
    )


def _record_too_large(data: bytes) -> ErrorDetail:
    message = V2.AppendRecordSizeExceededErrorDetails.FromString(data)
    return RecordTooLarge(message.stream, message.record_id, message.size, message.max_size)


def _transaction_too_large(data: bytes) -> ErrorDetail:
    message = V2.AppendTransactionSizeExceededErrorDetails.FromString(data)
    return TransactionTooLarge(message.size, message.max_size)


def _consistency_violation(data: bytes) -> ErrorDetail:
    message = V2.AppendConsistencyViolationErrorDetails.FromString(data)
    return ConsistencyViolation(
        tuple(
            StreamStateViolation(
                violation.check_index,
                violation.stream_state.stream,
                int(violation.stream_state.expected_state),
                int(violation.stream_state.actual_state),
            )
            for violation in message.violations
            if violation.WhichOneof("type") == "stream_state"
        )
    )


def _access_denied(data: bytes) -> ErrorDetail:
    message = kurrent_errors_pb2.AccessDeniedErrorDetails.FromString(data)
    return AccessDenied(
        message.operation,
        message.username if message.HasField("username") else None,
        message.permission if message.HasField("permission") else None,
    )


def _bad_request(data: bytes) -> ErrorDetail:
    message = error_details_pb2.BadRequest.FromString(data)
    return BadRequest(
        tuple(FieldViolation(v.field, v.description) for v in message.field_violations)
    )


def _not_leader(data: bytes) -> ErrorDetail:
    leader = kurrent_errors_pb2.NotLeaderNodeErrorDetails.FromString(data).current_leader
    node_id = leader.node_id if leader.HasField("node_id") else None
    return NotLeader(leader.host, leader.port, node_id)


def _stream_decoder(
    message_type: type[_StreamDetails], result: Callable[[str], ErrorDetail]
) -> tuple[str, Callable[[bytes], ErrorDetail]]:
    def decode(data: bytes) -> ErrorDetail:
        return result(message_type.FromString(data).stream)

    return canonical_name(message_type.DESCRIPTOR.full_name), decode


_StreamDetails = Union[
    V2.StreamNotFoundErrorDetails,
    V2.StreamAlreadyExistsErrorDetails,
    V2.StreamDeletedErrorDetails,
    V2.StreamTombstonedErrorDetails,
    V2.StreamAlreadyInAppendSessionErrorDetails,
]


def _name(message_type: type[Message]) -> str:
    return canonical_name(message_type.DESCRIPTOR.full_name)


_DECODERS: Final[dict[str, Callable[[bytes], ErrorDetail]]] = dict(
    [
        _stream_decoder(V2.StreamNotFoundErrorDetails, StreamNotFound),
        _stream_decoder(V2.StreamAlreadyExistsErrorDetails, StreamAlreadyExists),
        _stream_decoder(V2.StreamDeletedErrorDetails, StreamDeleted),
        _stream_decoder(V2.StreamTombstonedErrorDetails, StreamTombstoned),
        _stream_decoder(V2.StreamAlreadyInAppendSessionErrorDetails, DuplicateStreamInSession),
        (_name(V2.StreamRevisionConflictErrorDetails), _revision_conflict),
        (_name(V2.AppendRecordSizeExceededErrorDetails), _record_too_large),
        (_name(V2.AppendTransactionSizeExceededErrorDetails), _transaction_too_large),
        (_name(V2.AppendConsistencyViolationErrorDetails), _consistency_violation),
        (_name(kurrent_errors_pb2.AccessDeniedErrorDetails), _access_denied),
        (_name(kurrent_errors_pb2.NotLeaderNodeErrorDetails), _not_leader),
        (_name(error_details_pb2.BadRequest), _bad_request),
    ]
)


# ---- encoding --------------------------------------------------------------------------


def encode_rich_error(
    code: StatusCode,
    message: str,
    reason: str,
    domain: str,
    details: Sequence[Message] = (),
) -> bytes:
    """A ``grpc-status-details-bin`` value: ``google.rpc.Status{code, message, details:
    [ErrorInfo{reason, domain}, *details]}``, each detail packed with its canonical
    type URL."""
    status = error_details_pb2.RichStatus(code=int(code), message=message)
    status.details.append(pack_any(error_details_pb2.ErrorInfo(reason=reason, domain=domain)))
    for detail in details:
        status.details.append(pack_any(detail))
    return status.SerializeToString()


def rich_error_of(error: StatusError) -> RichError | None:
    """The rich error of a failed call, if its trailers carried one."""
    data = error.details_bin
    return None if data is None else decode_rich_error(data)


# ---- client exceptions -----------------------------------------------------------------

# The expected / actual revisions of a conflict that name a state (kurrentdbclient's map).
_REVISION_STATES: Final = {-1: StreamState.NO_STREAM, -2: StreamState.ANY, -4: StreamState.EXISTS}


def rich_exception(error: StatusError) -> exc.EventStoreDBClientException | None:
    """The typed client exception for a failed call's rich error (kurrentdbclient 1.3.5's
    classes), or None when its trailers carry none whose detail we map (the status code
    then decides, see :func:`esdb_wire.codec.errors.map_error`)."""
    rich = rich_error_of(error)
    if rich is None:
        return None
    detail = rich.detail
    text = str(error)
    if isinstance(detail, RevisionConflict):
        expected, actual = detail.expected_revision, detail.actual_revision
        return exc.WrongCurrentVersion(
            text,
            stream_name=detail.stream,
            expected_version=_REVISION_STATES.get(expected, expected),
            actual_version=_REVISION_STATES.get(actual, actual),
        )
    if isinstance(detail, ConsistencyViolation):
        failures = tuple(
            exc.ConsistencyCheckFailure(
                violation.check_index,
                exc.StreamStateCheckFailure(
                    violation.stream, violation.expected_state, violation.actual_state
                ),
            )
            for violation in detail.violations
        )
        return exc.ConsistencyChecksFailedError(text, failures=failures)
    if isinstance(detail, StreamTombstoned):
        return exc.StreamTombstonedError(text, stream_name=detail.stream)
    if isinstance(detail, StreamDeleted):
        return exc.StreamDeletedError(text, stream_name=detail.stream)
    if isinstance(detail, RecordTooLarge):
        return exc.RecordMaxSizeExceededError(
            text,
            stream_name=detail.stream,
            event_id=_uuid_or_none(detail.record_id),
            size=detail.size,
            max_size=detail.max_size,
        )
    if isinstance(detail, TransactionTooLarge):
        return exc.TransactionMaxSizeExceededError(
            text, size=detail.size, max_size=detail.max_size, rpc=error
        )
    if isinstance(detail, DuplicateStreamInSession):
        return exc.MultiAppendToSameStreamError(text, stream_name=detail.stream, rpc=error)
    if isinstance(detail, StreamNotFound):
        return exc.StreamNotFound(text)
    if isinstance(detail, StreamAlreadyExists):
        return exc.AlreadyExists(text)
    if isinstance(detail, AccessDenied):
        return exc.AccessDeniedError(text)
    if isinstance(detail, BadRequest):
        return exc.BadRequestError(text)
    if isinstance(detail, NotLeader):
        return exc.NodeIsNotLeader(text, host=detail.host or None, port=detail.port or None)
    return None


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
