"""gRPC failures to esdb_wire's typed exceptions (status code, ``exception`` trailer, text)."""

from __future__ import annotations

import re

from esdb_wire import exceptions as exc
from esdb_wire.transport.status import StatusCode, StatusError


def map_error(error: StatusError) -> exc.EventStoreDBClientException:
    """The client exception for a failed call; the transport error is kept as ``rpc``."""
    if error.details_bin is not None:  # KurrentDB 25.1+'s rich errors (the v2 API's)
        from esdb_wire.codec.v2_errors import rich_exception  # noqa: PLC0415 (loaded when used)

        typed = rich_exception(error)
        if typed is not None:
            return typed
    code = error.code
    text = str(error)
    message = error.message
    key = error.metadata_value("exception")
    if code is StatusCode.UNAVAILABLE:
        # The blocking driver says "TLS handshake ... failed", the asyncio one passes on
        # the ssl module's "[SSL: ...]" text.
        tls = "TLS" in message or "[SSL" in message
        kind: type[exc.GrpcError] = exc.SSLError if tls else exc.ServiceUnavailable
        return kind(text, rpc=error)
    if code is StatusCode.DEADLINE_EXCEEDED:
        return exc.GrpcDeadlineExceeded(text, rpc=error)
    if code is StatusCode.CANCELLED:
        return exc.CancelledByClient(text)
    if key == "not-leader" or (code is StatusCode.NOT_FOUND and "Leader info available" in message):
        host = error.metadata_value("leader-endpoint-host")
        port = error.metadata_value("leader-endpoint-port")
        return exc.NodeIsNotLeader(
            text,
            host=host if isinstance(host, str) else None,
            port=int(port) if isinstance(port, str) and port.isdigit() else None,
        )
    if key == "stream-deleted" or "is deleted" in message:
        return exc.StreamIsDeleted(text)
    if key == "wrong-expected-version" or "WrongExpectedVersion" in message:
        return _wrong_version(error, text)
    if key == "access-denied" or code is StatusCode.PERMISSION_DENIED:
        return exc.AccessDeniedError(text)
    if code is StatusCode.UNAUTHENTICATED:
        return exc.UnauthenticatedError(text)
    if key == "maximum-append-size-exceeded":
        return exc.MaximumAppendSizeExceededError(text)
    if key == "invalid-transaction":
        return exc.InvalidTransactionError(text)
    if key == "user-conflict":
        return exc.AlreadyExists(text)
    if code is StatusCode.FAILED_PRECONDITION:
        if (
            message.startswith("Maximum subscriptions reached")
            or key == "maximum-subscribers-reached"
        ):
            return exc.MaximumSubscriptionsReached(text)
        return exc.FailedPrecondition(text)
    if code is StatusCode.NOT_FOUND:
        return exc.NotFound(text)
    if code is StatusCode.ALREADY_EXISTS:
        return exc.AlreadyExists(text)
    if code is StatusCode.INVALID_ARGUMENT:
        return exc.BadRequestError(text)
    if code is StatusCode.ABORTED:
        if "Consumer too slow" in message:
            return exc.ConsumerTooSlow(text, rpc=error)
        return exc.AbortedByServer(text, rpc=error)
    if code is StatusCode.UNKNOWN:
        if "Exception was thrown by handler" in message:
            return exc.ExceptionThrownByHandler(text, rpc=error)
        refusal = _ENVELOPE.search(message)
        if refusal is not None:
            return _projection_refusal(refusal.group(1), text, error)
        return exc.UnknownError(text)
    if code is StatusCode.INTERNAL:
        return exc.InternalError(text, rpc=error)
    return exc.GrpcError(text, rpc=error)


# How the Projections service reports what its manager refused (esdbclient's mapping).
_ENVELOPE = re.compile(r"Envelope callback expected \w+, received (\w+) instead")


def _projection_refusal(
    kind: str, text: str, error: StatusError
) -> exc.EventStoreDBClientException:
    if kind == "Conflict":
        return exc.AlreadyExists(text)
    if kind == "NotFound":
        return exc.NotFound(text)
    if kind == "NotAuthorized":
        return exc.AccessDeniedError(text)
    if kind == "OperationFailed":
        return exc.OperationFailed(text, rpc=error)
    return exc.UnknownError(text)


def _wrong_version(error: StatusError, text: str) -> exc.EventStoreDBClientException:
    actual = _int_value(error.metadata_value("actual-version"))
    if actual is None and "Actual version: -1" in error.message:
        actual = -1
    if actual == -1:
        return exc.NotFound(text)
    stream = error.metadata_value("stream-name")
    return exc.WrongCurrentVersion(
        text,
        stream_name=stream if isinstance(stream, str) else None,
        expected_version=_int_value(error.metadata_value("expected-version")),
        actual_version=actual,
    )


def _int_value(value: object) -> int | None:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def ended_remotely(error: StatusError | None) -> exc.EventStoreDBClientException:
    """The exception for a read's or a subscription's call that ended although this client
    did not end it (``stop()``, ``close()``: only the client's own state tells that).

    ``error`` is how the call ended; None when it ended OK, which a subscription never
    does on its own. A CANCELLED status without an ``exception`` trailer is the server
    cancelling the call (a graceful shutdown resets its streams after a grace period):
    like an OK end of a subscription, it is :class:`~esdb_wire.exceptions.ServiceUnavailable`,
    which ``auto_resubscribe`` resubscribes after. Anything else is :func:`map_error`'s.
    """
    if error is None:
        return exc.ServiceUnavailable("the server ended the call")
    if error.code is StatusCode.CANCELLED and error.metadata_value("exception") is None:
        return exc.ServiceUnavailable(f"the server cancelled the call: {error}", rpc=error)
    return map_error(error)
