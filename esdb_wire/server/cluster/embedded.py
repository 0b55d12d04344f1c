"""``EmbeddedCluster``: several EventStoreDB-compatible nodes over one replicated log.

One process, one event loop, one log. Every committed event is visible on every node at
once, which is what a real cluster shows once replication has acknowledged a write. Each
node is its own gRPC listener on its own port (:mod:`.listener`) with a role decided by
:mod:`.membership`: the leader serves everything; followers and read-only replicas
answer as a real follower does (:mod:`.gate`); gossip on every node lists every member.
Projections, users and persistent subscription groups are the cluster's (they live in
the log); persistent subscription consumers are served by the leader only, and dropped
when the leader changes (the new leader resumes each group after its checkpoint).

Faults, from Python (``cluster.nodes[i].kill()``, or the ``*_async`` coroutines on the
cluster's own loop) or from the command line (:mod:`.cli`): stop or kill a node (its port
refuses), restart it (it rejoins as a follower), partition it (it stops answering),
heal it, resign the leader (also ``Operations.ResignNode`` on that node). When the leader
is lost an election picks another at once, and gossip shows it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

from esdb_wire.protos import shared_pb2
from esdb_wire.server.auth import DEFAULT_PASSWORD, Security
from esdb_wire.server.cluster.gate import ClusterGossipService, gate_methods
from esdb_wire.server.cluster.listener import NodeListener
from esdb_wire.server.cluster.membership import Health, Member, Membership, MemberView, VNodeState
from esdb_wire.server.embedded import (
    RUN_PROJECTIONS_CHOICES,
    PathLike,
    build_methods,
    server_ssl_context,
)
from esdb_wire.server.http2.engine import check_server_engine
from esdb_wire.server.journal import DEFAULT_SYNC, SYNC_POLICIES, Journal
from esdb_wire.server.limits import ServerLimits
from esdb_wire.server.loop_thread import LoopThread
from esdb_wire.server.monitoring import count_calls
from esdb_wire.server.operations import OperationsService
from esdb_wire.server.persistent import PersistentSubscriptionsService
from esdb_wire.server.store import DEFAULT_MAX_APPEND_SIZE, EventStore
from esdb_wire.server.subsystems import Subsystems

log = logging.getLogger("esdb_wire.server.cluster")
_T = TypeVar("_T")
_OPERATIONS = "event_store.client.operations.Operations"


class ClusterNode:
    """One node of an :class:`EmbeddedCluster`: where it listens, its state, and the
    faults to inflict on it. The blocking methods work on a cluster started with
    :meth:`EmbeddedCluster.start`; inside the cluster's own event loop use the cluster's
    ``*_async`` coroutines."""

    def __init__(self, cluster: EmbeddedCluster, member: Member, listener: NodeListener) -> None:
        self._cluster = cluster
        self.member = member
        self.listener = listener

    @property
    def index(self) -> int:
        """0-based position in :attr:`EmbeddedCluster.nodes`."""
        return self.member.index

    @property
    def name(self) -> str:
        """``node1``, ``node2``...: the CLI's names."""
        return self.member.name

    @property
    def port(self) -> int:
        """The port it listens on (bound once the cluster started)."""
        return self.member.port

    @property
    def uri(self) -> str:
        """``host:port`` as advertised to clients."""
        return f"{self.member.advertise_host}:{self.member.port}"

    @property
    def state(self) -> VNodeState:
        """Its state, as gossip shows it."""
        return self.member.state

    @property
    def health(self) -> Health:
        """Running, stopped, killed or partitioned."""
        return self.member.health

    @property
    def is_leader(self) -> bool:
        """Whether it leads the cluster now."""
        return self._cluster.membership.leader is self.member

    @property
    def leader_endpoint(self) -> tuple[str, int] | None:
        """The current leader's advertised (host, port), None without a leader."""
        leader = self._cluster.membership.leader
        return None if leader is None else leader.endpoint

    def stop(self, grace: float = 1.0) -> None:
        """Shut it down gracefully (GOAWAY, ``grace`` seconds for calls); its port refuses."""
        self._cluster._call(self._cluster.stop_node_async(self.index, grace))

    def kill(self) -> None:
        """End it at once: its port refuses, its connections close without a GOAWAY."""
        self._cluster._call(self._cluster.kill_node_async(self.index))

    def restart(self) -> None:
        """Bring it back (after a stop or a kill; a running node is stopped first): it
        rejoins as a follower, or leads if the cluster had no leader."""
        self._cluster._call(self._cluster.restart_node_async(self.index))

    def partition(self) -> None:
        """Cut it off: it stops answering (connections held, new ones never answered)."""
        self._cluster._call(self._cluster.partition_node_async(self.index))

    def heal(self) -> None:
        """End its partition: it rejoins as a follower."""
        self._cluster._call(self._cluster.heal_node_async(self.index))

    def resign(self) -> None:
        """If it leads, step down: another node is elected (as Operations.ResignNode)."""
        self._cluster._call(self._cluster.resign_node_async(self.index))

    def __repr__(self) -> str:
        return f"<ClusterNode {self.name} {self.uri} {self.state.name} {self.health.value}>"


