"""gRPC over HTTP/2 (h2), without grpcio.

The sans-IO core: :mod:`.framing` (message framing), :mod:`.metadata` (headers, timeouts),
:mod:`.status` (status codes, :class:`GrpcError`), :mod:`.flow` (per-stream flow control),
:mod:`.call` and :mod:`.connection` (client calls), :mod:`.server_connection` (server
calls). The I/O drivers: :mod:`.blocking` (threads or none) and :mod:`.aio` (asyncio).
"""

from esdb_wire.transport.aio import AsyncCall, AsyncChannel
from esdb_wire.transport.blocking import BlockingCall, Channel
from esdb_wire.transport.config import ConnectionConfig
from esdb_wire.transport.status import GrpcError, StatusCode

__all__ = [
    "AsyncCall",
    "AsyncChannel",
    "BlockingCall",
    "Channel",
    "ConnectionConfig",
    "GrpcError",
    "StatusCode",
]
