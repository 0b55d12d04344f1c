"""The exceptions client methods raise, with the names esdbclient 0.5 and 1.x users know.

Everything derives from :class:`EventStoreDBClientException` (alias
:class:`EsdbClientException`). Failures that carry a gRPC status derive from
:class:`GrpcError` and keep the transport error as ``__cause__`` and in :attr:`GrpcError.rpc`.
"""

from __future__ import annotations

from esdb_wire.transport.status import GrpcError as TransportError


class EventStoreDBClientException(Exception):
    """Base class of every esdb_wire client exception."""


EsdbClientException = EventStoreDBClientException
KurrentDBClientError = EventStoreDBClientException


class ProgrammingError(Exception):
    """The client was used wrongly (not a server or network failure)."""


class GrpcError(EventStoreDBClientException):
    """A call failed with a gRPC status; ``rpc`` is the transport's error, if any."""

    def __init__(self, *args: object, rpc: TransportError | None = None) -> None:
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


class WrongCurrentVersion(EventStoreDBClientException):
    """The stream's current version is not the one the operation expected."""

    def __init__(
        self,
        *args: object,
        stream_name: str | None = None,
        expected_version: int | None = None,
        actual_version: int | None = None,
    ) -> None:
        super().__init__(*args)
        self.stream_name = stream_name
        self.expected_version = expected_version
        self.actual_version = actual_version


WrongExpectedVersion = WrongCurrentVersion
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
