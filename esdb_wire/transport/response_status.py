"""How the client reads a gRPC response's HTTP/2 headers and trailers: whether the answer
is gRPC at all, the call's status and its metadata. Sans-IO and stateless but for a memo;
:class:`~esdb_wire.transport.connection.ClientConnection` applies the results to its calls.
"""

from __future__ import annotations

from esdb_wire.transport.http2.header_block import Headers
from esdb_wire.transport.metadata import decode_binary_value, decode_grpc_message, decode_metadata
from esdb_wire.transport.status import MetadataItems, StatusCode, StatusError, status_for_http

_METADATA_MEMO_LIMIT = 256
_STATUS_BY_VALUE = {str(int(code)).encode("ascii"): code for code in StatusCode}

TrailerFields = tuple["bytes | None", bytes, "bytes | None"]
"""A response's ``grpc-status`` (None if absent), raw ``grpc-message`` and decoded
``grpc-status-details-bin`` (None if absent)."""


def protocol_mismatch(first_bytes: bytes) -> str | None:
    """Explain a first answer that is not HTTP/2 at all."""
    if first_bytes[:1] in (b"\x15", b"\x16") and first_bytes[1:2] == b"\x03":
        return "the server answered with TLS: connect with TLS enabled"
    if first_bytes.startswith(b"HTTP/"):
        return "the server answered with HTTP/1.x, not HTTP/2: is this a gRPC endpoint?"
    return None


def scan_response_headers(headers: Headers) -> tuple[bytes, bytes, str | None]:
    """The ``:status`` and ``content-type`` of a response's headers (empty if absent) and
    its ``grpc-encoding`` (None if absent)."""
    status = b""
    content_type = b""
    encoding = None
    for name, value in headers:
        if name == b":status":
            status = value
        elif name == b"content-type":
            content_type = value
        elif name == b"grpc-encoding":
            encoding = value.decode("ascii", "replace")
    return status, content_type, encoding


def not_grpc_error(status: bytes, content_type: bytes) -> StatusError | None:
    """Why response headers that start a body (not Trailers-Only) do not start a gRPC
    response: a status other than 200, or a content-type not ``application/grpc``."""
    if status != b"200":
        code = status_for_http(int(status)) if status.isdigit() else StatusCode.UNKNOWN
        return StatusError(code, f"unexpected HTTP status {status.decode('ascii', 'replace')}")
    if not content_type.startswith(b"application/grpc"):
        return StatusError(
            StatusCode.UNKNOWN,
            f"unexpected content-type {content_type.decode('ascii', 'replace')!r}",
        )
    return None


def scan_trailers(headers: Headers) -> TrailerFields:
    """The status fields of a response's trailers (see :data:`TrailerFields`). Raises
    :class:`~esdb_wire.transport.metadata.MetadataError` for undecodable details."""
    grpc_status: bytes | None = None
    message = b""
    details: bytes | None = None
    for name, value in headers:
        if name == b"grpc-status":
            grpc_status = value
        elif name == b"grpc-message":
            message = value
        elif name == b"grpc-status-details-bin":
            details = decode_binary_value(value)
    return grpc_status, message, details


def trailers_error(
    fields: TrailerFields,
    trailing: MetadataItems,
    *,
    http_status: bytes | None,
    message_pending: bool,
) -> StatusError | None:
    """The call's error given its trailers' status ``fields`` and metadata ``trailing``;
    None for OK. ``http_status`` is the ``:status`` of a Trailers-Only response (None for
    trailers after a body); ``message_pending``: the body ended inside a message."""
    grpc_status, message, details = fields
    if grpc_status is None:
        if http_status is not None and http_status != b"200":
            code = status_for_http(int(http_status)) if http_status.isdigit() else None
            return StatusError(
                code or StatusCode.UNKNOWN,
                f"unexpected HTTP status {http_status.decode('ascii', 'replace')}",
                trailing_metadata=trailing,
            )
        return StatusError(
            StatusCode.UNKNOWN,
            "response ended without grpc-status",
            trailing_metadata=trailing,
        )
    code = _STATUS_BY_VALUE.get(grpc_status, StatusCode.UNKNOWN)
    if code is StatusCode.OK:
        if message_pending:
            return StatusError(StatusCode.INTERNAL, "response ended inside a message")
        return None
    return StatusError(
        code,
        decode_grpc_message(message),
        trailing_metadata=trailing,
        details_bin=details,
    )


class MetadataMemo:
    """``decode_metadata(headers)``, remembered for header tuples the decoder reuses (a
    repeated header block decodes to the very same tuple)."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Headers, MetadataItems]] = {}

    def decode(self, headers: Headers) -> MetadataItems:
        """The custom metadata of ``headers``. Raises
        :class:`~esdb_wire.transport.metadata.MetadataError` for invalid metadata."""
        memo = self._memo.get(id(headers))
        if memo is not None and memo[0] is headers:
            return memo[1]
        items = decode_metadata(headers)
        if len(self._memo) >= _METADATA_MEMO_LIMIT:
            self._memo.clear()
        # The entry holds `headers`, so its id cannot be reused while remembered.
        self._memo[id(headers)] = (headers, items)
        return items
