"""The state of one client call: where a call's messages, metadata and status live."""

from __future__ import annotations

from typing import Any

from esdb_wire.transport.flow import Inbound, Outbound
from esdb_wire.transport.status import MetadataItems, StatusCode, StatusError


class ClientCall:
    """One call on a :class:`~esdb_wire.transport.connection.ClientConnection`.

    The connection fills it in; drivers read it. ``stream_id`` is None while the call
    waits for a stream slot (the peer's MAX_CONCURRENT_STREAMS). The call is finished
    once ``status`` is set; ``error`` then holds the failure for any non-OK status.
    Messages received before a failure stay readable.
    """

    __slots__ = (
        "deadline",
        "end_requested",
        "error",
        "inbound",
        "initial_metadata",
        "outbound",
        "path",
        "request_block",
        "request_ended",
        "retries",
        "status",
        "stream_id",
        "trailing_metadata",
        "waiter",
    )

    def __init__(
        self,
        path: str,
        request_block: bytes,
        deadline: float | None,
        max_receive_message_size: int,
    ) -> None:
        self.path = path
        # The request's HPACK header block (static table and literals only).
        self.request_block = request_block
        self.deadline = deadline
        self.stream_id: int | None = None
        self.inbound = Inbound(max_receive_message_size)
        self.outbound = Outbound()
        self.retries = 0
        self.end_requested = False
        self.request_ended = False
        self.initial_metadata: MetadataItems | None = None
        self.trailing_metadata: MetadataItems = ()
        self.status: StatusCode | None = None
        self.error: StatusError | None = None
        # For the driver: whatever it uses to wake this call's waiters.
        self.waiter: Any = None

    @property
    def done(self) -> bool:
        """Whether the call has its final status."""
        return self.status is not None

    @property
    def readable(self) -> bool:
        """Whether the next read would not block: a message is queued or the call is over."""
        return bool(self.inbound.messages) or self.status is not None

    def finish(self, error: StatusError | None, trailing_metadata: MetadataItems = ()) -> None:
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
