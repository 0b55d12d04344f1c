"""A gRPC server (our :class:`~esdb_wire.server.host.GrpcHost`, on a thread of its own)
whose Streams, Gossip and PersistentSubscriptions answers are bytes that are no protobuf
message: what esdb_wire's clients must report as
:class:`~esdb_wire.exceptions.UndecodableResponse`.

``Streams.Read`` sends one good event first (a subscription: its confirmation, then the
event), then the garbage, then waits for the client to cancel the call: ``cancelled``
counts the calls the client cancelled. A subscription to the stream :data:`UNCONFIRMED`
gets the garbage instead of its confirmation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

from esdb_wire.client import paths
from esdb_wire.protos import gossip_pb2, persistent_pb2, shared_pb2, streams_pb2
from esdb_wire.server.host import GrpcHost
from esdb_wire.server.rpc import CallContext, Method

GARBAGE = b"garbage!"
"""Not a protobuf message, in any protobuf implementation ("wrong wire type")."""
UNCONFIRMED = "unconfirmed"


def _good_event(stream_name: str) -> bytes:
    response = streams_pb2.ReadResp()
    event = response.event.event
    event.stream_identifier.stream_name = stream_name.encode()
    event.metadata["type"] = "Good"
    event.metadata["content-type"] = "application/json"
    event.data = b"{}"
    return response.SerializeToString()


class UndecodableService:
    """The handlers; ``cancelled`` counts the streaming calls the client cancelled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cancelled = 0

    async def _until_cancelled(self) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            with self._lock:
                self.cancelled += 1
            raise

    async def append(self, requests: AsyncIterator[Any], context: CallContext) -> bytes:
        async for _ in requests:
            pass
        return GARBAGE

    async def read(
        self, request: streams_pb2.ReadReq, context: CallContext
    ) -> AsyncIterator[bytes]:
        options = request.options
        name = options.stream.stream_identifier.stream_name.decode()
        if options.HasField("subscription"):
            if name == UNCONFIRMED:
                yield GARBAGE
                return
            confirmation = streams_pb2.ReadResp()
            confirmation.confirmation.subscription_id = "sub-1"
            yield confirmation.SerializeToString()
        yield _good_event(name)
        yield GARBAGE
        await self._until_cancelled()

    async def gossip(self, request: Any, context: CallContext) -> bytes:
        return GARBAGE

    async def persistent_read(
        self, requests: AsyncIterator[Any], context: CallContext
    ) -> AsyncIterator[bytes]:
        async for _ in requests:  # the options
            break
        confirmation = persistent_pb2.ReadResp()
        confirmation.subscription_confirmation.subscription_id = "group-1"
        yield confirmation.SerializeToString()
        yield GARBAGE
        await self._until_cancelled()


class UndecodableServer:
    """:class:`UndecodableService` on a GrpcHost at 127.0.0.1, on its own event loop
    thread; ``uri`` is its ``host:port``."""

    def __init__(self) -> None:
        self.service = service = UndecodableService()
        shapes = (
            (paths.APPEND, streams_pb2.AppendReq, True, False, service.append),
            (paths.READ, streams_pb2.ReadReq, False, True, service.read),
            (paths.GOSSIP_READ, shared_pb2.Empty, False, False, service.gossip),
            (paths.PS_READ, persistent_pb2.ReadReq, True, True, service.persistent_read),
        )
        methods = {
            path: Method(
                path=path,
                name=path.rpartition("/")[2],
                request_type=request_type,
                response_type=gossip_pb2.ClusterInfo,  # unused: the handlers send bytes
                client_streaming=client_streaming,
                server_streaming=server_streaming,
                handler=handler,
            )
            for path, request_type, client_streaming, server_streaming, handler in shapes
        }
        self.host = GrpcHost(methods)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        port = asyncio.run_coroutine_threadsafe(self.host.start(), self.loop).result(10)
        self.uri = f"127.0.0.1:{port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.host.stop(1.0), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
