"""Per-stream message queues with HTTP/2 flow control, shared by client and server.

:class:`Inbound` holds received messages and decides when their bytes are handed back to
the peer (as the application consumes them; bytes of an unfinished message at once).
:class:`Outbound` holds framed messages waiting for send window and writes them into
DATA frames, small messages coalesced, never more than the window or frame size allows.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from esdb_wire.transport.framing import MessageDecoder


class DataSender(Protocol):
    """The part of an HTTP/2 connection :meth:`Outbound.send` writes through (ours on
    the client, ``h2``'s on the server)."""

    @property
    def max_outbound_frame_size(self) -> int: ...

    def local_flow_control_window(self, stream_id: int) -> int: ...

    def send_data(
        self, stream_id: int, data: bytes | memoryview, end_stream: bool = False
    ) -> None: ...

    def end_stream(self, stream_id: int) -> None: ...


# Consumed bytes are handed back to the peer in batches of at least this many.
ACK_BATCH = 16384


class Inbound:
    """Messages received on one stream, with the flow-control credit they still hold."""

    __slots__ = ("decoder", "held", "messages", "unacked")

    def __init__(self, max_message_size: int) -> None:
        self.decoder = MessageDecoder(max_message_size)
        self.messages: deque[bytes] = deque()
        # Bytes of complete, unconsumed messages (handed back as they are consumed) and
        # consumed bytes not yet handed back (batched).
        self.held = 0
        self.unacked = 0

    def feed(self, data: bytes, flow_controlled_length: int) -> int:
        """Decode a DATA payload; return how many bytes to acknowledge right away.

        Raises :class:`~esdb_wire.transport.framing.FramingError` on a bad message stream.
        """
        messages = self.decoder.feed(data)
        held = self.decoder.held
        if messages:
            self.messages.extend(messages)
            self.held += held
        return flow_controlled_length - held

    def take(self) -> bytes | None:
        """The next message, or None; its bytes join :attr:`unacked`."""
        if not self.messages:
            return None
        message = self.messages.popleft()
        if self.held:
            # Wire size of this message; once the queue is empty all held bytes are free
            # (the wire size of a compressed message differs from its length).
            released = min(self.held, len(message) + 5) if self.messages else self.held
            self.held -= released
            self.unacked += released
        return message

    def take_many(self, limit: int) -> list[bytes]:
        """Up to ``limit`` queued messages at once; their bytes join :attr:`unacked`."""
        messages = self.messages
        if len(messages) <= limit:
            taken = list(messages)
            messages.clear()
            self.unacked += self.held
            self.held = 0
            return taken
        taken = [messages.popleft() for _ in range(limit)]
        if self.held:
            released = min(self.held, sum(map(len, taken)) + 5 * limit)
            self.held -= released
            self.unacked += released
        return taken

    @property
    def ack_due(self) -> bool:
        """Whether consumed bytes should be handed back now."""
        return self.unacked >= ACK_BATCH or (self.unacked > 0 and not self.messages)

    def release(self) -> int:
        """Every byte still held or unacknowledged (the stream is closing); resets both."""
        amount = self.held + self.unacked
        self.held = self.unacked = 0
        return amount


# A request is kept for a transparent retry (stream refused before the server touched
# it) while no more than this much of it has been sent.
REPLAY_LIMIT = 65536


class Outbound:
    """Framed messages waiting for send window on one stream.

    While :attr:`replay` is a list it keeps what was sent, so a refused stream can be
    :meth:`rewind`-ed and retried; it becomes None once too much was sent or the
    peer answered.
    """

    __slots__ = ("chunks", "replay", "replay_size", "size")

    def __init__(self) -> None:
        self.chunks: deque[memoryview] = deque()
        self.size = 0
        self.replay: list[memoryview] | None = []
        self.replay_size = 0

    def forget_replay(self) -> None:
        self.replay = None

    def rewind(self) -> bool:
        """Put everything sent back in front of the queue; False if it was not kept."""
        if self.replay is None:
            return False
        self.chunks.extendleft(reversed(self.replay))
        self.size += self.replay_size
        self.replay = []
        self.replay_size = 0
        return True

    def push(self, framed: bytes) -> None:
        self.chunks.append(memoryview(framed))
        self.size += len(framed)

    def clear(self) -> None:
        self.chunks.clear()
        self.size = 0
        self.replay = None

    def send(self, h2conn: DataSender, stream_id: int, end_stream: bool) -> bool:
        """Write what the window allows; True once everything is written.

        With ``end_stream``, the stream is ended with the last byte (or an empty frame).
        """
        chunks = self.chunks
        if len(chunks) == 1 and end_stream and self.replay is not None:
            # One small message that ends the request (a unary call): one frame.
            chunk = chunks[0]
            size = len(chunk)
            if size <= h2conn.max_outbound_frame_size and size <= h2conn.local_flow_control_window(
                stream_id
            ):
                chunks.clear()
                self.size -= size
                h2conn.send_data(stream_id, chunk, end_stream=True)
                if self.replay_size + size <= REPLAY_LIMIT:
                    self.replay_size += size
                    self.replay.append(chunk)
                else:
                    self.replay = None
                return True
        while chunks:
            room = min(h2conn.local_flow_control_window(stream_id), h2conn.max_outbound_frame_size)
            if room <= 0:  # windows can be negative after a SETTINGS change
                return False
            chunk = chunks.popleft()
            if len(chunk) > room:
                chunks.appendleft(chunk[room:])
                chunk = chunk[:room]
            elif chunks and len(chunk) + len(chunks[0]) <= room:
                parts = [chunk]
                size = len(chunk)
                while chunks and size + len(chunks[0]) <= room:
                    part = chunks.popleft()
                    parts.append(part)
                    size += len(part)
                chunk = memoryview(b"".join(parts))
            self.size -= len(chunk)
            h2conn.send_data(stream_id, chunk, end_stream=end_stream and not chunks)
            if self.replay is not None:
                self.replay_size += len(chunk)
                if self.replay_size > REPLAY_LIMIT:
                    self.replay = None
                else:
                    self.replay.append(chunk)
            if end_stream and not chunks:
                return True
        if end_stream:
            if h2conn.local_flow_control_window(stream_id) < 0:
                # An empty END_STREAM frame needs no window, but some peers (h2 before
                # 4.4) reject it while the window is negative: wait for it to recover.
                return False
            h2conn.end_stream(stream_id)
        return True
