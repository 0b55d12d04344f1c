"""What a gRPC request's header fields tell the server, remembered for repeated blocks.

A client sends the same header fields for every call to a method (unless it sends a
deadline, ``grpc-timeout``, which changes from call to call). :class:`RequestHeads` reads
them once: the path, whether the request is acceptable, the custom metadata, the
compression; later calls with the same fields get the same :class:`RequestHead`.
"""

from __future__ import annotations

from collections.abc import Sequence

from esdb_wire.transport.framing import DECOMPRESSORS, FramingError
from esdb_wire.transport.metadata import (
    MetadataError,
    decode_metadata,
    decode_timeout,
)
from esdb_wire.transport.status import MetadataItems, StatusCode

Headers = Sequence[tuple[bytes, bytes]]

# Header lists remembered per connection (a new one beyond replaces them all), and the
# largest remembered (name and value bytes): a hostile peer's distinct huge header lists
# are read, not kept.
REMEMBERED_HEADS = 32
MAX_REMEMBERED_SIZE = 1024


class RequestHead:
    """One request's header fields, read: ``problem`` (a status and text to refuse the call
    with) or the path, metadata, deadline and ``grpc-encoding``."""

    __slots__ = ("encoding", "metadata", "path", "problem", "timeout")

    def __init__(self, headers: Headers) -> None:
        values = dict(headers)
        self.path = values.get(b":path", b"").decode("ascii", "replace")
        self.metadata: MetadataItems = ()
        self.timeout: float | None = None
        self.encoding: str | None = None
        self.problem = _check(values)
        if self.problem is not None:
            return
        try:
            self.metadata = decode_metadata(headers)
            if b"grpc-timeout" in values:
                self.timeout = decode_timeout(values[b"grpc-timeout"])
            encoding = values.get(b"grpc-encoding")
            if encoding is not None:
                self.encoding = encoding.decode("ascii", "replace")
                if self.encoding != "identity" and self.encoding not in DECOMPRESSORS:
                    raise FramingError(
                        StatusCode.UNIMPLEMENTED, f"unsupported grpc-encoding {self.encoding!r}"
                    )
        except (MetadataError, FramingError) as exc:
            self.problem = exc.code, exc.message


def _check(values: dict[bytes, bytes]) -> tuple[StatusCode, str] | None:
    if values.get(b":method") != b"POST":
        return StatusCode.UNIMPLEMENTED, "only POST is supported"
    if not values.get(b"content-type", b"").startswith(b"application/grpc"):
        return StatusCode.UNKNOWN, "content-type must be application/grpc"
    if not values.get(b":path", b"").startswith(b"/"):
        return StatusCode.UNIMPLEMENTED, "missing :path"
    return None


class RequestHeads:
    """The :class:`RequestHead` of each request on one connection, remembering up to
    :data:`REMEMBERED_HEADS` small header lists without a deadline."""

    __slots__ = ("_remembered",)

    def __init__(self) -> None:
        self._remembered: dict[tuple[tuple[bytes, bytes], ...], RequestHead] = {}

    def read(self, headers: Headers) -> RequestHead:
        """The request head of ``headers`` (decoded header fields, in order)."""
        key = headers if type(headers) is tuple else tuple(headers)
        remembered = self._remembered
        head = remembered.get(key)
        if head is None:
            head = RequestHead(key)
            size = sum(len(name) + len(value) for name, value in key)
            if head.timeout is None and size <= MAX_REMEMBERED_SIZE:
                if len(remembered) >= REMEMBERED_HEADS:
                    remembered.clear()
                remembered[key] = head
        return head
