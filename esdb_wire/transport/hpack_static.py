"""A header encoder that never uses HPACK's dynamic table, so every encoded field can be
cached: encoding a gRPC request's headers becomes a few dictionary lookups.

h2 (on the server side) asks its ``encoder`` for one thing, ``encode(headers) -> bytes``
(and sets ``header_table_size`` when the peer changes its setting); the client's HTTP/2
layer joins pre-encoded fields (:meth:`StaticHeaderEncoder.encode_fields`). Fields are written as
static-table references where the static table has them, otherwise as literals "without
indexing" (``authorization``: "never indexed"), with plain (not Huffman) strings. The
first block announces a dynamic table size of 0, which every peer setting allows.
"""

from __future__ import annotations

from collections.abc import Iterable

_CACHE_LIMIT = 4096
_SENSITIVE = frozenset({b"authorization", b"proxy-authorization", b"cookie"})

# RFC 7541 Appendix A: the static table, index 1 first. Names with an empty value are
# listed by name only.
_STATIC_WITH_VALUES = (
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
)
_STATIC_NAMES_ONLY = (
    b"accept-language accept-ranges accept access-control-allow-origin age allow "
    b"authorization cache-control content-disposition content-encoding content-language "
    b"content-length content-location content-range content-type cookie date etag expect "
    b"expires from host if-match if-modified-since if-none-match if-range "
    b"if-unmodified-since last-modified link location max-forwards proxy-authenticate "
    b"proxy-authorization range referer refresh retry-after server set-cookie "
    b"strict-transport-security transfer-encoding user-agent vary via www-authenticate"
).split()
STATIC_TABLE: tuple[tuple[bytes, bytes], ...] = _STATIC_WITH_VALUES + tuple(
    (name, b"") for name in _STATIC_NAMES_ONLY
)

_FULL: dict[tuple[bytes, bytes], int] = {}
_NAME: dict[bytes, int] = {}
for _index, (_name, _value) in enumerate(STATIC_TABLE, 1):
    _FULL.setdefault((_name, _value), _index)
    _NAME.setdefault(_name, _index)


def _integer(value: int, prefix_bits: int, flags: int) -> bytes:
    """HPACK integer with an N-bit prefix (RFC 7541 §5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(raw: bytes) -> bytes:
    return _integer(len(raw), 7, 0x00) + raw


def encode_field(name: bytes, value: bytes) -> bytes:
    """One header field, without touching any dynamic table."""
    index = _FULL.get((name, value))
    if index is not None:
        return _integer(index, 7, 0x80)
    flags = 0x10 if name in _SENSITIVE else 0x00  # never indexed / without indexing
    name_index = _NAME.get(name)
    if name_index is not None:
        return _integer(name_index, 4, flags) + _string(value)
    return bytes((flags,)) + _string(name) + _string(value)


class StaticHeaderEncoder:
    """Drop-in for ``hpack.Encoder`` in an h2 connection (see the module docstring)."""

    def __init__(self) -> None:
        self._fields: dict[tuple[bytes, bytes], bytes] = {}
        self._table_size_update: bytes = b"\x20"  # size 0, sent with the first block
        self.header_table_size = 4096  # the peer's limit; ours stays 0

    def encode(
        self, headers: Iterable[tuple[bytes | str, bytes | str]], huffman: bool = True
    ) -> bytes:
        """A complete header block (the first one also announces our table size, 0)."""
        prefix = self._table_size_update
        self._table_size_update = b""
        return prefix + self.encode_fields(headers)

    def encode_fields(self, headers: Iterable[tuple[bytes | str, bytes | str]]) -> bytes:
        """The fields' representations, to join into a block."""
        parts = []
        cache = self._fields
        for name, value in headers:
            raw_name = name.encode("ascii") if isinstance(name, str) else name
            raw_value = value.encode("utf-8") if isinstance(value, str) else value
            key = (raw_name, raw_value)
            field = cache.get(key)
            if field is None:
                field = encode_field(raw_name, raw_value)
                if raw_name not in _SENSITIVE and len(cache) < _CACHE_LIMIT:
                    cache[key] = field
            parts.append(field)
        return b"".join(parts)


class PreencodedBlock:
    """Stands in for ``h2``'s HPACK encoder (both ``h2`` engines, client and server):
    ``encode`` returns the block about to be sent, set in :attr:`block` just before.

    Our blocks use only the static table and literals without indexing, so the peer's
    HEADER_TABLE_SIZE (which ``h2`` assigns here) never matters."""

    __slots__ = ("block", "header_table_size")

    def __init__(self) -> None:
        self.block = b""
        self.header_table_size = 4096

    def encode(self, headers: object, huffman: bool = True) -> bytes:
        """The pre-encoded block (``headers`` is ``h2``'s stand-in list, unused)."""
        return self.block
