"""Servers for the v2 Streams API client tests: the embedded server's services (on our
transport or on grpcio) with small record and append limits, or without the v2 API, or
with handlers replaced to answer what the embedded server never does."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Callable

from esdb_wire.client import paths
from esdb_wire.codec import v2_errors as codes
from esdb_wire.events import NewEvent
from esdb_wire.protos import kurrent_errors_pb2, v2_errors_pb2
from esdb_wire.server.embedded import build_methods
from esdb_wire.server.features import GossipService, ServerFeaturesService
from esdb_wire.server.host import GrpcHost
from esdb_wire.server.rpc import CallContext, Method
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams_v2 import StreamsV2Service
from esdb_wire.server.streams_v2_errors import rich_error
from esdb_wire.transport.status import StatusError
from tests.client_v1._support import require_grpcio

MAX_RECORD_SIZE = 8 * 1024
MAX_APPEND_SIZE = 32 * 1024
V2_PATHS = (paths.APPEND_SESSION, paths.APPEND_RECORDS)

Handler = Callable[[Any, CallContext], Any]


def new_stream(prefix: str = "v2") -> str:
    """A stream name no other test uses, in the category ``prefix``."""
    return f"{prefix}-{uuid.uuid4().hex}"


def new_category() -> str:
    """A category (and event type) name no other test uses."""
    return f"cat{uuid.uuid4().hex[:12]}"


def events(*types: str, size: int = 0) -> list[NewEvent]:
    """One JSON event per type (``size`` bytes of data when given)."""
    data = b'{"x": "' + b"y" * max(size - 9, 0) + b'"}' if size else b"{}"
    return [NewEvent(type=event_type, data=data) for event_type in types]


class V2Server:
    """The embedded server's services on ``kind`` ("embedded": our transport; "grpcio"),
    with a v2 Streams service limited to :data:`MAX_RECORD_SIZE` per record and
    :data:`MAX_APPEND_SIZE` per append.

    ``v2=False``: no v2 Streams service, and ServerFeatures does not list it.
    ``server_features=False``: no ServerFeatures service (UNIMPLEMENTED).
    ``handlers``: gRPC path -> handler replacing the service's. :attr:`calls` counts the
    calls each path received.
    """

    def __init__(
        self,
        kind: str,
        *,
        v2: bool = True,
        server_features: bool = True,
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        self.kind = kind
        self.store = EventStore()
        gossip = GossipService("127.0.0.1", 0)
        methods = build_methods(self.store, gossip)
        service = StreamsV2Service(
            self.store, max_record_size=MAX_RECORD_SIZE, max_append_size=MAX_APPEND_SIZE
        )
        methods[paths.APPEND_SESSION] = dataclasses.replace(
            methods[paths.APPEND_SESSION], handler=service.AppendSession
        )
        methods[paths.APPEND_RECORDS] = dataclasses.replace(
            methods[paths.APPEND_RECORDS], handler=service.AppendRecords
        )
        if not v2:
            for path in V2_PATHS:
                del methods[path]
            pairs = [tuple(path[1:].rsplit("/", 1)) for path in methods]
            features = ServerFeaturesService([(service, name) for service, name in pairs])
            methods[paths.SUPPORTED_METHODS] = dataclasses.replace(
                methods[paths.SUPPORTED_METHODS], handler=features.GetSupportedMethods
            )
        if not server_features:
            del methods[paths.SUPPORTED_METHODS]
        for path, handler in (handlers or {}).items():
            methods[path] = dataclasses.replace(methods[path], handler=handler)
        self.calls: Counter[str] = Counter()
        counted = {path: self._counted(method) for path, method in methods.items()}
        self._grpcio: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._host: GrpcHost | None = None
        if kind == "grpcio":
            from tests.grpcio_host import GrpcioHost  # noqa: PLC0415 (needs grpcio)

            self._grpcio = GrpcioHost(counted)
            self.port: int = self._grpcio.port
        else:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
            self._host = GrpcHost(counted)
            start = self._host.start("127.0.0.1", 0)
            self.port = asyncio.run_coroutine_threadsafe(start, loop).result(30)
        gossip.port = self.port

    def _counted(self, method: Method) -> Method:
        """``method``, counting its calls (before its handler runs)."""
        handler, path = method.handler, method.path
        if method.server_streaming:

            async def streaming(argument: Any, context: CallContext) -> Any:
                self.calls[path] += 1
                async for response in handler(argument, context):
                    yield response

            return dataclasses.replace(method, handler=streaming)

        async def single(argument: Any, context: CallContext) -> Any:
            self.calls[path] += 1
            return await handler(argument, context)

        return dataclasses.replace(method, handler=single)

    @property
    def uri(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._grpcio is not None:
            self._grpcio.stop()
            return
        loop, thread, host = self._loop, self._thread, self._host
        assert loop is not None
        assert thread is not None
        assert host is not None
        asyncio.run_coroutine_threadsafe(host.stop(0.2), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextmanager
def v2_server(
    kind: str,
    *,
    v2: bool = True,
    server_features: bool = True,
    handlers: Mapping[str, Handler] | None = None,
) -> Iterator[V2Server]:
    """A running :class:`V2Server` (skipped, or failed where peers are required, for
    grpcio without grpcio)."""
    require_grpcio(kind)
    server = V2Server(kind, v2=v2, server_features=server_features, handlers=handlers)
    try:
        yield server
    finally:
        server.stop()


def failing_session(error: StatusError) -> Handler:
    """An ``AppendSession`` handler that reads the requests, then fails with ``error``."""

    async def handler(requests: Any, context: CallContext) -> Any:
        async for _ in requests:
            pass
        raise error

    return handler


def stream_deleted(stream: str) -> StatusError:
    """The rich error of a soft-deleted stream (a KurrentDB node's, which the embedded
    server never raises: it appends to a soft-deleted stream, as the node does)."""
    return rich_error(
        codes.STREAM_DELETED,
        f"Stream '{stream}' has been deleted.",
        [v2_errors_pb2.StreamDeletedErrorDetails(stream=stream)],
    )


def not_leader(host: str, port: int) -> StatusError:
    """The rich error of a follower asked to write: the leader is at ``host:port``."""
    details = kurrent_errors_pb2.NotLeaderNodeErrorDetails()
    details.current_leader.host = host
    details.current_leader.port = port
    return rich_error(
        codes.NOT_LEADER_NODE,
        "Not leader node.",
        [details],
        domain=codes.SERVER_DOMAIN,
    )
