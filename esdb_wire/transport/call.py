"""The state of one client call: where a call's messages, metadata and status live."""

from __future__ import annotations

from collections import deque
from typing import Any

from esdb_wire.transport.framing import MessageDecoder
from esdb_wire.transport.status import GrpcError, MetadataItems, StatusCode


class ClientCall:
    """One call on a :class:`~esdb_wire.transport.connection.ClientConnection`.

    The connection fills it in; drivers read it. ``stream_id`` is None while the call
    waits for a stream slot (the peer's MAX_CONCURRENT_STREAMS). The call is finished
    once ``status`` is set; ``error`` then holds the failure for any non-OK status.
    Messages received before a failure stay readable.
    """

    __slots__ = (
        "deadline",
        "decoder",
        "end_requested",
        "error",
        "held",
        "initial_metadata",
        "messages",
        "outbound",
        "outbound_size",
        "path",
        "request_ended",
        "request_headers",
        "status",
        "stream_id",
        "trailing_metadata",
        "unacked",
        "waiter",
    )

    def __init__(
        self,
        path: str,
        request_headers: list[tuple[bytes, bytes]],
        deadline: float | None,
        max_receive_message_size: int,
    ) -> None:
        self.path = path
        self.request_headers = request_headers
        self.deadline = deadline
        self.stream_id: int | None = None
        self.decoder = MessageDecoder(max_receive_message_size)
        self.messages: deque[bytes] = deque()
        # Flow control: bytes of complete, unconsumed messages (acked as consumed), and
        # consumed bytes not yet acked (acked in batches).
        self.held = 0
        self.unacked = 0
        self.outbound: deque[memoryview] = deque()
        self.outbound_size = 0
        self.end_requested = False
        self.request_ended = False
        self.initial_metadata: MetadataItems | None = None
        self.trailing_metadata: MetadataItems = ()
        self.status: StatusCode | None = None
        self.error: GrpcError | None = None
        # For the driver: whatever it uses to wake this call's waiters.
        self.waiter: Any = None

    @property
    def done(self) -> bool:
        """Whether the call has its final status."""
        return self.status is not None

    @property
    def readable(self) -> bool:
        """Whether the next read would not block: a message is queued or the call is over."""
        return bool(self.messages) or self.status is not None

    def finish(self, error: GrpcError | None, trailing_metadata: MetadataItems = ()) -> None:
        """Record the final status (None = OK); later outcomes are ignored."""
        if self.status is not None:
            return
        self.trailing_metadata = trailing_metadata
        if error is None:
            self.status = StatusCode.OK
        else:
            self.status = error.code
            self.error = error

    def __repr__(self) -> str:
        state = self.status.name if self.status is not None else "open"
        return f"<ClientCall {self.path} stream={self.stream_id} {state}>"
