"""The projections subsystem: the registry of managed projections and what the
Projections service asks of it (the server's ``ProjectionManager``).

Started with the node (``--run-projections`` System or All), it writes
``$ProjectionsInitialized`` and registers the five standard projections (ids 1-5,
disabled) in ``$projections-$all``, then enables them when standard projections start.
With System only ``$``-named projections run; custom ones can be created but stay
stopped, as on a node.

Requests are handled one at a time (a lock), like the manager's queue. Refusals are
:class:`ProjectionError` values whose ``kind`` is the reply the server's manager sends
(``NotFound``, ``Conflict``, ``OperationFailed``, ``NotAuthorized``); the service maps
them to gRPC statuses. Writes of a continuous or one-time projection need ``$admins`` or
``$ops`` (``RunAs.ValidateRunAs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any, Final

from esdb_wire.server.projections import names, standard
from esdb_wire.server.projections.core import DEFAULT_LAG, CoreConfig, CoreProjection
from esdb_wire.server.projections.jsruntime import (
    EngineMissing,
    JsProjection,
    ScriptFault,
    engine_available,
    js_executor,
)
from esdb_wire.server.projections.managed import ManagedProjection, ManagedState, Mode, Persisted
from esdb_wire.server.projections.registry import load_registered
from esdb_wire.server.projections.source import SourceDefinition
from esdb_wire.server.records import ANY, NO_STREAM, ProposedEvent, StreamDeletedError
from esdb_wire.server.store import EventStore

log = logging.getLogger("esdb_wire.server.projections")

NOT_FOUND: Final = "NotFound"
CONFLICT: Final = "Conflict"
OPERATION_FAILED: Final = "OperationFailed"
NOT_AUTHORIZED: Final = "NotAuthorized"
SYSTEM: Final = "$system"
_PRIVILEGED = ("$admins", "$ops")


class ProjectionError(Exception):
    """A request the manager refuses: ``kind`` is its reply message type."""

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(message or kind)
        self.kind = kind
        self.message = message


class SubsystemBusy(Exception):
    """RestartSubsystem while the subsystem is not started."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


class RunAs:
    """Who asks: a user name and roles, or the system (insecure mode)."""

    def __init__(self, name: str = SYSTEM, roles: Sequence[str] = ()) -> None:
        self.name = name
        self.roles = tuple(roles)

    @property
    def privileged(self) -> bool:
        return self.name == SYSTEM or any(role in _PRIVILEGED for role in self.roles)


