"""HTTP/2 error codes (RFC 9113 section 7) and the exceptions of the HTTP/2 layer."""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


def error_name(code: int) -> str:
    """``PROTOCOL_ERROR`` for 1; ``0x2a`` for codes the RFC does not define."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return hex(code)


class Http2ProtocolError(Exception):
    """The peer broke HTTP/2: the connection is unusable (a GOAWAY has been queued)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{message} ({code.name})")
        self.code = code
        self.message = message


class StreamClosedError(Exception):
    """Sending on a stream that is closed (or was never opened) on our side."""
