"""HPACK decoding of request header blocks for the embedded server, with bounded memory.

gRPC clients send byte-identical header blocks for every call to a method once their
fields are in the HPACK dynamic table, so decoded blocks are remembered (decoding is a
large part of a small call's cost). A hostile peer can send many distinct blocks, so
the memory is bounded in bytes, only small blocks are remembered, and a block that
changes the dynamic table clears it (it would decode differently afterwards). The
client has its own decoder (:mod:`esdb_wire.transport.http2.header_block`).
"""

from __future__ import annotations

from typing import Any

import hpack

# Only blocks up to this size are remembered (a repeated gRPC request block is ~50-300
# bytes), and the memory holds at most this many bytes of blocks and decoded fields.
MAX_REMEMBERED_BLOCK = 2048
REMEMBERED_BYTES = 64 * 1024
# What one remembered field costs besides its bytes (tuple and bytes object headers).
_FIELD_OVERHEAD = 120


class ServerHeaderDecoder:
    """A drop-in for ``h2``'s ``H2Connection.decoder`` on the server.

    Decodes with ``hpack`` (whose errors it raises as they are, for ``h2`` to turn into
    connection errors) and remembers repeated small blocks within
    :data:`REMEMBERED_BYTES`.
    """

    __slots__ = ("_cache", "_cache_bytes", "_decoder", "remembered_bytes")

    def __init__(self, max_header_list_size: int, remembered_bytes: int = REMEMBERED_BYTES) -> None:
        self._decoder: Any = hpack.Decoder(max_header_list_size=max_header_list_size)
        self._cache: dict[bytes, tuple[tuple[bytes, bytes], ...]] = {}
        self._cache_bytes = 0
        self.remembered_bytes = remembered_bytes

    @property
    def cached_bytes(self) -> int:
        """Bytes the remembered blocks cost (roughly)."""
        return self._cache_bytes

    def decode(self, data: bytes, raw: bool = False) -> list[tuple[bytes, bytes]]:
        """Like ``hpack.Decoder.decode(data, raw=True)``."""
        cached = self._cache.get(data) if len(data) <= MAX_REMEMBERED_BLOCK else None
        if cached is not None:
            return list(cached)
        decoder = self._decoder
        table = decoder.header_table
        before = (table.maxsize, list(table.dynamic_entries))
        decoded = decoder.decode(data, raw=True)
        headers = tuple((bytes(name), bytes(value)) for name, value in decoded)
        if (table.maxsize, list(table.dynamic_entries)) != before:
            self._forget()
        elif len(data) <= MAX_REMEMBERED_BLOCK:
            cost = len(data) + sum(len(n) + len(v) + _FIELD_OVERHEAD for n, v in headers)
            if self._cache_bytes + cost > self.remembered_bytes:
                self._forget()
            if cost <= self.remembered_bytes:
                self._cache[bytes(data)] = headers
                self._cache_bytes += cost
        return list(headers)

    def _forget(self) -> None:
        self._cache.clear()
        self._cache_bytes = 0

    @property
    def max_header_list_size(self) -> int:
        value: int = self._decoder.max_header_list_size
        return value

    @max_header_list_size.setter
    def max_header_list_size(self, value: int) -> None:
        self._decoder.max_header_list_size = value
        self._forget()  # remembered blocks were checked against the old limit

    @property
    def max_allowed_table_size(self) -> int:
        value: int = self._decoder.max_allowed_table_size
        return value

    @max_allowed_table_size.setter
    def max_allowed_table_size(self, value: int) -> None:
        self._decoder.max_allowed_table_size = value
