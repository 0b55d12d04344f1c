"""The errors of the v2 Streams API as a KurrentDB node raises them (``ApiErrors``).

Each is a :class:`~esdb_wire.transport.status.StatusError` whose ``details_bin`` is the
``grpc-status-details-bin`` trailer: a ``google.rpc.Status`` with the same code and
message, an ``ErrorInfo`` (reason, domain) and the typed detail. Texts follow the node's.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message

from esdb_wire.codec import v2_errors as codes
from esdb_wire.protos import error_details_pb2, kurrent_errors_pb2, v2_errors_pb2
from esdb_wire.transport.status import StatusError

V2 = v2_errors_pb2

# ExpectedStreamCondition / ActualStreamCondition.
NO_STREAM = -1
ANY = -2
EXISTS = -4
DELETED = -5
TOMBSTONED = -6


def rich_error(
    reason: str,
    message: str,
    details: Sequence[Message] = (),
    *,
    domain: str = codes.STREAMS_DOMAIN,
) -> StatusError:
    """An error with the status code upstream's annotation gives ``reason``."""
    code = codes.STATUS_CODES[(domain, reason)]
    trailer = codes.encode_rich_error(code, message, reason, domain, details)
    return StatusError(code, message, details_bin=trailer)


def humanize_bytes(size: int) -> str:
    """Humanizer's ``size.Bytes().Humanize("0.000")``: the largest unit not above it."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1024:
            return f"{value:.3f} {unit}"
        value /= 1024
    return f"{value:.3f} TB"


def stream_tombstoned(stream: str) -> StatusError:
    return rich_error(
        codes.STREAM_TOMBSTONED,
        f"Stream '{stream}' has been tombstoned. "
        "It has been permanently removed from the system and cannot be restored.",
        [V2.StreamTombstonedErrorDetails(stream=stream)],
    )


def revision_conflict(stream: str, expected: int, actual: int) -> StatusError:
    return rich_error(
        codes.STREAM_REVISION_CONFLICT,
        f"Append failed due to a revision conflict on stream '{stream}'. "
        f"Expected revision: {expected}. Actual revision: {actual}.",
        [
            V2.StreamRevisionConflictErrorDetails(
                stream=stream, expected_revision=expected, actual_revision=actual
            )
        ],
    )


def already_in_session(stream: str) -> StatusError:
    return rich_error(
        codes.STREAM_ALREADY_IN_APPEND_SESSION,
        f"Stream '{stream}' already has a different group of messages in this session. "
        "Appends for the same stream must currently be grouped together and not interleaved "
        "with appends for other streams.",
        [V2.StreamAlreadyInAppendSessionErrorDetails(stream=stream)],
    )


def record_too_large(stream: str, record_id: str, size: int, max_size: int) -> StatusError:
    return rich_error(
        codes.APPEND_RECORD_SIZE_EXCEEDED,
        f"The size of record {record_id} ({humanize_bytes(size)}) exceeds the maximum "
        f"allowed size of {humanize_bytes(max_size)} bytes by "
        f"{humanize_bytes(size - max_size)}",
        [
            V2.AppendRecordSizeExceededErrorDetails(
                stream=stream, record_id=record_id, size=size, max_size=max_size
            )
        ],
    )


def transaction_too_large(records: int, size: int, max_size: int) -> StatusError:
    return rich_error(
        codes.APPEND_TRANSACTION_SIZE_EXCEEDED,
        f"Transaction size ({humanize_bytes(size)}) exceeded the maximum allowed size of "
        f"{humanize_bytes(max_size)} by {humanize_bytes(size - max_size)}, "
        f"after {records} record(s).",
        [V2.AppendTransactionSizeExceededErrorDetails(size=size, max_size=max_size)],
    )


def no_requests() -> StatusError:
    return rich_error(
        codes.APPEND_SESSION_NO_REQUESTS,
        "Append session started, but no append requests were sent before ending the session.",
    )


def consistency_violation(violations: Sequence[tuple[int, str, int, int]]) -> StatusError:
    """``violations``: (check index, stream, expected state, actual state) of each."""
    details = V2.AppendConsistencyViolationErrorDetails()
    lines = ["Append failed due to consistency violations.", ""]
    for index, stream, expected, actual in violations:
        details.violations.add(
            check_index=index,
            stream_state=V2.ConsistencyViolation.StreamStateViolation(
                stream=stream, expected_state=expected, actual_state=actual
            ),
        )
        lines.append(f" - {_violation_text(stream, expected, actual)}")
    return rich_error(codes.APPEND_CONSISTENCY_VIOLATION, "\n".join(lines), [details])


_ACTUAL_TEXT = {NO_STREAM: "does not exist", DELETED: "is deleted", TOMBSTONED: "is tombstoned"}


def _violation_text(stream: str, expected: int, actual: int) -> str:
    where = f"Stream '{stream}'"
    if expected >= 0:
        if actual >= 0:
            return f"{where} is at revision {actual}, expected revision {expected}."
        return f"{where} {_ACTUAL_TEXT[actual]}, expected revision {expected}."
    if expected == NO_STREAM and actual >= 0:
        return f"{where} already exists at revision {actual}."
    if expected in (NO_STREAM, ANY, EXISTS) and actual in _ACTUAL_TEXT:
        return f"{where} {_ACTUAL_TEXT[actual]}."
    if expected in (DELETED, TOMBSTONED):
        wanted = "deleted" if expected == DELETED else "tombstoned"
        if actual >= 0:
            return f"{where} is at revision {actual}, explicitly expected {wanted}."
        if actual in _ACTUAL_TEXT:
            return f"{where} {_ACTUAL_TEXT[actual]}, explicitly expected {wanted}."
    return f"{where}: expected state {expected}, actual state {actual}."


def access_denied(operation: str, username: str | None) -> StatusError:
    details = kurrent_errors_pb2.AccessDeniedErrorDetails(operation=operation)
    if username is not None:
        details.username = username
    return rich_error(
        codes.ACCESS_DENIED,
        f"Access denied. Insufficient permissions to perform {operation}",
        [details],
        domain=codes.SERVER_DOMAIN,
    )


def invalid_request(request_type: str, failures: Sequence[tuple[str, str]]) -> StatusError:
    """Validation failures, (property, message) each: BAD_REQUEST with a BadRequest."""
    details = error_details_pb2.BadRequest()
    for field, description in failures:
        details.field_violations.add(field=field, description=description)
    message = f"The '{request_type}' is invalid:"
    if len(failures) == 1:
        message = f"{message} {failures[0][1]}"
    else:
        message += "\n" + "".join(f" -- {description}\n" for _, description in failures)
    return rich_error(codes.BAD_REQUEST, message, [details], domain=codes.SERVER_DOMAIN)
