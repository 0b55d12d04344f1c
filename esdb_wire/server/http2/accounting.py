"""The accounting behind the embedded server's limits
(:class:`~esdb_wire.server.limits.ServerLimits`).

:class:`TokenBucket` is the rate limit behind the reset and PING/SETTINGS budgets.
:class:`ReceiveBudget` and :class:`ServerInbound` bound the bytes of request messages a
connection buffers: flow-control credit for the bytes of an unfinished message is handed
back before the message is consumed only under a reservation from the connection's
budget; without one, the stream's window stops the peer.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

from esdb_wire.transport.framing import PREFIX, PREFIX_SIZE, MessageDecoder

# Consumed bytes are handed back to the peer in batches of at least this many.
ACK_BATCH = 16384


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; :meth:`take` spends one."""

    __slots__ = ("_clock", "_stamp", "burst", "rate", "tokens")

    def __init__(
        self, burst: int, rate: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.rate = rate
        self.tokens = float(burst)
        self._clock = clock
        self._stamp = clock()

    def take(self, count: int = 1) -> bool:
        """Spend ``count`` tokens; False (and the bucket empty) if there were not enough."""
        tokens = self.tokens
        if tokens < self.burst:
            now = self._clock()
            tokens = min(float(self.burst), tokens + (now - self._stamp) * self.rate)
            self._stamp = now
        else:
            self._stamp = self._clock()
        tokens -= count
        if tokens < 0:
            self.tokens = 0.0
            return False
        self.tokens = tokens
        return True

    def refund(self, count: int = 1) -> None:
        """Give back ``count`` tokens (never above the burst)."""
        self.tokens = min(float(self.burst), self.tokens + count)


class ServerInbound:
    """Request messages received on one stream, and the flow-control credit they hold.

    Bytes of complete messages are handed back (acknowledged) as the handler consumes
    them. Bytes of an unfinished message are handed back as they arrive only while the
    stream holds a reservation (:attr:`reserved`) from the connection's
    :class:`ReceiveBudget`; otherwise they are owed until the message is consumed or a
    reservation is granted, so the stream's window bounds them.
    """

    __slots__ = (
        "decoder",
        "messages",
        "partial_owed",
        "release_due",
        "reserved",
        "stream_id",
        "unacked",
        "window",
    )

    def __init__(self, stream_id: int, max_message_size: int, window: int) -> None:
        self.stream_id = stream_id
        self.decoder = MessageDecoder(max_message_size)
        self.window = window
        # (message, bytes owed for it, bytes of budget it holds)
        self.messages: deque[tuple[bytes, int, int]] = deque()
        # Owed bytes of the unfinished message, and the budget it holds (0: none).
        self.partial_owed = 0
        self.reserved = 0
        # Consumed bytes not yet handed back, and budget to give back to the connection.
        self.unacked = 0
        self.release_due = 0

    def feed(self, data: bytes, flow_controlled_length: int) -> int:
        """Decode a DATA payload; return how many bytes to hand back right away.

        Raises :class:`~esdb_wire.transport.framing.FramingError` on a bad message stream.
        """
        decoder = self.decoder
        messages = decoder.feed(data)
        ack = flow_controlled_length - len(data)  # padding
        rest = len(data)
        if messages:
            used = decoder.held
            rest -= used
            owed = self.partial_owed + used
            queue = self.messages
            for message in messages[:-1]:
                queue.append((message, 0, 0))
            queue.append((messages[-1], owed, self.reserved))
            self.partial_owed = 0
            self.reserved = 0
        if rest:
            if self.reserved:
                ack += rest
            else:
                self.partial_owed += rest
        return ack

    def wanted_reservation(self) -> int:
        """Budget the unfinished message needs before its bytes can be handed back early:
        its wire size when it cannot arrive within the stream's window, else 0."""
        if self.reserved or not self.decoder.pending:
            return 0
        prefix = self.decoder.pending_prefix
        if len(prefix) < PREFIX_SIZE:
            return 0
        size = PREFIX_SIZE + PREFIX.unpack_from(prefix)[1]
        return size if size > self.window // 2 else 0

    def grant(self, amount: int) -> int:
        """A reservation was granted: return the owed bytes now to hand back."""
        self.reserved = amount
        owed, self.partial_owed = self.partial_owed, 0
        return owed

    def take(self) -> bytes | None:
        """The next message, or None; its owed bytes join :attr:`unacked` and its budget
        :attr:`release_due`."""
        if not self.messages:
            return None
        message, owed, reserved = self.messages.popleft()
        self.unacked += owed
        self.release_due += reserved
        return message

    @property
    def readable(self) -> bool:
        """Whether a complete message is waiting."""
        return bool(self.messages)

    @property
    def ack_due(self) -> bool:
        """Whether consumed bytes should be handed back now."""
        return self.unacked >= ACK_BATCH or (self.unacked > 0 and not self.messages)

    def release(self) -> tuple[int, int]:
        """The stream is closing: (every byte still owed, every byte of budget held)."""
        owed = self.unacked + self.partial_owed + sum(m[1] for m in self.messages)
        budget = self.release_due + self.reserved + sum(m[2] for m in self.messages)
        self.unacked = self.partial_owed = self.release_due = self.reserved = 0
        self.messages.clear()
        return owed, budget


class ReceiveBudget:
    """The bytes of large unfinished messages one connection may hold at once.

    A stream asks for its whole message's size; requests are granted in order while
    they fit, and one is always granted when nothing is reserved (so a message larger
    than the budget still gets through, alone).
    """

    __slots__ = ("limit", "reserved", "waiting")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reserved = 0
        self.waiting: dict[int, tuple[ServerInbound, int]] = {}

    def request(self, inbound: ServerInbound, amount: int) -> bool:
        """Reserve ``amount`` for ``inbound`` now (True), or queue the request (False)."""
        if not self.waiting and self._fits(amount):
            self.reserved += amount
            return True
        self.waiting.setdefault(inbound.stream_id, (inbound, amount))
        return False

    def _fits(self, amount: int) -> bool:
        return self.reserved == 0 or self.reserved + amount <= self.limit

    def forget(self, stream_id: int) -> None:
        self.waiting.pop(stream_id, None)

    def release(self, amount: int) -> list[tuple[ServerInbound, int]]:
        """Give back ``amount``; return the queued requests now granted, in order."""
        self.reserved = max(0, self.reserved - amount)
        granted: list[tuple[ServerInbound, int]] = []
        waiting = self.waiting
        while waiting:
            stream_id, (inbound, amount) = next(iter(waiting.items()))
            if not self._fits(amount):
                break
            del waiting[stream_id]
            self.reserved += amount
            granted.append((inbound, amount))
        return granted


__all__ = ["ACK_BATCH", "ReceiveBudget", "ServerInbound", "TokenBucket"]
