"""The embedded server: the store and the services, hosted on our transport.

``EmbeddedServer`` runs on its own event loop thread, so synchronous programs and tests
can start and stop it around their work; ``python -m esdb_wire.server`` runs one in the
foreground.

Insecure mode (the default here; ``--insecure`` on the command line) is plaintext HTTP/2
and ignores credentials, as a node started with ``--insecure`` does. Secure mode (given a
certificate and its private key) serves TLS with ALPN h2, authenticates every call and
checks stream ACLs (see :mod:`esdb_wire.server.auth`). Given ``db``, the log is kept in a
journal file too (:mod:`esdb_wire.server.durable`) and a server started on it again finds
everything as it was.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Union
from urllib.parse import quote

from google.protobuf.descriptor import ServiceDescriptor

from esdb_wire.protos import (
    gossip_pb2,
    persistent_pb2,
    serverfeatures_pb2,
    shared_pb2,
    status_pb2,
    streams_pb2,
    v2_streams_pb2,
)
from esdb_wire.protos.wire_names import canonical_name
from esdb_wire.server.auth import (
    DEFAULT_PASSWORD,
    Security,
    StreamAccess,
    UserLookup,
    secure_methods,
)
from esdb_wire.server.features import GossipService, ServerFeaturesService
from esdb_wire.server.host import GrpcHost
from esdb_wire.server.http2.engine import check_server_engine
from esdb_wire.server.journal import DEFAULT_SYNC, SYNC_POLICIES, Journal
from esdb_wire.server.limits import ServerLimits
from esdb_wire.server.loop_thread import LoopThread
from esdb_wire.server.monitoring import count_calls
from esdb_wire.server.persistent import PersistentSubscriptionsService
from esdb_wire.server.rpc import Method, message_types, methods_of
from esdb_wire.server.store import DEFAULT_MAX_APPEND_SIZE, EventStore
from esdb_wire.server.streams import StreamsService
from esdb_wire.server.streams_v2 import StreamsV2Service
from esdb_wire.server.subsystems import TYPE_MODULES, Subsystems

_TYPES = message_types(
    shared_pb2,
    status_pb2,
    streams_pb2,
    persistent_pb2,
    gossip_pb2,
    serverfeatures_pb2,
    v2_streams_pb2,
    *TYPE_MODULES,
)

# --run-projections values (the server's ProjectionType, case-insensitive).
RUN_PROJECTIONS_CHOICES = ("none", "system", "all")
# The files of a CA directory (``--ca DIR``) that are read as PEM CA certificates.
_CA_SUFFIXES = (".crt", ".pem", ".cer")

PathLike = Union[str, "os.PathLike[str]"]


def server_ssl_context(
    certificate: PathLike, private_key: PathLike, ca: PathLike | None = None
) -> ssl.SSLContext:
    """The TLS context of a secure node: TLS 1.2+, ALPN h2, the node's PEM certificate
    (chain) and key. With ``ca`` (a PEM file, or a directory of them, like the server's
    ``TrustedRootCertificatesPath``) client certificates are requested and, when sent,
    verified against it, but not required (as a node does)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(os.fspath(certificate), os.fspath(private_key))
    if ca is not None:
        for path in _ca_files(Path(ca)):
            context.load_verify_locations(cafile=os.fspath(path))
        context.verify_mode = ssl.CERT_OPTIONAL
    context.set_alpn_protocols(["h2"])
    return context


def _ca_files(ca: Path) -> list[Path]:
    if not ca.is_dir():
        return [ca]
    files = sorted(p for p in ca.iterdir() if p.suffix.lower() in _CA_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"no CA certificate (*.crt, *.pem, *.cer) in {ca}")
    return files


def _run_projections(value: str) -> bool:
    """Whether ``value`` (``--run-projections``) starts the standard projections by
    default: "all" runs them as a node with ``--run-projections=All
    --start-standard-projections=true`` does; "system" registers them stopped (the
    Projections service is mounted), "none" has no projections subsystem at all.
    """
    key = value.lower()
    if key not in RUN_PROJECTIONS_CHOICES:
        choices = ", ".join(RUN_PROJECTIONS_CHOICES)
        raise ValueError(f"run_projections must be one of {choices}, not {value!r}")
    return key == "all"


