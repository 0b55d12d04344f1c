"""Names shared by the benchmark servers, clients and driver."""

from __future__ import annotations

import math
import signal
import struct
import sys
from pathlib import Path

HOST = "127.0.0.1"
SERVICE = "bench.Bench"
UNARY_PATH = f"/{SERVICE}/Unary"
STREAM_PATH = f"/{SERVICE}/Stream"

UNARY_PAYLOAD_SIZE = 100
STREAM_MESSAGE_SIZE = 300
UNARY_WARMUP = 200
STREAM_WARMUP = 1000

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

_PREFIX = struct.Struct(">BI")


def frame(message: bytes) -> bytes:
    """``message`` with its gRPC length prefix (uncompressed)."""
    return _PREFIX.pack(0, len(message)) + message


def stream_request(count: int, size: int) -> bytes:
    """The request of the Stream method: ``count`` messages of ``size`` bytes."""
    return f"{count},{size}".encode("ascii")


def parse_stream_request(request: bytes) -> tuple[int, int]:
    count, size = request.decode("ascii").split(",")
    return int(count), int(size)


def arm_watchdog(seconds: float) -> None:
    """Make this process die by itself after ``seconds`` (SIGALRM's default action)."""
    if hasattr(signal, "alarm"):  # POSIX
        signal.alarm(max(1, math.ceil(seconds)))
