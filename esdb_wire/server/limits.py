"""What one peer may cost the embedded server: :class:`ServerLimits`, every bound the
server's transport enforces (concurrent streams, buffered request bytes, header list
size, reset and control-frame budgets, connection count and timeouts). The accounting
behind them is :mod:`esdb_wire.server.http2.accounting`; the host
(:mod:`esdb_wire.server.host`) and the HTTP/2 connection
(:mod:`esdb_wire.server.http2.connection`) enforce them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerLimits:
    """Per-connection and per-server bounds of the embedded server's transport.

    Defaults suit a development server shared by test suites; every value can be set
    with ``EmbeddedServer(limits=ServerLimits(...))`` or the server's command line.
    """

    #: Concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS). A stream
    #: counts until its handler has ended, even after the peer reset it; streams beyond
    #: the limit are refused with RST_STREAM(REFUSED_STREAM).
    max_concurrent_streams: int = 1000
    #: The initial flow-control window of each request stream (SETTINGS_INITIAL_WINDOW_SIZE):
    #: how many bytes a stream may hold before the handler consumes them.
    initial_window_size: int = 65535
    #: Largest request message (after decompression).
    max_receive_message_size: int = 16 * 1024 * 1024
    #: Bytes of large unfinished request messages one connection may buffer (one
    #: message is always admitted, so a connection can always make progress).
    connection_buffer_size: int = 16 * 1024 * 1024
    #: SETTINGS_MAX_HEADER_LIST_SIZE: a larger request header list ends the connection.
    max_header_list_size: int = 16 * 1024
    #: Streams reset by the peer (or refused or failed by the server for its misbehaviour)
    #: allowed at once, and refilled per second; beyond, GOAWAY(ENHANCE_YOUR_CALM).
    reset_burst: int = 1000
    reset_rate: float = 100.0
    #: PING and SETTINGS frames (and empty DATA frames) allowed at once, and refilled
    #: per second; each request frame also refills one. Beyond, GOAWAY(ENHANCE_YOUR_CALM).
    control_burst: int = 1000
    control_rate: float = 100.0
    #: Open connections; at the limit the connection idle the longest is closed to make
    #: room, or the new one is refused when every connection has calls in progress.
    max_connections: int = 1024
    #: Seconds a new connection has to finish its TLS handshake and HTTP/2 preface.
    handshake_timeout: float = 10.0
    #: Seconds a connection may stay without open streams before the server closes it
    #: with GOAWAY (None: never).
    idle_timeout: float | None = 300.0
    #: Unsent bytes queued for a peer beyond which the server stops reading from it.
    write_buffer_limit: int = 1024 * 1024
    #: Bytes of one peer's input handed to HTTP/2 at a time; a connection's input is
    #: processed for at most 2 ms per event loop turn, in such slices (fairness).
    read_slice: int = 4096

    def __post_init__(self) -> None:
        for name in (
            "max_concurrent_streams",
            "initial_window_size",
            "max_receive_message_size",
            "connection_buffer_size",
            "max_header_list_size",
            "reset_burst",
            "control_burst",
            "max_connections",
            "write_buffer_limit",
            "read_slice",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        if not 1 <= self.initial_window_size <= 2**31 - 1:
            raise ValueError("initial_window_size must be 1 .. 2**31 - 1")
        if self.handshake_timeout <= 0 or (
            self.idle_timeout is not None and self.idle_timeout <= 0
        ):
            raise ValueError("timeouts must be positive")