def build_methods(
    store: EventStore,
    gossip: object,
    *,
    security: Security | None = None,
    persistent: PersistentSubscriptionsService | None = None,
    extra_services: Sequence[tuple[object, ServiceDescriptor]] = (),
    users: UserLookup | None = None,
    gate: Callable[[dict[str, Method]], dict[str, Method]] | None = None,
) -> dict[str, Method]:
    """Every rpc the embedded server answers, keyed by gRPC path. ``gossip`` (a
    :class:`~esdb_wire.server.features.GossipService`, or a cluster's) advertises the
    node's address (set its ``port`` once the listening port is known); ``persistent``
    is the persistent subscriptions subsystem (a new one on ``store`` if not given).
    ``gate`` (a cluster node's role checks) wraps the methods inside the security checks.

    With ``security`` (secure mode) every call is authenticated first and checked against
    its policy and the stream ACLs; without it (insecure mode) credentials are ignored
    and no check costs anything.
    """
    methods: dict[str, Method] = {}
    pairs: list[tuple[str, str]] = []
    access = None
    if security is not None:
        access = StreamAccess(store, allow_anonymous=security.allow_anonymous_stream_access)
        if persistent is not None:
            persistent.access = access  # consumers need $r on the source stream
    services = [
        (
            StreamsService(store, access=access),
            streams_pb2.DESCRIPTOR.services_by_name["Streams"],
        ),
        (
            StreamsV2Service(store, access=access),
            v2_streams_pb2.DESCRIPTOR.services_by_name["StreamsService"],
        ),
        (
            persistent or PersistentSubscriptionsService(store, access=access),
            persistent_pb2.DESCRIPTOR.services_by_name["PersistentSubscriptions"],
        ),
        (gossip, gossip_pb2.DESCRIPTOR.services_by_name["Gossip"]),
        *extra_services,
        (
            ServerFeaturesService(lambda: pairs),
            serverfeatures_pb2.DESCRIPTOR.services_by_name["ServerFeatures"],
        ),
    ]
    for service, descriptor in services:
        mounted = methods_of(service, descriptor, _TYPES)
        methods.update(mounted)
        pairs.extend((canonical_name(descriptor.full_name), m.name) for m in mounted.values())
    if gate is not None:
        methods = gate(methods)
    if security is not None:
        methods = secure_methods(methods, security.authenticator(users))
    return methods


