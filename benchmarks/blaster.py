"""S2, the "blaster": a minimal asyncio + h2 gRPC server that costs the client little.

Unary calls are answered inline. A stream reply is built up front (``count`` framed
messages back to back) and written as fast as HTTP/2 flow control and the transport's
write buffer allow: densely packed into DATA frames of up to 16 KiB, or, in "trickle"
mode, one message per DATA frame (one socket write each), which is how grpcio sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import cast

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from benchmarks.common import HOST, STREAM_PATH, UNARY_PATH, frame, parse_stream_request

FRAME_CAP = 16384
WINDOW = 4 * 1024 * 1024
_HEADERS = [(b":status", b"200"), (b"content-type", b"application/grpc")]
_TRAILERS = [(b"grpc-status", b"0")]
_UNIMPLEMENTED = [*_HEADERS, (b"grpc-status", b"12"), (b"grpc-message", b"unknown method")]


class _Reply:
    """A response body still being sent; ``step`` > 0 splits frames at message ends."""

    __slots__ = ("data", "offset", "step")

    def __init__(self, data: bytes, step: int) -> None:
        self.data = memoryview(data)
        self.offset = 0
        self.step = step


class BlasterProtocol(asyncio.Protocol):
    def __init__(self, trickle: bool) -> None:
        self.trickle = trickle
        self.transport: asyncio.Transport | None = None
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(
                client_side=False,
                header_encoding=None,
                validate_inbound_headers=False,
                normalize_inbound_headers=False,
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
            )
        )
        self.conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: WINDOW,
            },
        )
        self.requests: dict[int, tuple[bytes, bytearray]] = {}
        self.replies: dict[int, _Reply] = {}
        self.paused = False

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(WINDOW)
        self.flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()
            self.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                path = dict(event.headers or ()).get(b":path", b"")
                self.requests[_sid(event.stream_id)] = (bytes(path), bytearray())
            elif isinstance(event, h2.events.DataReceived):
                sid = _sid(event.stream_id)
                request = self.requests.get(sid)
                if request is not None and event.data:
                    request[1].extend(event.data)
                if event.flow_controlled_length:
                    self.conn.acknowledge_received_data(event.flow_controlled_length, sid)
            elif isinstance(event, h2.events.StreamEnded):
                self.answer(_sid(event.stream_id))
            elif isinstance(event, h2.events.StreamReset):
                self.requests.pop(_sid(event.stream_id), None)
                self.replies.pop(_sid(event.stream_id), None)
            elif isinstance(event, h2.events.WindowUpdated):
                if event.stream_id:
                    self.pump(event.stream_id)
                else:
                    self.pump_all()
            elif isinstance(event, h2.events.RemoteSettingsChanged):
                self.pump_all()
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.flush()
                self.close()
                return
        self.flush()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.pump_all()
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.replies.clear()
        self.requests.clear()

    # -- gRPC ----------------------------------------------------------------------------

    def answer(self, sid: int) -> None:
        path, body = self.requests.pop(sid, (b"", bytearray()))
        message = bytes(body[5:])
        if path == UNARY_PATH.encode():
            self.conn.send_headers(sid, _HEADERS)
            self.replies[sid] = _Reply(frame(message), 0)
        elif path == STREAM_PATH.encode():
            count, size = parse_stream_request(message)
            framed = frame(b"x" * size)
            self.conn.send_headers(sid, _HEADERS)
            self.replies[sid] = _Reply(framed * count, len(framed) if self.trickle else 0)
        else:
            self.conn.send_headers(sid, _UNIMPLEMENTED, end_stream=True)
            return
        self.pump(sid)

    def pump_all(self) -> None:
        for sid in list(self.replies):
            self.pump(sid)

    def pump(self, sid: int) -> None:
        """Send what flow control allows of one reply; trailers once it is all out."""
        reply = self.replies.get(sid)
        if reply is None:
            return
        conn = self.conn
        data, offset, step = reply.data, reply.offset, reply.step
        end = len(data)
        limit = min(conn.max_outbound_frame_size, FRAME_CAP)
        while offset < end and not self.paused:
            size = min(conn.local_flow_control_window(sid), limit, end - offset)
            if step:
                size = min(size, step - offset % step)
            if size <= 0:
                break
            conn.send_data(sid, data[offset : offset + size])
            offset += size
            self.flush()
        reply.offset = offset
        if offset == end:
            del self.replies[sid]
            conn.send_headers(sid, _TRAILERS, end_stream=True)

    # -- I/O -----------------------------------------------------------------------------

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _sid(stream_id: int | None) -> int:
    assert stream_id is not None
    return stream_id


async def serve(trickle: bool, on_port: asyncio.Future[int] | None = None) -> None:
    """Serve on 127.0.0.1 (random port, reported via ``on_port``) until cancelled."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: BlasterProtocol(trickle), HOST, 0)
    port: int = server.sockets[0].getsockname()[1]
    if on_port is not None:
        on_port.set_result(port)
    async with server:
        with contextlib.suppress(asyncio.CancelledError):
            await server.serve_forever()
