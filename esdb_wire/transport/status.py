"""gRPC status codes and :class:`StatusError`, the transport's one error for a failed call."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from esdb_wire.protos.status_pb2 import Status

MetadataValue = Union[str, bytes]
MetadataItems = tuple[tuple[str, MetadataValue], ...]


class StatusCode(enum.IntEnum):
    """The gRPC status codes (same numbers as ``google.rpc.Code``)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class StatusError(Exception):
    """A call ended with a non-OK status.

    ``trailing_metadata`` holds the custom trailers (``-bin`` values as bytes);
    ``details_bin`` the raw ``grpc-status-details-bin`` (see :attr:`status_details`).
    ``retryable`` is True when the request is known not to have been processed by the
    server (refused stream, a GOAWAY that excluded it, a call that never left the client).
    """

    def __init__(
        self,
        code: StatusCode,
        message: str = "",
        *,
        trailing_metadata: MetadataItems = (),
        details_bin: bytes | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.trailing_metadata = trailing_metadata
        self.details_bin = details_bin
        self.retryable = retryable

    @property
    def status_details(self) -> Status | None:
        """``grpc-status-details-bin`` decoded as ``google.rpc.Status``, if it was sent."""
        if self.details_bin is None:
            return None
        from esdb_wire.protos.status_pb2 import Status  # noqa: PLC0415 (only when asked)

        return Status.FromString(self.details_bin)

    def metadata_value(self, key: str) -> MetadataValue | None:
        """The first trailing metadata value under ``key``, or None."""
        for name, value in self.trailing_metadata:
            if name == key:
                return value
        return None

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}" if self.message else self.code.name

    def __repr__(self) -> str:
        return f"StatusError({self.code.name}, {self.message!r})"


# The gRPC HTTP-to-status mapping, for responses whose :status is not 200.
_HTTP_TO_STATUS = {
    400: StatusCode.INTERNAL,
    401: StatusCode.UNAUTHENTICATED,
    403: StatusCode.PERMISSION_DENIED,
    404: StatusCode.UNIMPLEMENTED,
    429: StatusCode.UNAVAILABLE,
    502: StatusCode.UNAVAILABLE,
    503: StatusCode.UNAVAILABLE,
    504: StatusCode.UNAVAILABLE,
}


def status_for_http(http_status: int) -> StatusCode:
    """The gRPC status a client reports for a non-200 HTTP response."""
    return _HTTP_TO_STATUS.get(http_status, StatusCode.UNKNOWN)


# HTTP/2 error codes (RFC 9113 section 7) as gRPC statuses, for RST_STREAM and GOAWAY.
_H2_ERROR_TO_STATUS = {
    0x0: StatusCode.INTERNAL,  # NO_ERROR before a status arrived
    0x1: StatusCode.INTERNAL,  # PROTOCOL_ERROR
    0x2: StatusCode.INTERNAL,  # INTERNAL_ERROR
    0x3: StatusCode.INTERNAL,  # FLOW_CONTROL_ERROR
    0x4: StatusCode.INTERNAL,  # SETTINGS_TIMEOUT
    0x5: StatusCode.INTERNAL,  # STREAM_CLOSED
    0x6: StatusCode.INTERNAL,  # FRAME_SIZE_ERROR
    0x7: StatusCode.UNAVAILABLE,  # REFUSED_STREAM
    0x8: StatusCode.CANCELLED,  # CANCEL
    0x9: StatusCode.INTERNAL,  # COMPRESSION_ERROR
    0xA: StatusCode.INTERNAL,  # CONNECT_ERROR
    0xB: StatusCode.RESOURCE_EXHAUSTED,  # ENHANCE_YOUR_CALM
    0xC: StatusCode.PERMISSION_DENIED,  # INADEQUATE_SECURITY
    0xD: StatusCode.INTERNAL,  # HTTP_1_1_REQUIRED
}


def status_for_h2_error(error_code: int) -> StatusCode:
    """The gRPC status for a stream reset by the peer with ``error_code``."""
    return _H2_ERROR_TO_STATUS.get(int(error_code), StatusCode.INTERNAL)


def unanswered_hint(tls: bool) -> str:
    """Why a server may close a new connection before sending anything, for messages:
    over plaintext it may expect TLS; over TLS it may have refused our client
    certificate (TLS 1.3 checks it after our side of the handshake is done)."""
    if tls:
        return (
            " (the server ended the TLS connection without answering: if a client "
            "certificate is presented, does the server trust the CA that signed it?)"
        )
    return " (the server never answered: does it expect TLS?)"
