"""A managed projection: its persisted definition, lifecycle state and statistics
(the server's ``ManagedProjection``).

The lifecycle states and their order are the server's (``ManagedProjectionState``):
State and Result go to the core from ``Running`` on, so a stopped projection answers from
its checkpoint and one that faulted before it could run (a query that does not compile,
or an empty one) never answers, as on a node.

Status texts combine the managed state with the core's (``ManagedProjection.
GetStatistics``): ``Running``, ``Stopped``, ``Faulted``, ``Faulted (Enabled)``,
``Completed/Stopped/Writing results`` (one-time), ``Aborted/Stopped``,
``Deleting/Stopped``...
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from esdb_wire.server.projections.core import CoreProjection
from esdb_wire.server.projections.source import SourceDefinition


class ManagedState(enum.IntEnum):
    """``ManagedProjectionState``, in the server's order."""

    Creating = 0
    Loading = 1
    Loaded = 2
    Preparing = 3
    Prepared = 4
    Starting = 5
    LoadingStopped = 6
    Running = 7
    Stopping = 8
    Aborting = 9
    Stopped = 10
    Completed = 11
    Aborted = 12
    Faulted = 13
    Deleting = 14


class Mode(enum.IntEnum):
    """``ProjectionMode``."""

    Transient = 0
    OneTime = 1
    Continuous = 2


@dataclass
class Persisted:
    """``ManagedProjection.PersistedState``: what ``$projections-<name>`` holds."""

    handler_type: str
    query: str
    mode: Mode
    enabled: bool
    emit_enabled: bool
    track_emitted_streams: bool
    checkpoints_disabled: bool
    run_as: str | None
    run_as_roles: tuple[str, ...] = ()
    epoch: int = -1
    version: int = -1
    engine_version: int = 1
    deleting: bool = False
    source: SourceDefinition | None = None

    def to_json(self) -> dict[str, Any]:
        run_as: dict[str, Any] | None = None
        if self.run_as is not None:
            run_as = {
                "name": self.run_as,
                "roles": None if self.run_as == "$system" else list(self.run_as_roles),
            }
        return {
            "handlerType": self.handler_type,
            "query": self.query,
            "mode": self.mode.name,
            "enabled": self.enabled,
            "deleted": False,
            "deleting": self.deleting,
            "deleteEmittedStreams": False,
            "deleteCheckpointStream": False,
            "deleteStateStream": False,
            "message": None,
            "sourceDefinition": None if self.source is None else self.source.to_json(),
            "emitEnabled": self.emit_enabled,
            "createTempStreams": False,
            "checkpointsDisabled": self.checkpoints_disabled,
            "trackEmittedStreams": self.track_emitted_streams,
            "epoch": self.epoch,
            "version": self.version,
            "runAs": run_as,
            "checkpointHandledThreshold": 4000,
            "checkpointAfterMs": 0,
            "checkpointUnhandledBytesThreshold": 10_000_000,
            "pendingEventsThreshold": 5000,
            "maxWriteBatchLength": 500,
            "maxAllowedWritesInFlight": 0,
            "projectionSubsystemVersion": 4,
            "projectionExecutionTimeout": None,
            "engineVersion": self.engine_version,
        }


@dataclass
class ManagedProjection:
    """One projection the manager knows."""

    name: str
    projection_id: int
    persisted: Persisted
    native: str | None = None
    state: ManagedState = ManagedState.Creating
    core: CoreProjection | None = None
    fault_reason: str | None = None
    partitions: set[str] = field(default_factory=set)
    tracked_streams: set[str] = field(default_factory=set)

    @property
    def mode(self) -> Mode:
        return self.persisted.mode

    @property
    def enabled(self) -> bool:
        return self.persisted.enabled

    def statistics(self) -> dict[str, Any]:
        """``ProjectionStatistics`` as the gRPC ``Statistics`` call reports it."""
        state_name = self.state.name
        stats: dict[str, Any] = {
            "coreProcessingTime": 0,
            "version": -1,
            "epoch": -1,
            "effectiveName": self.name,
            "writesInProgress": 0,
            "readsInProgress": 0,
            "partitionsCached": 0,
            "status": state_name,
            "stateReason": "",
            "name": self.name,
            "mode": self.mode.name,
            "position": "",
            "progress": 0.0,
            "lastCheckpoint": "",
            "eventsProcessedAfterRestart": 0,
            "checkpointStatus": "",
            "bufferedEvents": 0,
            "writePendingEventsBeforeCheckpoint": 0,
            "writePendingEventsAfterCheckpoint": 0,
        }
        core = self.core
        if core is not None:
            stats.update(core.statistics())
            status = core.status
            if status == "Stopped" and self.state == ManagedState.Completed:
                status = state_name
            elif not status.startswith(state_name):
                status = f"{state_name}/{status}"
            if self.state in (ManagedState.Stopped, ManagedState.Faulted) and self.enabled:
                status += " (Enabled)"
            stats["status"] = status
        if self.state == ManagedState.Faulted:
            stats["stateReason"] = self.fault_reason or ""
        return stats
