"""The seam between gRPC and HTTP/2: what an HTTP/2 engine offers the client.

:class:`~esdb_wire.transport.connection.ClientConnection` speaks to HTTP/2 only through
the :class:`Http2Engine` interface below. Two engines implement it:

* ``"h2"`` (the default): :class:`~esdb_wire.transport.http2.h2_engine.H2Engine`, a thin
  adapter over ``h2.connection.H2Connection``. ``h2`` owns the HTTP/2 state machine,
  frame parsing, flow-control accounting and stream states.
* ``"native"`` (opt-in, faster):
  :class:`~esdb_wire.transport.http2.client.ClientHttp2Connection`, this package's own
  sans-IO HTTP/2 client, written for gRPC's pattern of many short streams.

Both report :mod:`~esdb_wire.transport.http2.events` and raise
:class:`~esdb_wire.transport.http2.errors.Http2ProtocolError` and
:class:`~esdb_wire.transport.http2.errors.StreamClosedError`, so the gRPC layer above is
the same whichever engine runs, and the two can be compared byte for byte and
microsecond for microsecond.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from esdb_wire.transport.http2.events import Event

H2_ENGINE = "h2"
NATIVE_ENGINE = "native"
ENGINES = (H2_ENGINE, NATIVE_ENGINE)
"""The engine names a client accepts as ``http2_engine``."""

DEFAULT_ENGINE = H2_ENGINE
"""The engine used when none is named."""


class Http2Engine(Protocol):
    """One client HTTP/2 connection, without I/O.

    Frames to send accumulate in :attr:`output` (the list itself, so a driver can test
    it cheaply); :meth:`data_to_send` drains it. :meth:`receive_data` returns events in
    the order the peer caused them.
    """

    @property
    def output(self) -> list[bytes | memoryview]:
        """Frames queued and not yet handed out by :meth:`data_to_send`."""

    @property
    def max_outbound_frame_size(self) -> int:
        """The largest DATA payload the peer accepts in one frame."""

    @property
    def stream_ids_left(self) -> bool:
        """Whether another stream can still be opened on this connection."""

    def initiate(self) -> None:
        """Queue the connection preface, our SETTINGS and the connection window."""

    def data_to_send(self) -> bytes:
        """Everything queued to send, in order; empties :attr:`output`."""

    def start_stream(self, block: bytes, end_stream: bool = False) -> int:
        """Open the next stream with an HPACK header block that uses no dynamic table
        entries of ours; returns the stream id."""

    def local_flow_control_window(self, stream_id: int) -> int:
        """How many DATA bytes may be sent on ``stream_id`` now (may be negative).
        Raises ``StreamClosedError`` for a stream closed on our side."""

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool = False) -> None:
        """Queue one DATA frame; the caller keeps within window and frame size."""

    def end_stream(self, stream_id: int) -> None:
        """Half-close ``stream_id`` with an empty DATA frame."""

    def reset_stream(self, stream_id: int, code: int = 0x8) -> None:
        """Send RST_STREAM (nothing happens if the stream is already gone)."""

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        """Hand ``size`` consumed bytes of ``stream_id`` back to the peer."""

    def ping(self, payload: bytes) -> None:
        """Queue a PING with an 8-byte payload."""

    def close_connection(self, code: int = 0, debug: bytes = b"") -> None:
        """Queue GOAWAY; no stream can be opened afterwards."""

    def receive_data(self, data: bytes) -> list[Event]:
        """Process received bytes; returns what happened, in order. Raises
        ``Http2ProtocolError`` (with a GOAWAY queued) when the peer broke HTTP/2."""


def drain(output: list[bytes | memoryview]) -> bytes:
    """Everything in an engine's ``output`` list as one ``bytes``; empties the list."""
    if not output:
        return b""
    data = bytes(output[0]) if len(output) == 1 else b"".join(output)
    output.clear()
    return data


def check_engine(name: str | None) -> str:
    """The engine ``name`` stands for (``None``: :data:`DEFAULT_ENGINE`); raises
    ``ValueError`` naming the choices for anything else."""
    if name is None:
        return DEFAULT_ENGINE
    if name not in ENGINES:
        choices = ", ".join(repr(engine) for engine in ENGINES)
        raise ValueError(f"unknown http2_engine {name!r}: choose one of {choices}")
    return name


def create_engine(
    name: str | None,
    *,
    stream_window_size: int,
    connection_window_size: int,
    max_frame_size: int,
    max_header_list_size: int = 2**20,
) -> Http2Engine:
    """A new client connection state for the engine ``name`` (``None``: the default).

    The native engine is imported only when chosen, and ``h2`` only when it is.
    """
    if check_engine(name) == NATIVE_ENGINE:
        from esdb_wire.transport.http2.client import ClientHttp2Connection  # noqa: PLC0415

        return ClientHttp2Connection(
            stream_window_size=stream_window_size,
            connection_window_size=connection_window_size,
            max_frame_size=max_frame_size,
            max_header_list_size=max_header_list_size,
        )
    from esdb_wire.transport.http2.h2_engine import H2Engine  # noqa: PLC0415

    return H2Engine(
        stream_window_size=stream_window_size,
        connection_window_size=connection_window_size,
        max_frame_size=max_frame_size,
        max_header_list_size=max_header_list_size,
    )
