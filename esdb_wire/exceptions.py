"""The exceptions client methods raise, with the names esdbclient 0.5 and 1.x users know.

Everything derives from :class:`EventStoreDBClientException` (alias
:class:`EsdbClientException`). Failures that carry a gRPC status derive from
:class:`GrpcError` and keep the transport error as ``__cause__`` and in :attr:`GrpcError.rpc`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

from esdb_wire.transport.status import StatusError

if TYPE_CHECKING:
    from esdb_wire.streams import StreamState


class EventStoreDBClientException(Exception):
    """Base class of every esdb_wire client exception."""


EsdbClientException = EventStoreDBClientException
KurrentDBClientError = EventStoreDBClientException


class ProgrammingError(Exception):
    """The client was used wrongly (not a server or network failure)."""


class GrpcError(EventStoreDBClientException):
    """A call failed with a gRPC status; ``rpc`` is the transport's error, if any."""

    def __init__(self, *args: object, rpc: StatusError | None = None) -> None:
        super().__init__(*args)
        self.rpc = rpc


class ServiceUnavailable(GrpcError):
    """The server could not be reached, or the connection broke."""


class SSLError(ServiceUnavailable):
    """TLS failed (certificate, host name, protocol mismatch)."""


class DeadlineExceeded(EventStoreDBClientException):
    """An operation did not complete before its deadline."""


class GrpcDeadlineExceeded(GrpcError, DeadlineExceeded):
    """The gRPC deadline of a call passed."""


class AppendDeadlineExceeded(DeadlineExceeded):
    """A batch append timed out on the server."""


class ExceptionThrownByHandler(GrpcError):
    """The server's handler failed unexpectedly (UNKNOWN)."""


class AbortedByServer(GrpcError):
    """The server aborted the call."""


class ConsumerTooSlow(AbortedByServer):
    """A subscription fell too far behind (older servers)."""


class OperationFailed(GrpcError):
    """The operation failed for another reason the server gave."""


class InternalError(GrpcError):
    """The server or the protocol reported an internal error."""


class CancelledByClient(EventStoreDBClientException):
    """The call was cancelled by this client (e.g. closed)."""


class NodeIsNotLeader(EventStoreDBClientException):
    """The node is not the leader; ``host`` and ``port`` name the leader when known."""

    def __init__(self, *args: object, host: str | None = None, port: int | None = None) -> None:
        super().__init__(*args)
        self.host = host
        self.port = port


class NotFound(EventStoreDBClientException):
    """The stream (or other resource) does not exist."""


class StreamNotFound(NotFound):
    """The stream does not exist (the esdbclient 0.5 name)."""


class AlreadyExists(EventStoreDBClientException):
    """The resource already exists."""


class SubscriptionConfirmationError(EventStoreDBClientException):
    """A subscription did not start with a confirmation."""


class UndecodableResponse(EventStoreDBClientException):
    """A response message of the server could not be decoded: it is not the protobuf
    message the call answers with (a server bug, a proxy mangling the data, or not an
    EventStoreDB/KurrentDB server at all). ``method`` names the call (``Streams.Read``),
    ``message_type`` the message it expected (``event_store.client.streams.ReadResp``);
    protobuf's own error is the ``__cause__``."""

    def __init__(self, *args: object, method: str, message_type: str) -> None:
        super().__init__(*args)
        self.method = method
        self.message_type = message_type


class CheckpointPastTheEnd(EventStoreDBClientException):
    """An auto-resubscribing catch-up subscription found, once reconnected, that what it
    already received lies past the end of the server's log (the server lost events: it was
    restarted with an empty or older log, or is another one): resuming there would skip
    what the server writes next. ``checkpoint`` is the last position (``$all``) or
    revision (stream) received, ``last_position`` the server's last one (None: nothing)."""

    def __init__(
        self, *args: object, checkpoint: int | None = None, last_position: int | None = None
    ) -> None:
        super().__init__(*args)
        self.checkpoint = checkpoint
        self.last_position = last_position


class WrongCurrentVersion(EventStoreDBClientException):
    """The stream's current version is not the one the operation expected."""

    def __init__(
        self,
        *args: object,
        stream_name: str | None = None,
        expected_version: int | StreamState | None = None,
        actual_version: int | StreamState | None = None,
    ) -> None:
        super().__init__(*args)
        self.stream_name = stream_name
        self.expected_version = expected_version
        self.actual_version = actual_version


