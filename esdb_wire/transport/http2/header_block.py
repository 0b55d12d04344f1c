"""Decoding HPACK header blocks (RFC 7541), with a cache for blocks that repeat.

A gRPC server sends nearly the same response headers and trailers on every call, and
once their fields are in its dynamic table the encoded blocks are byte-for-byte equal.
A block that leaves the dynamic table untouched decodes the same way for as long as the
table does not change, so such blocks are remembered; any block that changes the table
clears the memory. Decoding itself is ``hpack``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from esdb_wire.transport.http2.errors import ErrorCode, Http2ProtocolError

if TYPE_CHECKING:
    import hpack

Headers = tuple[tuple[bytes, bytes], ...]

_CACHE_LIMIT = 512


class HeaderBlockDecoder:
    """HPACK decoder for one connection's received header blocks."""

    __slots__ = ("_cache", "_decoder", "max_header_list_size")

    def __init__(self, max_header_list_size: int) -> None:
        self.max_header_list_size = max_header_list_size
        self._decoder: hpack.Decoder | None = None
        self._cache: dict[bytes, Headers] = {}

    def decode(self, block: bytes) -> Headers:
        """The (name, value) pairs of a complete header block, as bytes.

        Raises :class:`Http2ProtocolError` (COMPRESSION_ERROR) on an undecodable block.
        """
        headers = self._cache.get(block)
        if headers is not None:
            return headers
        try:
            return self.decode_uncached(block)
        except Exception as exc:  # hpack's errors, and its bugs on hostile input
            raise Http2ProtocolError(
                ErrorCode.COMPRESSION_ERROR, f"undecodable header block: {exc}"
            ) from None

    def remembered_or_decoded(self, block: bytes) -> Headers:
        """Like :meth:`decode`, but raises hpack's exceptions as they are (for ``h2``,
        which turns them into connection errors)."""
        headers = self._cache.get(block)
        if headers is None:
            headers = self.decode_uncached(block)
        return headers

    @property
    def remembered(self) -> Mapping[bytes, Headers]:
        """The remembered blocks and their headers (read-only)."""
        return MappingProxyType(self._cache)

    def forget(self) -> None:
        """Drop every remembered block."""
        self._cache.clear()

    @property
    def hpack_decoder(self) -> hpack.Decoder:
        """The underlying decoder (created on first use)."""
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = _new_decoder(self.max_header_list_size)
        return decoder

    def decode_uncached(self, block: bytes) -> Headers:
        """Decode (and remember, if the block leaves the table alone); raises hpack's
        exceptions as they are."""
        decoder = self.hpack_decoder
        table = decoder.header_table
        before = (table.maxsize, list(table.dynamic_entries))
        decoded = decoder.decode(block, raw=True)
        headers = tuple((bytes(name), bytes(value)) for name, value in decoded)
        cache = self._cache
        if (table.maxsize, list(table.dynamic_entries)) != before:
            cache.clear()
        elif len(cache) < _CACHE_LIMIT:
            cache[bytes(block)] = headers
        return headers


def _new_decoder(max_header_list_size: int) -> hpack.Decoder:
    import hpack  # noqa: PLC0415 (imported with the first header block)

    decoder = hpack.Decoder(max_header_list_size=max_header_list_size)
    return decoder


class H2HeaderDecoder:
    """A drop-in for ``h2``'s ``H2Connection.decoder`` (in the client's ``h2`` engine,
    :mod:`.h2_engine`) with the same memory for repeated blocks: once their fields are
    indexed, a gRPC server sends the same header block bytes for every call's response
    headers and trailers. (The embedded server has its own bounded one,
    :mod:`esdb_wire.server.http2.header_decoder`.)"""

    __slots__ = ("_blocks",)

    def __init__(self, max_header_list_size: int = 2**16) -> None:
        self._blocks = HeaderBlockDecoder(max_header_list_size)

    def decode(self, data: bytes, raw: bool = False) -> list[tuple[bytes, bytes]]:
        """Like ``hpack.Decoder.decode(data, raw=True)``; raises hpack's exceptions."""
        return list(self._blocks.remembered_or_decoded(data))

    @property
    def remembered(self) -> Mapping[bytes, Headers]:
        """The remembered blocks and their headers (read-only)."""
        return self._blocks.remembered

    @property
    def max_header_list_size(self) -> int:
        return self._blocks.max_header_list_size

    @max_header_list_size.setter
    def max_header_list_size(self, value: int) -> None:
        self._blocks.max_header_list_size = value
        self._blocks.hpack_decoder.max_header_list_size = value
        self._blocks.forget()  # remembered blocks were checked against the old limit

    @property
    def max_allowed_table_size(self) -> int:
        value: int = self._blocks.hpack_decoder.max_allowed_table_size
        return value

    @max_allowed_table_size.setter
    def max_allowed_table_size(self, value: int) -> None:
        self._blocks.hpack_decoder.max_allowed_table_size = value
