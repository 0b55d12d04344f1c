"""The gRPC errors of the Streams API, with the real server's texts and trailers (spec §4).

The ``exception`` trailer names the error type; clients map on it (the .NET and Node
clients) or on the message text (esdbclient), so both are reproduced exactly.
"""

from __future__ import annotations

from esdb_wire.server.rpc import UNHANDLED_MESSAGE
from esdb_wire.transport.status import StatusCode, StatusError

EXCEPTION = "exception"

# .NET type names that appear in InvalidArgument / RequiredArgument messages.
_READ_OPTIONS = "EventStore.Client.Streams.ReadReq+Types+Options"
UUID_OPTION_TYPE = _READ_OPTIONS + "+Types+UUIDOption"
STREAM_OPTION_CASE_TYPE = _READ_OPTIONS + "+StreamOptionOneofCase"
FILTER_OPTIONS_TYPE = _READ_OPTIONS + "+Types+FilterOptions"
WINDOW_CASE_TYPE = FILTER_OPTIONS_TYPE + "+WindowOneofCase"
APPEND_EXPECTED_CASE_TYPE = (
    "EventStore.Client.Streams.AppendReq+Types+Options+ExpectedStreamRevisionOneofCase"
)
DELETE_EXPECTED_CASE_TYPE = (
    "EventStore.Client.Streams.DeleteReq+Types+Options+ExpectedStreamRevisionOneofCase"
)
TOMBSTONE_EXPECTED_CASE_TYPE = (
    "EventStore.Client.Streams.TombstoneReq+Types+Options+ExpectedStreamRevisionOneofCase"
)
BATCH_EXPECTED_CASE_TYPE = (
    "EventStore.Client.Streams.BatchAppendReq+Types+Options+ExpectedStreamPositionOneofCase"
)
REQUIRED_METADATA = "type,content-type"


def stream_deleted(stream_name: str) -> StatusError:
    return StatusError(
        StatusCode.FAILED_PRECONDITION,
        f"Event stream '{stream_name}' is deleted.",
        trailing_metadata=((EXCEPTION, "stream-deleted"), ("stream-name", stream_name)),
    )


def stream_not_found(stream_name: str) -> StatusError:
    """Defined by the server but not produced by current versions (reads send a message)."""
    return StatusError(
        StatusCode.NOT_FOUND,
        f"Event stream '{stream_name}' is not found.",
        trailing_metadata=((EXCEPTION, "stream-not-found"), ("stream-name", stream_name)),
    )


def wrong_expected_version_on_delete(
    stream_name: str, expected: int, actual: int | None
) -> StatusError:
    """WEV of Delete and Tombstone (both say "Delete")."""
    actual_text = "" if actual is None else str(actual)
    return StatusError(
        StatusCode.FAILED_PRECONDITION,
        f"Delete failed due to WrongExpectedVersion. Stream: {stream_name}, "
        f"Expected version: {expected}, Actual version: {actual_text}",
        trailing_metadata=(
            (EXCEPTION, "wrong-expected-version"),
            ("stream-name", stream_name),
            ("expected-version", str(expected)),
            ("actual-version", actual_text),
        ),
    )


def access_denied() -> StatusError:
    return StatusError(
        StatusCode.PERMISSION_DENIED,
        "Access Denied",
        trailing_metadata=((EXCEPTION, "access-denied"),),
    )


def unauthenticated() -> StatusError:
    return StatusError(StatusCode.UNAUTHENTICATED, "Unauthenticated")


def not_leader(host: str, port: int) -> StatusError:
    return StatusError(
        StatusCode.NOT_FOUND,
        "Leader info available",
        trailing_metadata=(
            (EXCEPTION, "not-leader"),
            ("leader-endpoint-host", host),
            ("leader-endpoint-port", str(port)),
        ),
    )


def no_leader_info() -> StatusError:
    return StatusError(StatusCode.UNKNOWN, "No leader info available in response")


def server_not_ready() -> StatusError:
    return StatusError(StatusCode.UNAVAILABLE, "Server Is Not Ready")


def server_reset() -> StatusError:
    """A live subscription ended by ``EmbeddedServer.reset()`` (embedded server only)."""
    return StatusError(StatusCode.UNAVAILABLE, "The server was reset: resubscribe")


def server_busy() -> StatusError:
    return StatusError(StatusCode.UNAVAILABLE, "Server Is Too Busy")


def timeout(message: str) -> StatusError:
    return StatusError(StatusCode.ABORTED, f"Operation timed out: {message}")


def invalid_transaction() -> StatusError:
    return StatusError(
        StatusCode.INVALID_ARGUMENT,
        "Invalid Transaction",
        trailing_metadata=((EXCEPTION, "invalid-transaction"),),
    )


def maximum_append_size_exceeded(max_append_size: int) -> StatusError:
    return StatusError(
        StatusCode.INVALID_ARGUMENT,
        f"Maximum Append Size of {max_append_size} Exceeded.",
        trailing_metadata=(
            (EXCEPTION, "maximum-append-size-exceeded"),
            ("maximum-append-size", str(max_append_size)),
        ),
    )


def maximum_append_event_size_exceeded(event_id: str, size: int, maximum: int) -> StatusError:
    return StatusError(
        StatusCode.INVALID_ARGUMENT,
        f"Event with Id: {event_id}, Size: {size}, exceeds Maximum Append Event Size of {maximum}.",
        trailing_metadata=(
            (EXCEPTION, "maximum-append-event-size-exceeded"),
            ("maximum-append-event-size", str(maximum)),
            ("event-id", event_id),
            ("proposed-append-event-size", str(size)),
        ),
    )


def missing_required_metadata_property(name: str) -> StatusError:
    return StatusError(
        StatusCode.INVALID_ARGUMENT,
        f"Required Metadata Property '{name}' is missing",
        trailing_metadata=(
            (EXCEPTION, "missing-required-metadata-property"),
            ("required-metadata-properties", REQUIRED_METADATA),
        ),
    )


def invalid_argument(value: str, type_name: str) -> StatusError:
    """``RpcExceptions.InvalidArgument``: a oneof case or value the server does not accept."""
    return StatusError(StatusCode.INVALID_ARGUMENT, f"'{value}' is not a valid {type_name}")


def required_argument(name: str, type_name: str) -> StatusError:
    return StatusError(
        StatusCode.INVALID_ARGUMENT, f"'{name}' is a required argument of type {type_name}"
    )


def invalid_combination(parts: tuple[str, ...]) -> StatusError:
    return StatusError(
        StatusCode.INVALID_ARGUMENT, f"The combination of ({', '.join(parts)}) is invalid."
    )


def invalid_position() -> StatusError:
    return StatusError(StatusCode.INVALID_ARGUMENT, "Trying to read from an invalid position.")


def unexpected_result(result_type: str, result: str) -> StatusError:
    """e.g. ``Unexpected ReadStreamResult: Error``."""
    return StatusError(StatusCode.UNKNOWN, f"Unexpected {result_type}: {result}")


def unhandled() -> StatusError:
    """What any exception thrown by a handler becomes."""
    return StatusError(StatusCode.UNKNOWN, UNHANDLED_MESSAGE)
