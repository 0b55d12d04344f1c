"""The seam between the embedded server's gRPC layer and HTTP/2: what a server engine offers.

:class:`~esdb_wire.server.http2.connection.ServerConnection` speaks to HTTP/2 only
through :class:`ServerHttp2Engine`, and hears from it through the callbacks of
:class:`ServerEvents`. Two engines implement it:

* ``"h2"`` (the default): :class:`~esdb_wire.server.http2.h2_engine.H2ServerEngine`, an
  adapter over ``h2.connection.H2Connection``, which owns the HTTP/2 state machine.
* ``"native"`` (opt-in, faster):
  :class:`~esdb_wire.server.http2.native_engine.NativeServerEngine`, the server side of
  esdb_wire's own sans-IO HTTP/2, on the client engine's frame and HPACK modules
  (:mod:`esdb_wire.transport.http2.frames`, :mod:`esdb_wire.transport.hpack_static`).

Both report the same callbacks, raise
:class:`~esdb_wire.transport.http2.errors.Http2ProtocolError` (a GOAWAY queued) when the
peer breaks HTTP/2 and :class:`~esdb_wire.transport.http2.errors.StreamClosedError`
when asked to send on a stream that is closed, so the server's behaviour and its
hostile-peer protections (:mod:`.accounting`, enforced in ``ServerConnection``) are
the same whichever engine runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from esdb_wire.server.http2.header_decoder import ServerHeaderDecoder
    from esdb_wire.server.limits import ServerLimits

H2_ENGINE = "h2"
NATIVE_ENGINE = "native"
SERVER_ENGINES = (H2_ENGINE, NATIVE_ENGINE)
"""The engine names the server accepts as ``http2_engine``."""

DEFAULT_SERVER_ENGINE = H2_ENGINE
"""The engine used when none is named."""


class ServerEvents(Protocol):
    """What a server engine reports, as it happens (one call per received frame that
    matters). A callback may call back into the engine (send, reset, close); once the
    connection is closed the engine processes no further frame of that input."""

    @property
    def closed(self) -> bool:
        """Whether the connection has ended (the engine stops reporting)."""

    def on_request(
        self, stream_id: int, headers: Sequence[tuple[bytes, bytes]], end_stream: bool
    ) -> None:
        """A new stream's request header block (``end_stream``: no request body)."""

    def on_data(self, stream_id: int, data: bytes, flow_controlled_length: int, end: bool) -> None:
        """A DATA frame's payload (padding removed) and the window it used. Also called
        for a stream that is already closed (to have its bytes handed back)."""

    def on_stream_ended(self, stream_id: int) -> None:
        """The peer ended its side of the stream (after the frame's data, if any)."""

    def on_stream_reset(self, stream_id: int, remote: bool) -> None:
        """The stream was reset: by the peer (``remote``), or by the engine after the
        peer's error on that stream."""

    def on_window_updated(self, stream_id: int) -> None:
        """Send window opened on ``stream_id`` (0: the connection's, or every stream's
        after a SETTINGS change)."""

    def on_settings(self, initial_window_changed: bool) -> None:
        """The peer's SETTINGS frame (the first one is part of its preface)."""

    def on_control_frame(self, kind: str) -> None:
        """A frame that carries no request and costs the server (PING, PRIORITY, an
        unknown type, or a frame for a stream already closed): ``kind`` names it."""

    def on_goaway(self) -> None:
        """The peer sent GOAWAY."""


class ServerHttp2Engine(Protocol):
    """One accepted HTTP/2 connection, server side, without I/O.

    Header blocks are handed over encoded (HPACK without dynamic-table entries of ours,
    see :mod:`esdb_wire.transport.hpack_static`). The methods named like
    :class:`~esdb_wire.transport.flow.DataSender`'s let a stream's
    :class:`~esdb_wire.transport.flow.Outbound` write through the engine.
    """

    header_decoder: ServerHeaderDecoder
    """Request header blocks, decoded with bounded memory for repeated ones."""

    @property
    def max_outbound_frame_size(self) -> int:
        """The largest DATA payload the peer accepts in one frame."""

    @property
    def highest_inbound_stream_id(self) -> int:
        """The highest stream id the peer has opened (0: none)."""

    def initiate(self) -> None:
        """Queue our SETTINGS and the connection window's increase."""

    def data_to_send(self) -> bytes:
        """Everything queued to send, in order."""

    def receive_data(self, data: bytes) -> None:
        """Process bytes from the peer, reporting through :class:`ServerEvents`. Raises
        ``Http2ProtocolError`` (with a GOAWAY queued) when the peer broke HTTP/2."""

    def send_headers(self, stream_id: int, block: bytes, end_stream: bool = False) -> None:
        """Queue a header block (response headers, or trailers with ``end_stream``)."""

    def local_flow_control_window(self, stream_id: int) -> int:
        """How many DATA bytes may be sent on ``stream_id`` now (may be negative).
        Raises ``StreamClosedError`` for a stream closed on our side."""

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool = False) -> None:
        """Queue one DATA frame; the caller keeps within window and frame size."""

    def end_stream(self, stream_id: int) -> None:
        """End our side of ``stream_id`` with an empty DATA frame."""

    def reset_stream(self, stream_id: int, code: int) -> None:
        """Send RST_STREAM (nothing happens if the stream is already gone)."""

    def acknowledge_received_data(self, size: int, stream_id: int) -> None:
        """``size`` received bytes of ``stream_id`` were consumed: hand them back to the
        peer (WINDOW_UPDATE frames, batched)."""

    def close_connection(self, code: int, last_stream_id: int, debug: bytes = b"") -> None:
        """Queue GOAWAY and stop: nothing more is received or sent after it."""

    def start_draining(self, last_stream_id: int) -> None:
        """Queue GOAWAY(NO_ERROR, ``last_stream_id``) and keep serving the streams up to
        it (graceful shutdown); the gRPC layer refuses newer ones."""


def check_server_engine(name: str | None) -> str:
    """The engine ``name`` stands for (``None``: :data:`DEFAULT_SERVER_ENGINE`); raises
    ``ValueError`` naming the choices for anything else."""
    if name is None:
        return DEFAULT_SERVER_ENGINE
    if name not in SERVER_ENGINES:
        choices = ", ".join(repr(engine) for engine in SERVER_ENGINES)
        raise ValueError(f"unknown http2_engine {name!r}: choose one of {choices}")
    return name


def create_server_engine(
    name: str | None, limits: ServerLimits, events: ServerEvents
) -> ServerHttp2Engine:
    """A new server connection state for the engine ``name`` (``None``: the default),
    advertising ``limits``' settings and reporting to ``events``. The native engine is
    imported only when chosen, and ``h2`` only when it is."""
    if check_server_engine(name) == NATIVE_ENGINE:
        from esdb_wire.server.http2.native_engine import NativeServerEngine  # noqa: PLC0415

        return NativeServerEngine(limits, events)
    from esdb_wire.server.http2.h2_engine import H2ServerEngine  # noqa: PLC0415

    return H2ServerEngine(limits, events)
