"""Custom metadata, ``grpc-timeout`` and ``grpc-message`` codecs (header values as bytes)."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable
from urllib.parse import unquote_to_bytes

from esdb_wire.transport.status import MetadataItems, MetadataValue, StatusCode, StatusError


class MetadataError(StatusError, ValueError):
    """Metadata that cannot go on the wire, or that came off it malformed."""

    def __init__(self, message: str) -> None:
        super().__init__(StatusCode.INTERNAL, message)


_KEY = re.compile(rb"[0-9a-z_.\-]+")
_ASCII_VALUE = re.compile(rb"[ -~]*")
# Headers owned by the protocol: never user metadata, in either direction.
RESERVED_KEYS = frozenset(
    {
        b"content-type",
        b"te",
        b"user-agent",
        b"grpc-timeout",
        b"grpc-encoding",
        b"grpc-accept-encoding",
        b"grpc-status",
        b"grpc-message",
        b"grpc-status-details-bin",
        b"host",
        b"connection",
    }
)


def encode_metadata(metadata: Iterable[tuple[str, MetadataValue]]) -> list[tuple[bytes, bytes]]:
    """Validate user metadata and encode it as HTTP/2 header fields.

    Keys are lower-case ``[0-9a-z_.-]``; keys ending in ``-bin`` take bytes (sent as
    unpadded base64), others printable-ASCII strings.
    """
    headers: list[tuple[bytes, bytes]] = []
    for key, value in metadata:
        raw_key = key.encode("ascii", "replace") if isinstance(key, str) else key
        if not _KEY.fullmatch(raw_key):
            raise MetadataError(f"invalid metadata key {key!r}: use lower-case [0-9a-z_.-]")
        if raw_key in RESERVED_KEYS or raw_key.startswith(b"grpc-"):
            raise MetadataError(f"metadata key {key!r} is reserved by gRPC")
        if raw_key.endswith(b"-bin"):
            binary = value.encode("utf-8") if isinstance(value, str) else value
            if not isinstance(binary, (bytes, bytearray, memoryview)):
                raise MetadataError(f"metadata {key!r} takes bytes, not {type(value).__name__}")
            raw_value = base64.b64encode(bytes(binary)).rstrip(b"=")
        else:
            if not isinstance(value, str):
                raise MetadataError(f"metadata {key!r} takes a str (or use a -bin key for bytes)")
            raw_value = value.encode("ascii", "replace")
            if not value.isascii() or not _ASCII_VALUE.fullmatch(raw_value):
                raise MetadataError(f"metadata {key!r} value must be printable ASCII")
        headers.append((raw_key, raw_value))
    return headers


def decode_binary_value(raw: bytes) -> bytes:
    """Decode a ``-bin`` header value (base64, padded or not)."""
    try:
        return base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MetadataError(f"malformed base64 in binary metadata: {raw[:40]!r}") from None


def decode_metadata(headers: Iterable[tuple[bytes, bytes]]) -> MetadataItems:
    """The custom metadata among received header fields (pseudo and gRPC headers removed)."""
    items: list[tuple[str, MetadataValue]] = []
    for key, value in headers:
        if key[:1] == b":" or key in RESERVED_KEYS or key.startswith(b"grpc-"):
            continue
        name = key.decode("ascii", "replace")
        if key.endswith(b"-bin"):
            items.append((name, decode_binary_value(value)))
        else:
            items.append((name, value.decode("ascii", "replace")))
    return tuple(items)


# grpc-timeout: at most 8 digits and a unit; pick the finest unit that fits, rounding up.
_TIMEOUT_UNITS = (
    (b"n", 1e9),
    (b"u", 1e6),
    (b"m", 1e3),
    (b"S", 1.0),
    (b"M", 1 / 60),
    (b"H", 1 / 3600),
)
# Decoding divides by the unit's count per second (exact for n, u, m) or multiplies by
# seconds per unit (exact for S, M, H): never a rounded reciprocal.
_TIMEOUT_DIVIDE = {"n": 1e9, "u": 1e6, "m": 1e3}
_TIMEOUT_MULTIPLY = {"S": 1, "M": 60, "H": 3600}
_TIMEOUT = re.compile(rb"([0-9]{1,8})([HMSmun])")
MAX_TIMEOUT_DIGITS = 10**8 - 1


def encode_timeout(seconds: float) -> bytes:
    """A ``grpc-timeout`` value for ``seconds`` (never shorter than asked, never 0)."""
    if not seconds > 0:
        return b"1n"
    if seconds >= MAX_TIMEOUT_DIGITS * 3600:  # also infinity
        return str(MAX_TIMEOUT_DIGITS).encode() + b"H"
    for unit, scale in _TIMEOUT_UNITS:
        value = math.ceil(seconds * scale)
        if value <= MAX_TIMEOUT_DIGITS:
            return str(value).encode() + unit
    return str(MAX_TIMEOUT_DIGITS).encode() + b"H"


def decode_timeout(raw: bytes) -> float:
    """Seconds in a ``grpc-timeout`` value."""
    match = _TIMEOUT.fullmatch(raw)
    if match is None:
        raise MetadataError(f"malformed grpc-timeout {raw[:20]!r}")
    value = int(match.group(1))
    unit = match.group(2).decode()
    if unit in _TIMEOUT_DIVIDE:
        return value / _TIMEOUT_DIVIDE[unit]
    return float(value * _TIMEOUT_MULTIPLY[unit])


_MESSAGE_SAFE = frozenset(range(0x20, 0x7F)) - {ord("%")}


def encode_grpc_message(message: str) -> bytes:
    """Percent-encode a status message for the ``grpc-message`` trailer."""
    raw = message.encode("utf-8", "replace")
    if all(byte in _MESSAGE_SAFE for byte in raw):
        return raw
    return b"".join(bytes((byte,)) if byte in _MESSAGE_SAFE else b"%%%02X" % byte for byte in raw)


def decode_grpc_message(raw: bytes) -> str:
    """Decode a ``grpc-message`` trailer (lenient: bad escapes pass through)."""
    if b"%" not in raw:
        return raw.decode("utf-8", "replace")
    return unquote_to_bytes(raw).decode("utf-8", "replace")
