"""Tunables of a gRPC connection, with the defaults the official clients use."""

from __future__ import annotations

import platform
from typing import Any, NamedTuple

from esdb_wire._version import __version__
from esdb_wire.transport.http2.engine import check_engine

MiB = 1024 * 1024
DEFAULT_USER_AGENT = (
    f"esdb_wire/{__version__} ({platform.python_implementation()} {platform.python_version()})"
)


class _Fields(NamedTuple):
    max_receive_message_size: int = 17 * MiB
    max_send_message_size: int | None = None
    stream_window_size: int = 4 * MiB
    connection_window_size: int = 2**31 - 1
    max_frame_size: int = 16384
    keepalive_interval: float | None = 10.0
    keepalive_timeout: float = 10.0
    connect_timeout: float = 10.0
    write_timeout: float = 30.0
    max_concurrent_streams_default: int = 100
    user_agent: str = DEFAULT_USER_AGENT
    http2_engine: str | None = None


class ConnectionConfig(_Fields):
    """How one HTTP/2 connection behaves (immutable; ``_replace`` makes a changed copy).

    ``keepalive_interval`` / ``keepalive_timeout``: while calls are open and nothing has
    been received for ``keepalive_interval`` seconds, a PING is sent; if still nothing
    arrives within ``keepalive_timeout``, the connection is declared dead and its calls
    fail with UNAVAILABLE. ``None`` disables keepalive.

    ``http2_engine``: ``"h2"`` (the ``h2`` library; the default, also for ``None``) or
    ``"native"`` (our own HTTP/2 engine, faster); see
    :mod:`esdb_wire.transport.http2.engine`.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> ConnectionConfig:
        self = super().__new__(cls, *args, **kwargs)
        self._check()
        return self

    def _check(self) -> None:
        if not 65535 <= self.stream_window_size <= 2**31 - 1:
            raise ValueError("stream_window_size must be within 65535 .. 2**31-1")
        if not 65535 <= self.connection_window_size <= 2**31 - 1:
            raise ValueError("connection_window_size must be within 65535 .. 2**31-1")
        if not 16384 <= self.max_frame_size <= 2**24 - 1:
            raise ValueError("max_frame_size must be within 16384 .. 2**24-1")
        if self.max_receive_message_size < 0:
            raise ValueError("max_receive_message_size must not be negative")
        if self.keepalive_interval is not None and self.keepalive_interval <= 0:
            raise ValueError("keepalive_interval must be positive (or None to disable)")
        if self.keepalive_timeout <= 0:
            raise ValueError("keepalive_timeout must be positive")
        check_engine(self.http2_engine)


DEFAULT_CONFIG = ConnectionConfig()