class ProjectionManager:
    """Every managed projection of one store."""

    def __init__(
        self,
        store: EventStore,
        *,
        run_custom: bool = True,
        start_standard: bool = True,
        lag: float = DEFAULT_LAG,
    ) -> None:
        self.store = store
        self.run_custom = run_custom
        self.start_standard = start_standard
        self.lag = lag
        self.projections: dict[str, ManagedProjection] = {}
        self.subsystem_state = "NotReady"
        self._lock = asyncio.Lock()
        self._restart: asyncio.Task[None] | None = None

    # ---- startup / shutdown ----------------------------------------------------------

    async def start(self) -> None:
        """Register the standard projections and start them if asked; on a store that has
        them registered already (a server restarted on its journal), load every
        registered projection instead and start those that are enabled."""
        async with self._lock:
            self.subsystem_state = "Starting"
            if self.store.last_revision(names.REGISTRATION_STREAM) >= 0:
                for managed in load_registered(self.store):
                    self.projections[managed.name] = managed
                    await self._prepare(managed)
                    await self._restart_core(managed)
                self.subsystem_state = "Started"
                return
            self._write(
                names.REGISTRATION_STREAM, names.PROJECTIONS_INITIALIZED, b"", False, NO_STREAM
            )
            for native in names.STANDARD_NAMES:
                persisted = Persisted(
                    handler_type=standard.HANDLER_TYPES[native],
                    query=standard.CONFIGURATIONS[native],
                    mode=Mode.Continuous,
                    enabled=False,
                    emit_enabled=True,
                    track_emitted_streams=False,
                    checkpoints_disabled=False,
                    run_as=SYSTEM,
                    source=SourceDefinition.native(),
                )
                projection_id = self._write(
                    names.REGISTRATION_STREAM, names.PROJECTION_CREATED, native.encode(), False
                )
                managed = ManagedProjection(native, projection_id, persisted, native=native)
                self.projections[native] = managed
                self._persist(managed)
                await self._prepare(managed)
            for native in names.STANDARD_NAMES:
                managed = self.projections[native]
                if self.start_standard:
                    managed.persisted.enabled = True
                    self._persist(managed)
                # Enabled: it runs; disabled: loaded stopped ("Stopped"), as on a node.
                await self._restart_core(managed)
            self.subsystem_state = "Started"

    async def close(self, *, write_checkpoints: bool = False) -> None:
        """Stop every core; with ``write_checkpoints`` (a durable store that outlives the
        server) each running one checkpoints first, so a restart resumes where it was."""
        self.subsystem_state = "Stopped"
        restart = self._restart
        if restart is not None and not restart.done():
            restart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await restart
        async with self._lock:
            for managed in self.projections.values():
                core = managed.core
                if core is not None:
                    await core.stop(write_checkpoint=write_checkpoints and core.status == "Running")
                    core.dispose()

    def catch_up_native(self) -> None:
        """Let the standard projections process everything committed so far."""
        for managed in self.projections.values():
            core = managed.core
            if managed.native is not None and core is not None and core.status == "Running":
                core.catch_up()

    # ---- requests --------------------------------------------------------------------

    async def create(
        self,
        name: str,
        query: str,
        mode: Mode,
        *,
        emit_enabled: bool = False,
        track_emitted_streams: bool = False,
        engine_version: int = 1,
        run_as: RunAs | None = None,
    ) -> str:
        """Register and start a projection (``Command.Post``); returns its name."""
        run_as = run_as or RunAs()
        if not engine_available():
            raise EngineMissing()
        async with self._lock:
            if mode == Mode.OneTime:
                name = str(uuid.uuid4())
            if mode > Mode.Transient and not run_as.privileged:
                raise ProjectionError(NOT_AUTHORIZED, "Not authorized")
            if not name.strip():
                raise ProjectionError(OPERATION_FAILED, "Projection name is required")
            if name in self.projections:
                raise ProjectionError(CONFLICT, f"Duplicate projection names : {name}")
            persisted = Persisted(
                handler_type="JS",
                query=query,
                mode=mode,
                enabled=True,
                emit_enabled=emit_enabled,
                track_emitted_streams=track_emitted_streams,
                checkpoints_disabled=mode != Mode.Continuous,
                run_as=run_as.name,
                run_as_roles=run_as.roles,
                engine_version=engine_version,
            )
            if mode == Mode.Transient:
                projection_id = self.store.last_revision(names.REGISTRATION_STREAM) + 1
            else:
                projection_id = self._write(
                    names.REGISTRATION_STREAM, names.PROJECTION_CREATED, name.encode(), False
                )
            managed = ManagedProjection(name, projection_id, persisted)
            self.projections[name] = managed
            await self._prepare(managed)
            self._persist(managed)
            await self._restart_core(managed)
            return name

    async def update(
        self, name: str, query: str, emit_enabled: bool | None, run_as: RunAs | None = None
    ) -> None:
        async with self._lock:
            managed = self._get(name, run_as, write=True)
            managed.persisted.query = query
            if emit_enabled is not None:
                managed.persisted.emit_enabled = emit_enabled
            if managed.state == ManagedState.Completed:
                self._reset_epoch(managed)
            await self._stop_core(managed, write_checkpoint=True)
            await self._prepare(managed)
            self._persist(managed)
            await self._restart_core(managed)

    async def enable(self, name: str, run_as: RunAs | None = None) -> None:
        async with self._lock:
            managed = self._get(name, run_as, write=True)
            stopped = (
                ManagedState.Completed,
                ManagedState.Faulted,
                ManagedState.Aborted,
                ManagedState.Loaded,
                ManagedState.Prepared,
                ManagedState.Stopped,
            )
            if managed.enabled and managed.state not in stopped:
                return
            managed.persisted.enabled = True
            await self._stop_core(managed, write_checkpoint=True)
            self._persist(managed)
            await self._prepare(managed)
            await self._restart_core(managed)

    async def disable(
        self, name: str, *, write_checkpoint: bool, run_as: RunAs | None = None
    ) -> None:
        """Disable (stop with a checkpoint) or, without ``write_checkpoint``, abort."""
        async with self._lock:
            managed = self._get(name, run_as, write=True)
            managed.persisted.enabled = False
            self._persist(managed)
            was_running = managed.state in (ManagedState.Running, ManagedState.Starting)
            await self._stop_core(managed, write_checkpoint=write_checkpoint)
            if managed.state != ManagedState.Faulted or managed.core is not None:
                await self._restart_core(managed)
                if not write_checkpoint and was_running:
                    managed.state = ManagedState.Aborted

    async def reset(self, name: str, run_as: RunAs | None = None) -> None:
        async with self._lock:
            managed = self._get(name, run_as, write=True)
            await self._stop_core(managed, write_checkpoint=True)
            self._reset_epoch(managed)
            await self._prepare(managed)
            await self._restart_core(managed)

    async def delete(
        self,
        name: str,
        *,
        delete_emitted_streams: bool,
        delete_state_stream: bool,
        delete_checkpoint_stream: bool,
        run_as: RunAs | None = None,
    ) -> None:
        del delete_state_stream  # accepted, unused: as on the server (no state stream)
        async with self._lock:
            managed = self._get(name, run_as, write=True)
            if managed.native is not None:
                raise ProjectionError(
                    OPERATION_FAILED,
                    "We currently don't allow for the deletion of System Projections.",
                )
            if (
                managed.state not in (ManagedState.Stopped, ManagedState.Faulted)
                and managed.mode != Mode.Transient
            ):
                raise ProjectionError(
                    OPERATION_FAILED,
                    "Cannot delete a projection that hasn't been stopped or faulted.",
                )
            persisted = managed.persisted
            persisted.enabled = False
            persisted.deleting = True
            self._persist(managed)
            managed.state = ManagedState.Deleting
            await self._stop_core(managed, write_checkpoint=False)
            projection = names.ProjectionNames(name)
            if delete_checkpoint_stream and not persisted.checkpoints_disabled:
                self._delete_stream(projection.checkpoint)
                for partition in managed.partitions:
                    self._delete_stream(projection.partition_checkpoint(partition))
            if delete_emitted_streams and persisted.emit_enabled:
                if persisted.track_emitted_streams:
                    for stream in self._tracked_streams(projection.emitted_streams):
                        self._delete_stream(stream)
                    self._delete_stream(projection.emitted_streams_checkpoint)
                    self._delete_stream(projection.emitted_streams)
                source = persisted.source
                if source is not None and len(source.streams) > 1:
                    self._delete_stream(projection.order)
            if managed.mode != Mode.Transient:
                self._write(
                    names.REGISTRATION_STREAM, names.PROJECTION_DELETED, name.encode(), False
                )
            if managed.core is not None:
                managed.core.dispose()
            del self.projections[name]

    async def state(self, name: str, partition: str, *, result: bool = False) -> str:
        """A partition's state (or result) JSON text; "" when there is none."""
        managed = self._get(name)
        if managed.state < ManagedState.Running:
            return ""
        core = managed.core
        if core is None:
            # Faulted before its core could exist: the server's request goes unanswered.
            await asyncio.Event().wait()
            return ""
        value = await (core.result(partition) if result else core.state(partition))
        return value or ""

    def statistics(self, name: str | None = None, mode: Mode | None = None) -> list[dict[str, Any]]:
        if name is not None:
            return [self._get(name).statistics()]
        return [
            managed.statistics()
            for managed in self.projections.values()
            if mode is None or managed.mode == mode
        ]

    def restart_subsystem(self) -> None:
        """Stop every projection and start again those that are enabled (in the
        background, as the server replies ``SubsystemRestarting`` first)."""
        if self.subsystem_state != "Started":
            raise SubsystemBusy(self.subsystem_state)
        self.subsystem_state = "Stopping"
        self._restart = asyncio.get_running_loop().create_task(self._restart_all())

    async def _restart_all(self) -> None:
        async with self._lock:
            for managed in list(self.projections.values()):
                await self._stop_core(managed, write_checkpoint=True)
            self.subsystem_state = "Starting"
            for managed in list(self.projections.values()):
                if managed.state != ManagedState.Faulted or managed.core is not None:
                    await self._prepare(managed)
                    await self._restart_core(managed)
            self.subsystem_state = "Started"

    # ---- internals -------------------------------------------------------------------

    def _get(
        self, name: str, run_as: RunAs | None = None, *, write: bool = False
    ) -> ManagedProjection:
        managed = self.projections.get(name)
        if managed is None:
            raise ProjectionError(NOT_FOUND)
        if write and managed.mode > Mode.Transient and not (run_as or RunAs()).privileged:
            raise ProjectionError(NOT_AUTHORIZED, "Not authorized")
        return managed

    def _write(
        self, stream: str, event_type: str, data: bytes, is_json: bool, expected: int = ANY
    ) -> int:
        event = ProposedEvent(uuid.uuid4(), event_type, is_json, data, b"")
        result = self.store.append(stream, expected, [event])
        return getattr(result, "current_revision", -1)

    def _persist(self, managed: ManagedProjection) -> None:
        """Write the definition; its event number is the new version."""
        persisted = managed.persisted
        if managed.mode == Mode.Transient:
            persisted.version += 1
            return
        persisted.version = self.store.last_revision(names.PREFIX + managed.name) + 1
        data = json.dumps(persisted.to_json(), separators=(",", ":")).encode()
        self._write(names.PREFIX + managed.name, names.PROJECTION_UPDATED, data, True)

    def _reset_epoch(self, managed: ManagedProjection) -> None:
        self._persist(managed)
        managed.persisted.epoch = managed.persisted.version

    async def _prepare(self, managed: ManagedProjection) -> None:
        """Compile the query and check its source; a failure faults the projection."""
        managed.fault_reason = None
        if managed.native is not None:
            managed.state = ManagedState.Prepared
            return
        managed.state = ManagedState.Preparing
        loop = asyncio.get_running_loop()
        try:
            compiled = await loop.run_in_executor(
                js_executor(), JsProjection, managed.persisted.query
            )
        except ScriptFault as fault:
            self._faulted(managed, str(fault))
            return
        js_executor().submit(compiled.close)
        source = SourceDefinition.from_js(compiled.definition)
        managed.persisted.source = source
        problem = source.problem()
        if problem is not None:
            self._faulted(managed, problem)
            return
        managed.state = ManagedState.Prepared

    def _faulted(self, managed: ManagedProjection, reason: str) -> None:
        log.warning(
            "projection %s faulted: %s", managed.name, reason.splitlines()[0] if reason else ""
        )
        managed.state = ManagedState.Faulted
        managed.fault_reason = reason
        if managed.core is not None:
            managed.core.dispose()
            managed.core = None

    async def _stop_core(self, managed: ManagedProjection, *, write_checkpoint: bool) -> None:
        core = managed.core
        if core is None:
            return
        if core.status in ("Running", "Stopping"):
            managed.state = ManagedState.Stopping
            await core.stop(write_checkpoint=write_checkpoint)
        core.dispose()
        if managed.state == ManagedState.Stopping:
            managed.state = ManagedState.Stopped

    async def _restart_core(self, managed: ManagedProjection) -> None:
        """A new core: running if enabled (and allowed to run here), else loaded stopped."""
        if managed.state == ManagedState.Faulted and managed.core is None:
            return  # did not prepare
        persisted = managed.persisted
        source = persisted.source or SourceDefinition.native()
        config = CoreConfig(
            name=managed.name,
            projection_id=managed.projection_id,
            epoch=persisted.epoch,
            version=persisted.version,
            definition=source,
            emit_enabled=persisted.emit_enabled,
            track_emitted=persisted.track_emitted_streams,
            checkpoints=not persisted.checkpoints_disabled,
            stop_on_eof=managed.mode <= Mode.OneTime,
            native=managed.native,
            query=persisted.query,
        )
        core = CoreProjection(
            config,
            self.store,
            partitions=managed.partitions,
            tracked_streams=managed.tracked_streams,
            on_end=lambda ended, how, reason: self._ended(managed, ended, how, reason),
            lag=self.lag,
        )
        managed.core = core
        run = persisted.enabled and (self.run_custom or managed.name.startswith("$"))
        managed.state = ManagedState.Starting if run else ManagedState.LoadingStopped
        await core.start(run=run)
        if core.status == "Faulted":
            managed.state = ManagedState.Faulted
            managed.fault_reason = core.fault_reason
        elif run:
            managed.state = ManagedState.Running
        else:
            managed.state = ManagedState.Stopped

    def _ended(
        self, managed: ManagedProjection, core: CoreProjection, how: str, reason: str | None
    ) -> None:
        if managed.core is not core:
            return
        if how == "completed":
            managed.state = ManagedState.Completed
        elif how == "faulted":
            managed.state = ManagedState.Faulted
            managed.fault_reason = reason

    def _delete_stream(self, stream: str) -> None:
        with contextlib.suppress(StreamDeletedError):
            self.store.delete(stream, ANY)

    def _tracked_streams(self, stream: str) -> list[str]:
        try:
            found = self.store.read_stream(stream, 0, 1_000_000)
        except StreamDeletedError:
            return []
        if found is None:
            return []
        return [record.data.decode("utf-8", errors="replace") for record in found.records]