class EmbeddedCluster:
    """An in-memory cluster of EventStoreDB-compatible nodes sharing one log.

    >>> with EmbeddedCluster(3) as cluster:  # doctest: +SKIP
    ...     client = EventStoreDBClient(cluster.esdb_uri)
    ...     cluster.leader.kill()            # an election follows at once

    ``size`` voting nodes plus ``read_only_replicas``; they listen on ``host`` at ``ports``
    (one each), or at consecutive ports from ``port`` (2110: 2110, 2111, 2112...), or at
    free ports. ``advertise_host`` is the host gossip and NotLeader tell clients (default
    ``host``). Secure with ``certificate`` and ``private_key`` (every node uses them; the
    certificate must name the advertised host), else insecure; ``db`` keeps the cluster's
    one log in a journal file; every node runs the server HTTP/2 engine ``http2_engine``
    (``"h2"``, the default, or ``"native"``); the other options are
    :class:`~esdb_wire.server.embedded.EmbeddedServer`'s.
    """

    def __init__(
        self,
        size: int = 3,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ports: Sequence[int] | None = None,
        advertise_host: str | None = None,
        read_only_replicas: int = 0,
        max_append_size: int = DEFAULT_MAX_APPEND_SIZE,
        run_projections: str = "none",
        start_standard_projections: bool | None = None,
        certificate: PathLike | None = None,
        private_key: PathLike | None = None,
        ca: PathLike | None = None,
        users: Mapping[str, tuple[str, Sequence[str]]] | None = None,
        admin_password: str = DEFAULT_PASSWORD,
        ops_password: str = DEFAULT_PASSWORD,
        allow_anonymous_stream_access: bool = False,
        limits: ServerLimits | None = None,
        db: PathLike | None = None,
        db_sync: str = DEFAULT_SYNC,
        http2_engine: str | None = None,
    ) -> None:
        total = size + read_only_replicas
        if size < 1 or read_only_replicas < 0:
            raise ValueError("a cluster needs at least one node (and no negative replicas)")
        if ports is not None and len(ports) != total:
            raise ValueError(f"{len(ports)} ports given for {total} nodes")
        if (certificate is None) != (private_key is None):
            raise ValueError("secure mode needs both a certificate and its private key")
        if ca is not None and certificate is None:
            raise ValueError("a CA is only used in secure mode (give a certificate too)")
        if db_sync not in SYNC_POLICIES:
            raise ValueError(f"db_sync must be one of {', '.join(SYNC_POLICIES)}, not {db_sync!r}")
        if run_projections.lower() not in RUN_PROJECTIONS_CHOICES:
            choices = ", ".join(RUN_PROJECTIONS_CHOICES)
            raise ValueError(f"run_projections must be one of {choices}, not {run_projections!r}")
        if ports is None:
            ports = [port + i if port else 0 for i in range(total)]
        self.host = host
        self.advertise_host = advertise_host or host
        self.max_append_size = max_append_size
        self.run_projections = run_projections
        self.start_standard_projections = start_standard_projections
        self.certificate, self.private_key, self.ca = certificate, private_key, ca
        self.admin_password = admin_password
        self.db, self.db_sync = db, db_sync
        self.limits = limits or ServerLimits()
        self.http2_engine = check_server_engine(http2_engine)
        self.security: Security | None = None
        if certificate is not None:
            self.security = Security.with_users(
                users,
                admin_password=admin_password,
                ops_password=ops_password,
                allow_anonymous_stream_access=allow_anonymous_stream_access,
                certificate_users=ca is not None,
            )
        self.membership = Membership(
            [
                Member(index=i, port=p, advertise_host=self.advertise_host, read_only=i >= size)
                for i, p in enumerate(ports)
            ]
        )
        self.nodes: list[ClusterNode] = []
        self.store: EventStore | None = None
        self.subsystems: Subsystems | None = None
        self._persistent: PersistentSubscriptionsService | None = None
        # The loop thread of start()/stop() (None when started on the caller's loop).
        self._runner: LoopThread | None = None
        # Serialises faults and elections (made on the cluster's loop: Python 3.9 binds it).
        self._changes: asyncio.Lock | None = None

    # -- what clients see ----------------------------------------------------------------

    @property
    def secure(self) -> bool:
        """True in secure mode (TLS and authentication on every node)."""
        return self.security is not None

    @property
    def leader(self) -> ClusterNode | None:
        """The leader now, None while the cluster has none (no quorum)."""
        leader = self.membership.leader
        return None if leader is None else self.nodes[leader.index]

    @property
    def followers(self) -> list[ClusterNode]:
        """The reachable followers now."""
        return [n for n in self.nodes if n.state is VNodeState.FOLLOWER]

    def gossip(self) -> list[MemberView]:
        """Every member as gossip shows it now, with epoch and positions."""
        store = self.store
        return self.membership.views(0 if store is None else store.log_end)

    @property
    def esdb_uri(self) -> str:
        """An ``esdb://`` connection string naming every node as a gossip seed, without
        credentials (see :meth:`connection_string`)."""
        return self.connection_string()

    def connection_string(
        self, username: str | None = None, password: str | None = None, **options: str
    ) -> str:
        """``esdb://[user:password@]host:p1,host:p2,...?Tls=...`` (``TlsCaFile`` when the
        CA is a file), plus ``options`` (e.g. ``NodePreference="follower"``)."""
        credentials = ""
        if username is not None:
            credentials = f"{quote(username, safe='')}:{quote(password or '', safe='')}@"
        seeds = ",".join(node.uri for node in self.nodes) or ",".join(
            f"{m.advertise_host}:{m.port}" for m in self.membership.members
        )
        query = ["Tls=false"] if self.security is None else ["Tls=true"]
        if self.ca is not None and self.security is not None and not Path(self.ca).is_dir():
            query.append(f"TlsCaFile={quote(os.fspath(Path(self.ca).absolute()), safe='/')}")
        query.extend(f"{key}={quote(str(value), safe='')}" for key, value in options.items())
        return f"esdb://{credentials}{seeds}?{'&'.join(query)}"

    # -- lifecycle -----------------------------------------------------------------------

    async def start_async(self) -> EmbeddedCluster:
        """Start every node on the running event loop."""
        self._changes = asyncio.Lock()
        journal = None if self.db is None else Journal(self.db, sync=self.db_sync)
        try:
            store = self.store = EventStore(max_append_size=self.max_append_size, journal=journal)
        except BaseException:
            if journal is not None:
                journal.close()
            raise
        try:
            await self._start_nodes(store)
        except BaseException:  # e.g. a port taken: nothing left running
            await self.stop_async(0)
            raise
        log.info("cluster of %d nodes: %s", len(self.nodes), self._summary())
        return self

    async def _start_nodes(self, store: EventStore) -> None:
        """The subsystems on ``store``, then every node's listener."""
        subsystems = self.subsystems = Subsystems(
            run_projections=self.run_projections,
            start_standard_projections=self.start_standard_projections,
        )
        await subsystems.start(
            store,
            users=None if self.security is None else self.security.users,
            node_endpoint=self._leader_text,
            connections=lambda: sum(n.listener.connections for n in self.nodes),
            shutdown=None,
            restart_persistent=self._restart_persistent,
        )
        context = None
        if self.certificate is not None and self.private_key is not None:
            context = server_ssl_context(self.certificate, self.private_key, self.ca)
        self._persistent = PersistentSubscriptionsService(store)
        self.membership.settle(store.log_end)
        self.nodes = []
        for member in self.membership.members:
            listener = NodeListener(
                member.name,
                self._node_methods(member),
                host=self.host,
                port=member.port,
                ssl_context=context,
                limits=self.limits,
                http2_engine=self.http2_engine,
            )
            self.nodes.append(ClusterNode(self, member, listener))
        for node in self.nodes:
            node.member.port = await node.listener.start()

    def _node_methods(self, member: Member) -> dict[str, Any]:
        """The rpcs ``member`` serves: the cluster's services behind its role's gate,
        with its own gossip view and Operations (resign, shutdown, priority)."""
        subsystems, store = self.subsystems, self.store
        assert subsystems is not None
        assert store is not None
        assert subsystems.operations is not None
        index = member.index
        role = _Role(self.membership, member)

        async def resign() -> None:
            await self.resign_node_async(index)

        async def shutdown() -> None:
            await self.stop_node_async(index)

        def set_priority(priority: int) -> None:
            member.priority = priority

        operations = OperationsService(
            subsystems.operations.scavenger,
            shutdown=shutdown,
            restart_persistent=self._restart_persistent,
            resign=resign,
            set_priority=set_priority,
        )
        # The cluster's projections, users and monitoring; this node's own operations.
        services = [
            (operations if descriptor.full_name.endswith(_OPERATIONS) else service, descriptor)
            for service, descriptor in subsystems.services()
        ]
        methods = build_methods(
            store,
            ClusterGossipService(self.gossip),
            security=self.security,
            persistent=self._persistent,
            extra_services=services,
            users=subsystems.users,
            gate=lambda mounted: gate_methods(mounted, role),
        )
        return count_calls(methods, subsystems.calls)

    async def stop_async(self, grace: float = 1.0) -> None:
        """Stop every node (open calls get ``grace`` seconds)."""
        if self._persistent is not None:
            self._persistent.close()
            self._persistent = None
        await asyncio.gather(*(node.listener.stop(grace) for node in self.nodes))
        if self.subsystems is not None:
            await self.subsystems.stop()
            self.subsystems = None
        if self.store is not None:
            self.store.close()  # a journal is synced and closed; an in-memory store stays

    def start(self) -> EmbeddedCluster:
        """Start on a background event loop thread; returns once every port is bound."""
        self._runner = LoopThread.starting("esdb_wire-embedded-cluster", self.start_async())
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Stop every node and end the loop thread."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.finish(self.stop_async(grace), grace + 30)

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def reset_async(self) -> None:
        """:meth:`reset` on the cluster's own loop."""
        store, persistent, subsystems = self.store, self._persistent, self.subsystems
        if store is None or persistent is None or subsystems is None:
            raise RuntimeError("the cluster is not running")
        persistent.drop_all()
        await subsystems.reset(store.reset)
        persistent.reload()

    def reset(self, timeout: float = 30.0) -> None:
        """Empty the log and everything kept in it, as
        :meth:`~esdb_wire.server.embedded.EmbeddedServer.reset` does; the nodes' states
        (and faults) stay as they are."""
        self._call(self.reset_async(), timeout)

    def _call(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
        runner = self._runner
        if runner is None:
            coroutine.close()
            raise RuntimeError("the cluster runs on another loop: await the *_async methods")
        return runner.run(coroutine, timeout)

    # -- faults --------------------------------------------------------------------------

    async def stop_node_async(self, index: int, grace: float = 1.0) -> None:
        """:meth:`ClusterNode.stop`."""
        await self._change(index, Health.STOPPED, lambda node: node.listener.stop(grace))

    async def kill_node_async(self, index: int) -> None:
        """:meth:`ClusterNode.kill`."""
        await self._change(index, Health.KILLED, lambda node: node.listener.kill())

    async def partition_node_async(self, index: int) -> None:
        """:meth:`ClusterNode.partition`."""
        node = self.nodes[index]
        if node.health is not Health.RUNNING:
            raise RuntimeError(f"{node.name} is {node.health.value}: only a running node")
        await self._change(index, Health.PARTITIONED, lambda node: node.listener.partition())

    async def heal_node_async(self, index: int) -> None:
        """:meth:`ClusterNode.heal`."""
        node = self.nodes[index]
        if node.health is not Health.PARTITIONED:
            return
        await self._change(index, Health.RUNNING, lambda node: node.listener.heal())

    async def restart_node_async(self, index: int) -> None:
        """:meth:`ClusterNode.restart`."""
        node = self.nodes[index]
        if node.health is Health.PARTITIONED:
            await self.heal_node_async(index)
            return
        if node.health is Health.RUNNING:
            await self.stop_node_async(index)
        await self._change(index, Health.RUNNING, lambda node: node.listener.start())

    async def resign_node_async(self, index: int) -> None:
        """:meth:`ClusterNode.resign`."""
        assert self._changes is not None
        async with self._changes:
            member = self.nodes[index].member
            if self.membership.leader is not member:
                log.info("%s asked to resign, but it does not lead", member.name)
                return
            log.info("%s resigns", member.name)
            self._settle(resigning=member)

    async def _change(
        self, index: int, health: Health, act: Callable[[ClusterNode], Awaitable[object]]
    ) -> None:
        """Move node ``index`` to ``health`` (``act`` does it to its listener), then
        settle the membership: one change at a time."""
        assert self._changes is not None
        async with self._changes:
            node = self.nodes[index]
            if node.health is health:
                return
            log.info("%s: %s -> %s", node.name, node.health.value, health.value)
            if health is Health.RUNNING:
                await act(node)  # listening first, then a member again
                node.member.health = health
                self._settle()
            else:
                node.member.health = health  # out of the election first, then gone
                self._settle()
                await act(node)

    def _settle(self, resigning: Member | None = None) -> None:
        store = self.store
        before = self.membership.leader
        changed = self.membership.settle(0 if store is None else store.log_end, resigning=resigning)
        if changed:
            leader = self.membership.leader
            log.info(
                "election: %s -> %s (epoch %d); %s",
                "none" if before is None else before.name,
                "none (no quorum)" if leader is None else leader.name,
                self.membership.epoch_number,
                self._summary(),
            )
            if self._persistent is not None and before is not None:
                self._persistent.reload()  # consumers dropped; the new leader resumes

    def _summary(self) -> str:
        return ", ".join(
            f"{m.name} {m.advertise_host}:{m.port} {m.state.name.lower()}"
            for m in self.membership.members
        )

    def _leader_text(self) -> str:
        leader = self.membership.leader
        return "" if leader is None else f"{leader.advertise_host}:{leader.port}"

    async def _restart_persistent(self) -> object:
        if self._persistent is None:
            return None
        return await self._persistent.RestartSubsystem(shared_pb2.Empty(), _LocalContext())


class _Role:
    """A member's role, as its gate asks at each call."""

    def __init__(self, membership: Membership, member: Member) -> None:
        self._membership = membership
        self._member = member

    @property
    def is_leader(self) -> bool:
        return self._membership.leader is self._member

    @property
    def leader_endpoint(self) -> tuple[str, int] | None:
        leader = self._membership.leader
        return None if leader is None else leader.endpoint


class _LocalContext:
    """The context of a call the cluster makes to itself."""

    metadata: Mapping[str, str] = {}
    peer = "local"

    def time_remaining(self) -> float | None:
        return None

    def set_trailers(self, trailers: object) -> None:
        del trailers
