"""What :class:`~esdb_wire.transport.http2.client.ClientHttp2Connection` reports."""

from __future__ import annotations

from esdb_wire.transport.http2.header_block import Headers


class Event:
    __slots__: tuple[str, ...] = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class ResponseReceived(Event):
    """The response headers (1xx informational responses are skipped). With
    ``end_stream`` this is a Trailers-Only response."""

    __slots__ = ("end_stream", "headers", "stream_id")

    def __init__(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        self.stream_id = stream_id
        self.headers = headers
        self.end_stream = end_stream


class TrailersReceived(Event):
    """The trailers; they always end the stream."""

    __slots__ = ("headers", "stream_id")

    def __init__(self, stream_id: int, headers: Headers) -> None:
        self.stream_id = stream_id
        self.headers = headers


class DataReceived(Event):
    """A DATA frame's content. ``flow_controlled_length`` (padding included) is what
    must eventually be handed back with ``acknowledge_received_data``."""

    __slots__ = ("data", "end_stream", "flow_controlled_length", "stream_id")

    def __init__(
        self, stream_id: int, data: bytes, flow_controlled_length: int, end_stream: bool
    ) -> None:
        self.stream_id = stream_id
        self.data = data
        self.flow_controlled_length = flow_controlled_length
        self.end_stream = end_stream


class StreamReset(Event):
    """The stream is gone: reset by the peer (``remote``), or by us for the peer's
    protocol error on it (``error_code`` says which, ``reason`` says why)."""

    __slots__ = ("error_code", "reason", "remote", "stream_id")

    def __init__(self, stream_id: int, error_code: int, remote: bool, reason: str = "") -> None:
        self.stream_id = stream_id
        self.error_code = error_code
        self.remote = remote
        self.reason = reason


class WindowUpdated(Event):
    """More send window on ``stream_id`` (0: the connection, or every stream after a
    SETTINGS change)."""

    __slots__ = ("stream_id",)

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id


class SettingsChanged(Event):
    """The peer's SETTINGS frame, applied and acknowledged."""

    __slots__ = ("changed",)

    def __init__(self, changed: dict[int, int]) -> None:
        self.changed = changed


class PingAcknowledged(Event):
    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class GoAwayReceived(Event):
    """The peer is closing: streams above ``last_stream_id`` were not processed."""

    __slots__ = ("debug_data", "error_code", "last_stream_id")

    def __init__(self, last_stream_id: int, error_code: int, debug_data: bytes) -> None:
        self.last_stream_id = last_stream_id
        self.error_code = error_code
        self.debug_data = debug_data
