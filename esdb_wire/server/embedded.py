"""The embedded server: the store and the services, hosted on our transport.

``EmbeddedServer`` runs on its own event loop thread, so synchronous programs and tests
can start and stop it around their work; ``python -m esdb_wire.server`` runs one in the
foreground.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from types import TracebackType

from esdb_wire.protos import gossip_pb2, serverfeatures_pb2, shared_pb2, status_pb2, streams_pb2
from esdb_wire.protos.wire_names import canonical_name
from esdb_wire.server.features import GossipService, ServerFeaturesService
from esdb_wire.server.host import GrpcHost
from esdb_wire.server.projections import StandardProjections
from esdb_wire.server.rpc import Method, message_types, methods_of
from esdb_wire.server.store import DEFAULT_MAX_APPEND_SIZE, EventStore
from esdb_wire.server.streams import StreamsService

_TYPES = message_types(shared_pb2, status_pb2, streams_pb2, gossip_pb2, serverfeatures_pb2)

# --run-projections values (the server's ProjectionType, case-insensitive).
RUN_PROJECTIONS_CHOICES = ("none", "system", "all")


def _run_projections(value: str) -> bool:
    """Whether ``value`` (``--run-projections``) starts the standard projections.

    "all" runs them as a node with ``--run-projections=All
    --start-standard-projections=true`` does. "system" only registers them on a real node
    (they stay stopped unless standard projections are started), so it writes nothing,
    like "none".
    """
    key = value.lower()
    if key not in RUN_PROJECTIONS_CHOICES:
        choices = ", ".join(RUN_PROJECTIONS_CHOICES)
        raise ValueError(f"run_projections must be one of {choices}, not {value!r}")
    return key == "all"


def build_methods(store: EventStore, gossip: GossipService) -> dict[str, Method]:
    """Every rpc the embedded server answers, keyed by gRPC path. ``gossip`` advertises
    the node's address (set its ``port`` once the listening port is known)."""
    methods: dict[str, Method] = {}
    pairs: list[tuple[str, str]] = []
    services = [
        (StreamsService(store), streams_pb2.DESCRIPTOR.services_by_name["Streams"]),
        (gossip, gossip_pb2.DESCRIPTOR.services_by_name["Gossip"]),
        (
            ServerFeaturesService(lambda: pairs),
            serverfeatures_pb2.DESCRIPTOR.services_by_name["ServerFeatures"],
        ),
    ]
    for service, descriptor in services:
        mounted = methods_of(service, descriptor, _TYPES)
        methods.update(mounted)
        pairs.extend((canonical_name(descriptor.full_name), m.name) for m in mounted.values())
    return methods


class EmbeddedServer:
    """An in-memory EventStoreDB-compatible gRPC server (insecure mode).

    >>> with EmbeddedServer() as server:   # doctest: +SKIP
    ...     client = EsdbClient(uri=server.uri)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_append_size: int = DEFAULT_MAX_APPEND_SIZE,
        run_projections: str = "none",
    ) -> None:
        """``run_projections`` is "none" (the default, as on a real node), "system" (the
        same here) or "all": the standard projections (``$streams``, ``$ce-``, ``$et-``,
        ``$category-`` streams) write their links as events are appended."""
        self.host = host
        self.port = port
        self.max_append_size = max_append_size
        self.run_projections = run_projections
        self._projections = _run_projections(run_projections)
        self.store: EventStore | None = None
        self._grpc: GrpcHost | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def uri(self) -> str:
        """``host:port``, the address form esdbclient 0.5 takes."""
        return f"{self.host}:{self.port}"

    @property
    def esdb_uri(self) -> str:
        """An ``esdb://`` connection string for this (insecure) server."""
        return f"esdb://{self.host}:{self.port}?Tls=false"

    async def start_async(self) -> EmbeddedServer:
        """Start listening on the running event loop."""
        observer = StandardProjections() if self._projections else None
        self.store = EventStore(max_append_size=self.max_append_size, observer=observer)
        gossip = GossipService(self.host, self.port)
        self._grpc = GrpcHost(build_methods(self.store, gossip))
        self.port = await self._grpc.start(self.host, self.port)
        gossip.port = self.port  # advertise the port actually bound (port 0: any)
        return self

    async def stop_async(self, grace: float = 1.0) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace)
            self._grpc = None

    def start(self) -> EmbeddedServer:
        """Start on a background event loop thread; returns once the port is bound."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name="esdb_wire-embedded-server", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.start_async(), loop).result(30)
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Stop serving (open calls get ``grace`` seconds) and end the loop thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop_async(grace), loop).result(grace + 30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def mounted_paths(server: EmbeddedServer) -> Iterable[str]:
    """The gRPC paths a running server answers (for diagnostics)."""
    return sorted(server._grpc.methods) if server._grpc is not None else []
