"""The node's management subsystems, as one unit the embedded server starts and stops:
projections (:mod:`esdb_wire.server.projections`), users (:mod:`.users`), operations
(:mod:`.operations`) and monitoring (:mod:`.monitoring`).

``run_projections`` is the node's ``--run-projections``: "none" mounts no Projections
service (UNIMPLEMENTED, as on a node without the subsystem), "system" runs the subsystem
but only ``$``-named projections run, "all" runs everything. The standard projections
start with it when ``start_standard_projections`` (default: with "all").
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence

from google.protobuf.descriptor import ServiceDescriptor

from esdb_wire.protos import monitoring_pb2, operations_pb2, projections_pb2, users_pb2
from esdb_wire.server.monitoring import MonitoringService
from esdb_wire.server.operations import OperationsService, Scavenger
from esdb_wire.server.projections.core import DEFAULT_LAG
from esdb_wire.server.projections.manager import ProjectionManager
from esdb_wire.server.projections.service import ProjectionsService
from esdb_wire.server.store import EventStore
from esdb_wire.server.users import UserDirectory, UsersService

log = logging.getLogger("esdb_wire.server")

TYPE_MODULES = (projections_pb2, users_pb2, operations_pb2, monitoring_pb2)


class Subsystems:
    """Projections, users, operations and monitoring of one server."""

    def __init__(
        self,
        *,
        run_projections: str = "none",
        start_standard_projections: bool | None = None,
        projection_lag: float = DEFAULT_LAG,
    ) -> None:
        self.run_projections = run_projections.lower()
        if start_standard_projections is None:
            start_standard_projections = self.run_projections == "all"
        self.start_standard_projections = start_standard_projections
        self.projection_lag = projection_lag
        self.projections: ProjectionManager | None = None
        self.users: UserDirectory | None = None
        self.operations: OperationsService | None = None
        self.monitoring: MonitoringService | None = None
        self.calls: Counter[str] = Counter()

    async def start(
        self,
        store: EventStore,
        *,
        users: Mapping[str, tuple[str, Sequence[str]]] | None = None,
        node_endpoint: Callable[[], str] = lambda: "",
        connections: Callable[[], int] = lambda: 0,
        shutdown: Callable[[], Awaitable[None]] | None = None,
        restart_persistent: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Start on ``store`` (before the server serves). ``users`` (secure mode) are
        created in their streams; ``shutdown`` stops the server (Operations.Shutdown)."""
        if self.run_projections != "none":
            manager = ProjectionManager(
                store,
                run_custom=self.run_projections == "all",
                start_standard=self.start_standard_projections,
                lag=self.projection_lag,
            )
            await manager.start()
            store.read_barrier = manager.catch_up_native
            self.projections = manager
        directory = UserDirectory(store)
        directory.load()
        if users is not None:
            directory.seed(users)
        self.users = directory
        self.operations = OperationsService(
            Scavenger(store, node_endpoint),
            shutdown=shutdown,
            restart_persistent=restart_persistent,
        )
        self.monitoring = MonitoringService(store, connections=connections, calls=self.calls)

    async def reset(self, empty_store: Callable[[], None]) -> None:
        """Back to a new server's state around ``empty_store`` (which empties the store):
        the projections are stopped first, then registered again as at startup (the
        standard ones started if configured; custom ones are gone); the users are the
        seeded ones again."""
        manager = self.projections
        if manager is not None:
            await manager.close()
        empty_store()
        if manager is not None:
            manager.projections = {}
            await manager.start()
        if self.users is not None:
            self.users.reset()

    def services(self) -> list[tuple[object, ServiceDescriptor]]:
        """The services to mount, with their descriptors."""
        found: list[tuple[object, ServiceDescriptor]] = []
        if self.projections is not None:
            found.append(
                (
                    ProjectionsService(self.projections),
                    projections_pb2.DESCRIPTOR.services_by_name["Projections"],
                )
            )
        if self.users is not None:
            found.append((UsersService(self.users), users_pb2.DESCRIPTOR.services_by_name["Users"]))
        if self.operations is not None:
            found.append(
                (self.operations, operations_pb2.DESCRIPTOR.services_by_name["Operations"])
            )
        if self.monitoring is not None:
            found.append(
                (self.monitoring, monitoring_pb2.DESCRIPTOR.services_by_name["Monitoring"])
            )
        return found

    async def stop(self) -> None:
        """Stop the projections; on a durable store each running one checkpoints first,
        so that a restart on the journal resumes it there."""
        if self.projections is not None:
            await self.projections.close(write_checkpoints=self.projections.store.durable)