class EmbeddedServer:
    """An EventStoreDB-compatible gRPC server, in memory, or on a journal file (``db``).

    Insecure (plaintext, no authentication) unless given a ``certificate`` and its
    ``private_key``:

    >>> with EmbeddedServer() as server:   # doctest: +SKIP
    ...     client = EsdbClient(uri=server.uri)
    >>> with EmbeddedServer(certificate="node.crt", private_key="node.key", ca="ca.crt") as s:
    ...     client = EventStoreDBClient(s.connection_string("admin", "changeit"))  # doctest: +SKIP
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_append_size: int = DEFAULT_MAX_APPEND_SIZE,
        run_projections: str = "none",
        certificate: PathLike | None = None,
        private_key: PathLike | None = None,
        ca: PathLike | None = None,
        users: Mapping[str, tuple[str, Sequence[str]]] | None = None,
        admin_password: str = DEFAULT_PASSWORD,
        ops_password: str = DEFAULT_PASSWORD,
        allow_anonymous_stream_access: bool = False,
        bearer_tokens: Mapping[str, str] | None = None,
        limits: ServerLimits | None = None,
        start_standard_projections: bool | None = None,
        db: PathLike | None = None,
        db_sync: str = DEFAULT_SYNC,
        advertise_host: str | None = None,
        http2_engine: str | None = None,
    ) -> None:
        """``advertise_host`` is the host gossip tells clients to use (the node's
        ``--advertise-host-to-client-as``; default: ``host``).

        ``run_projections`` is "none" (the default, as on a real node), "system" (the
        same here) or "all": the standard projections (``$streams``, ``$ce-``, ``$et-``,
        ``$category-`` streams) write their links as events are appended.
        ``start_standard_projections`` (a node's ``--start-standard-projections``) says
        whether they start: by default only with "all"; False keeps them stopped, as on a
        node given ``--run-projections=All`` alone.

        Secure mode: ``certificate`` and ``private_key`` are the node's PEM files; ``ca``
        (a PEM file or a directory of them) is the CA trusted for client certificates and
        named in :attr:`esdb_uri`. The users are ``admin`` (``$admins``) and ``ops``
        (``$ops``) with ``admin_password`` / ``ops_password``, plus ``users`` (name →
        (password, groups)), which may also replace them. ``bearer_tokens`` (token → user
        name) accepts ``authorization: Bearer`` tokens as an OAuth plugin would.
        ``allow_anonymous_stream_access`` is the server option of that name (off since
        23.10). These are ignored in insecure mode, where credentials are too.

        ``db`` keeps the log in that journal file (:mod:`esdb_wire.server.journal`),
        created if missing: a server started again on it finds its streams, metadata,
        persistent subscription groups and checkpoints, users and projections as they
        were. ``db_sync`` is the journal's sync policy ("always", "batch" or "never").
        Without ``db`` everything stays in memory.
        """
        if (certificate is None) != (private_key is None):
            raise ValueError("secure mode needs both a certificate and its private key")
        if ca is not None and certificate is None:
            raise ValueError("a CA is only used in secure mode (give a certificate too)")
        self.host = host
        self.port = port
        self.advertise_host = advertise_host or host
        self.max_append_size = max_append_size
        self.run_projections = run_projections
        self._projections = _run_projections(run_projections)
        self.start_standard_projections = start_standard_projections
        self.subsystems: Subsystems | None = None
        self.shut_down = threading.Event()  # set once Operations.Shutdown has stopped it
        self.limits = limits or ServerLimits()
        self.http2_engine = check_server_engine(http2_engine)
        self.certificate = certificate
        self.private_key = private_key
        self.ca = ca
        self.admin_password = admin_password
        if db_sync not in SYNC_POLICIES:
            raise ValueError(f"db_sync must be one of {', '.join(SYNC_POLICIES)}, not {db_sync!r}")
        self.db = db
        self.db_sync = db_sync
        self.security: Security | None = None
        if certificate is not None:
            self.security = Security.with_users(
                users,
                admin_password=admin_password,
                ops_password=ops_password,
                allow_anonymous_stream_access=allow_anonymous_stream_access,
                bearer_tokens=bearer_tokens,
                certificate_users=ca is not None,
            )
        self.store: EventStore | None = None
        self._grpc: GrpcHost | None = None
        self._persistent: PersistentSubscriptionsService | None = None
        # The loop thread of start()/stop() (None when started on the caller's loop).
        self._runner: LoopThread | None = None

    @property
    def uri(self) -> str:
        """``host:port``, the address form esdbclient 0.5 takes."""
        return f"{self.host}:{self.port}"

    @property
    def secure(self) -> bool:
        """True in secure mode (TLS and authentication)."""
        return self.security is not None

    @property
    def esdb_uri(self) -> str:
        """An ``esdb://`` connection string for this server, without credentials:
        ``?Tls=false`` when insecure; ``?Tls=true`` plus ``&TlsCaFile=`` (when the CA is a
        file) when secure. More options can be appended with ``&``."""
        return self.connection_string()

    def connection_string(self, username: str | None = None, password: str | None = None) -> str:
        """:attr:`esdb_uri`, with ``username:password@`` when given (secure mode)."""
        credentials = ""
        if username is not None:
            credentials = f"{quote(username, safe='')}:{quote(password or '', safe='')}@"
        base = f"esdb://{credentials}{self.host}:{self.port}"
        if self.security is None:
            return f"{base}?Tls=false"
        text = f"{base}?Tls=true"
        if self.ca is not None and not Path(self.ca).is_dir():
            text += f"&TlsCaFile={quote(os.fspath(Path(self.ca).absolute()), safe='/')}"
        return text

    async def start_async(self) -> EmbeddedServer:
        """Start listening on the running event loop."""
        journal = None
        if self.db is not None:
            journal = Journal(self.db, sync=self.db_sync)
        try:
            self.store = EventStore(max_append_size=self.max_append_size, journal=journal)
        except BaseException:
            if journal is not None:
                journal.close()
            raise
        try:
            return await self._start_serving(self.store)
        except BaseException:
            await self.stop_async()
            raise

    async def _start_serving(self, store: EventStore) -> EmbeddedServer:
        self.subsystems = Subsystems(
            run_projections=self.run_projections,
            start_standard_projections=self.start_standard_projections,
        )
        await self.subsystems.start(
            store,
            users=None if self.security is None else self.security.users,
            node_endpoint=lambda: f"{self.host}:{self.port}",
            connections=lambda: 0 if self._grpc is None else len(self._grpc.connections),
            shutdown=self._shutdown,
            restart_persistent=self._restart_persistent,
        )
        gossip = GossipService(self.advertise_host, self.port)
        context = None
        if self.certificate is not None and self.private_key is not None:
            context = server_ssl_context(self.certificate, self.private_key, self.ca)
        self._persistent = PersistentSubscriptionsService(store)
        methods = build_methods(
            store,
            gossip,
            security=self.security,
            persistent=self._persistent,
            extra_services=self.subsystems.services(),
            users=self.subsystems.users,
        )
        methods = count_calls(methods, self.subsystems.calls)
        self._grpc = GrpcHost(
            methods, ssl_context=context, limits=self.limits, http2_engine=self.http2_engine
        )
        self.port = await self._grpc.start(self.host, self.port)
        gossip.port = self.port  # advertise the port actually bound (port 0: any)
        return self

    async def stop_async(self, grace: float = 1.0) -> None:
        if self._persistent is not None:
            self._persistent.close()  # consumers are dropped, as on a node shutting down
            self._persistent = None
        if self._grpc is not None:
            await self._grpc.stop(grace)
            self._grpc = None
        if self.subsystems is not None:
            await self.subsystems.stop()
            self.subsystems = None
        if self.store is not None:
            self.store.close()  # a journal is synced and closed; an in-memory store stays

    async def reset_async(self) -> None:
        """:meth:`reset`, on the server's own event loop (inside an asyncio program that
        started it with :meth:`start_async`)."""
        store, persistent, subsystems = self.store, self._persistent, self.subsystems
        if store is None or persistent is None or subsystems is None:
            raise RuntimeError("the server is not running")
        persistent.drop_all()
        await subsystems.reset(store.reset)
        persistent.reload()

    def reset(self, timeout: float = 30.0) -> None:
        """Empty the server, as if it had just started: the log and its indexes, stream
        metadata, persistent subscription groups and their checkpoints and parked
        messages, projections (the standard ones are registered again, and started as
        configured; custom ones are gone) and users (back to ``admin``, ``ops`` and the
        configured ones). Safe from any thread; returns once done.

        Connections stay open and keep working. Live catch-up subscriptions end with
        UNAVAILABLE ("The server was reset: resubscribe"); persistent subscription
        consumers are dropped (CANCELLED, as on a subsystem restart). Positions start
        again from those of a new server.
        """
        runner = self._runner
        if runner is None:
            raise RuntimeError("the server is not running (start() it first)")
        runner.run(self.reset_async(), timeout)

    async def _shutdown(self) -> None:
        """Operations.Shutdown: stop serving gracefully (the loop thread stays until
        :meth:`stop`); :attr:`shut_down` is set once stopped."""
        await self.stop_async()
        self.shut_down.set()

    async def wait_shut_down(self, poll: float = 0.2) -> None:
        """Return once Operations.Shutdown has stopped the server."""
        while not self.shut_down.is_set():
            await asyncio.sleep(poll)

    async def _restart_persistent(self) -> object:
        from esdb_wire.protos import shared_pb2 as shared  # noqa: PLC0415

        if self._persistent is None:
            return None
        return await self._persistent.RestartSubsystem(shared.Empty(), _NoContext())

    def start(self) -> EmbeddedServer:
        """Start on a background event loop thread; returns once the port is bound."""
        self._runner = LoopThread.starting("esdb_wire-embedded-server", self.start_async())
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Stop serving (open calls get ``grace`` seconds) and end the loop thread."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.finish(self.stop_async(grace), grace + 30)

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


class _NoContext:
    """The context of a call the server makes to itself."""

    metadata: Mapping[str, str] = {}
    peer = "local"

    def time_remaining(self) -> float | None:
        return None

    def set_trailers(self, trailers: object) -> None:
        del trailers
