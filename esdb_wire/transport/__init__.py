"""gRPC over HTTP/2, without grpcio.

The sans-IO core: :mod:`.http2` (the client's HTTP/2: frames, header blocks, streams and
windows), :mod:`.framing` (message framing), :mod:`.metadata` (headers, timeouts),
:mod:`.status` (status codes, :class:`StatusError`), :mod:`.flow` (per-stream flow control),
:mod:`.call` and :mod:`.connection` (client calls). The I/O drivers: :mod:`.blocking`
(threads or none) and :mod:`.aio` (asyncio). The embedded server's side of the protocol
is :mod:`esdb_wire.server.http2`; it shares framing, metadata, status and flow control.
"""

from __future__ import annotations

import importlib
from typing import Any

from esdb_wire.transport.config import ConnectionConfig
from esdb_wire.transport.status import StatusCode, StatusError

# The drivers load on first use: importing the blocking one must not import asyncio.
_LAZY = {
    "AsyncCall": "esdb_wire.transport.aio",
    "AsyncChannel": "esdb_wire.transport.aio",
    "BlockingCall": "esdb_wire.transport.blocking",
    "Channel": "esdb_wire.transport.blocking",
}

__all__ = [
    "AsyncCall",
    "AsyncChannel",
    "BlockingCall",
    "Channel",
    "ConnectionConfig",
    "StatusCode",
    "StatusError",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