WrongExpectedVersion = WrongCurrentVersion
WrongCurrentVersionError = WrongCurrentVersion
ExpectedPositionError = WrongCurrentVersion


class AccessDeniedError(EventStoreDBClientException):
    """The user may not do this."""


class StreamIsDeleted(EventStoreDBClientException):
    """The stream was tombstoned (or deleted, for some operations)."""


class UnknownError(EventStoreDBClientException):
    """The server reported an unknown failure."""


class InvalidTransactionError(EventStoreDBClientException):
    """The server rejected the write as an invalid transaction."""


class MaximumAppendSizeExceededError(EventStoreDBClientException):
    """The events of one append are larger than the server accepts."""


class BadRequestError(EventStoreDBClientException):
    """The server rejected the request as malformed."""


class DiscoveryFailed(EventStoreDBClientException):
    """No suitable cluster node could be found."""


class LeaderNotFound(DiscoveryFailed):
    pass


class FollowerNotFound(DiscoveryFailed):
    pass


class ReadOnlyReplicaNotFound(DiscoveryFailed):
    pass


class ExceptionIteratingRequests(EventStoreDBClientException):
    """Iterating the caller's request iterator raised."""


class FailedPrecondition(EventStoreDBClientException):
    """The server refused the operation in the current state."""


class MaximumSubscriptionsReached(FailedPrecondition):
    """A persistent subscription group has its maximum of consumers."""


class UnauthenticatedError(EventStoreDBClientException):
    """The credentials were not accepted."""


# ---- KurrentDB's v2 Streams API (25.1+): typed errors from its rich error details -------


class FeatureNotSupportedError(EventStoreDBClientException):
    """The server does not offer what the method needs (e.g. KurrentDB's v2 Streams API,
    which its ServerFeatures do not list)."""


class InvalidArgumentError(BadRequestError):
    """The server rejected an argument (INVALID_ARGUMENT)."""


class RecordMaxSizeExceededError(InvalidArgumentError):
    """One record (event) is larger than the server's maximum record size: ``size`` and
    ``max_size`` in bytes; ``event_id`` is the record's id."""

    def __init__(
        self, *args: object, stream_name: str, event_id: UUID | None, size: int, max_size: int
    ) -> None:
        super().__init__(*args)
        self.stream_name = stream_name
        self.event_id = event_id
        self.size = size
        self.max_size = max_size


class TransactionMaxSizeExceededError(AbortedByServer, MaximumAppendSizeExceededError):
    """The records of one multi-stream append are larger than the server's maximum append
    size (``size`` and ``max_size`` in bytes); nothing was written."""

    def __init__(
        self, *args: object, size: int, max_size: int, rpc: StatusError | None = None
    ) -> None:
        super().__init__(*args, rpc=rpc)
        self.size = size
        self.max_size = max_size


class MultiAppendToSameStreamError(AbortedByServer):
    """One multi-stream append named a stream twice (names compare case-insensitively)."""

    def __init__(self, *args: object, stream_name: str, rpc: StatusError | None = None) -> None:
        super().__init__(*args, rpc=rpc)
        self.stream_name = stream_name


class StreamTombstonedError(FailedPrecondition, StreamIsDeleted):
    """The stream was tombstoned (hard-deleted): it can never be written again."""

    def __init__(self, *args: object, stream_name: str) -> None:
        super().__init__(*args)
        self.stream_name = stream_name


class StreamDeletedError(FailedPrecondition, StreamIsDeleted):
    """The stream was soft-deleted (an operation that needs it to exist failed)."""

    def __init__(self, *args: object, stream_name: str) -> None:
        super().__init__(*args)
        self.stream_name = stream_name


class StreamStateCheckFailure(NamedTuple):
    """A failed :class:`~esdb_wire.records.StreamStateCheck`: ``actual_state`` is the
    stream's revision, or -1 (no stream), -5 (deleted), -6 (tombstoned)."""

    stream_name: str
    expected_state: int
    actual_state: int


class ConsistencyCheckFailure(NamedTuple):
    """One failed consistency check; ``check_index`` is its place among the request's
    checks (the streams written without a check count after them)."""

    check_index: int
    stream_state_failure: StreamStateCheckFailure | None


class ConsistencyChecksFailedError(FailedPrecondition):
    """At least one consistency check of ``append_records`` failed; nothing was written.
    ``failures`` lists every failed check."""

    def __init__(self, *args: object, failures: tuple[ConsistencyCheckFailure, ...]) -> None:
        super().__init__(*args)
        self.failures = failures
