"""Reading back the projections a store has registered, for a server restarted on its
journal (the server's ``ProjectionManager`` loading ``$projections-$all`` at start).

A projection is registered by a ``$ProjectionCreated`` event in ``$projections-$all``
(data its name; its event number is the projection's id) and forgotten by a
``$ProjectionDeleted``. Its definition is the last ``$ProjectionUpdated`` of
``$projections-<name>`` (:meth:`Persisted.to_json`); its partitions are listed in
``$projections-<name>-partitions`` and the streams it tracks in ``-emittedstreams``.
Transient projections were never written down, so they do not come back.
"""

from __future__ import annotations

import json
from typing import Any

from esdb_wire.server.projections import names, standard
from esdb_wire.server.projections.managed import ManagedProjection, Mode, Persisted
from esdb_wire.server.projections.source import SourceDefinition
from esdb_wire.server.records import Record, StreamDeletedError
from esdb_wire.server.store import EventStore

_ALL = 2**31


def _records(store: EventStore, stream: str) -> list[Record]:
    try:
        found = store.read_stream(stream, 0, _ALL)
    except StreamDeletedError:
        return []
    return [] if found is None else found.records


def _texts(store: EventStore, stream: str, event_type: str) -> set[str]:
    return {
        record.data.decode("utf-8", errors="replace")
        for record in _records(store, stream)
        if record.event_type == event_type
    }


def persisted_from_json(value: Any, native: str | None) -> Persisted | None:
    """A definition as :meth:`Persisted.to_json` wrote it; None if it is not one."""
    if not isinstance(value, dict):
        return None
    try:
        mode = Mode[str(value["mode"])]
        run_as = value.get("runAs")
        run_as_name = run_as.get("name") if isinstance(run_as, dict) else None
        roles = run_as.get("roles") if isinstance(run_as, dict) else None
        return Persisted(
            handler_type=str(value["handlerType"]),
            query=str(value.get("query") or ""),
            mode=mode,
            enabled=bool(value["enabled"]),
            emit_enabled=bool(value.get("emitEnabled", False)),
            track_emitted_streams=bool(value.get("trackEmittedStreams", False)),
            checkpoints_disabled=bool(value.get("checkpointsDisabled", False)),
            run_as=None if run_as_name is None else str(run_as_name),
            run_as_roles=tuple(str(role) for role in roles or ()),
            epoch=int(value.get("epoch", -1)),
            version=int(value.get("version", -1)),
            engine_version=int(value.get("engineVersion", 1)),
            deleting=bool(value.get("deleting", False)),
            source=SourceDefinition.native() if native is not None else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def load_registered(store: EventStore) -> list[ManagedProjection]:
    """Every projection registered in ``store`` and not deleted, in registration order,
    as last persisted (not prepared, no core)."""
    registered: dict[str, int] = {}
    for record in _records(store, names.REGISTRATION_STREAM):
        name = record.data.decode("utf-8", errors="replace")
        if record.event_type == names.PROJECTION_CREATED:
            registered[name] = record.revision
        elif record.event_type == names.PROJECTION_DELETED:
            registered.pop(name, None)
    loaded: list[ManagedProjection] = []
    for name, projection_id in registered.items():
        updates = [
            record
            for record in _records(store, names.PREFIX + name)
            if record.event_type == names.PROJECTION_UPDATED
        ]
        if not updates:
            continue
        native = name if name in standard.HANDLER_TYPES else None
        try:
            document = json.loads(updates[-1].data)
        except ValueError:
            continue
        persisted = persisted_from_json(document, native)
        if persisted is None or persisted.deleting or persisted.mode == Mode.Transient:
            continue
        projection = names.ProjectionNames(name)
        managed = ManagedProjection(name, projection_id, persisted, native=native)
        managed.partitions = _texts(store, projection.partitions, names.PARTITION_EVENT)
        managed.tracked_streams = _texts(store, projection.emitted_streams, names.STREAM_TRACKED)
        loaded.append(managed)
    return loaded
