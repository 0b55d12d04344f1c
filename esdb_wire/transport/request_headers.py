"""The HEADERS block of each gRPC request on one client connection, from pre-encoded parts.

The fields every call shares (``:method``, ``:scheme``, ``:authority``, ``te``,
``content-type``, ``user-agent``, ``grpc-accept-encoding``) are encoded once per
connection and each method's ``:path`` once per method (see
:mod:`~esdb_wire.transport.hpack_static`); a call adds only its ``grpc-timeout`` and
custom metadata.
"""

from __future__ import annotations

from esdb_wire.transport.hpack_static import StaticHeaderEncoder, encode_field
from esdb_wire.transport.metadata import encode_timeout

_PATH_CACHE_LIMIT = 1024


class RequestHeaderBlocks:
    """Encodes the request header blocks of one connection's calls."""

    def __init__(self, authority: str, scheme: str, user_agent: str) -> None:
        self._encoder = StaticHeaderEncoder()
        # IDNA leaves an ASCII name as it is: only other names need its codec (imported on
        # first use).
        encoded_authority = authority.encode("ascii" if authority.isascii() else "idna")
        self._block_start = self._encoder.encode_fields(
            [
                (b":method", b"POST"),
                (b":scheme", scheme.encode("ascii")),
                (b":authority", encoded_authority),
            ]
        )
        self._block_end = self._encoder.encode_fields(
            [
                (b"te", b"trailers"),
                (b"content-type", b"application/grpc"),
                (b"user-agent", user_agent.encode("ascii", "replace")),
                (b"grpc-accept-encoding", b"identity,deflate,gzip"),
            ]
        )
        self._path_blocks: dict[str, bytes] = {}

    def block(self, path: str, metadata: list[tuple[bytes, bytes]], timeout: float | None) -> bytes:
        """The header block of a call to ``path`` with ``metadata`` (encoded names and
        values) and, unless None, a ``grpc-timeout`` of ``timeout`` seconds."""
        path_block = self._path_blocks.get(path)
        if path_block is None:
            path_block = encode_field(b":path", path.encode("ascii"))
            if len(self._path_blocks) < _PATH_CACHE_LIMIT:
                self._path_blocks[path] = path_block
        block = self._block_start + path_block + self._block_end
        if timeout is not None:
            block += encode_field(b"grpc-timeout", encode_timeout(timeout))
        if metadata:
            block += self._encoder.encode_fields(metadata)
        return block
