"""What a projection writes: emitted events, results, partitions and checkpoints.

Every write happens on the server's event loop after the events that caused it are in
the log (never inside the triggering append). Emitted events carry, as on a node, the
checkpoint tag of their cause, the handler's extra metadata, ``$causedBy`` and
``$correlationId`` (``EmittedStream``)::

    {"$v":"6:-1:2:4","$s":{"account-1":0},"$causedBy":"<uuid>"}

Before the first write to a stream it has not written to, a projection writes that
stream's metadata: ``{"$acl":{"$r":"$all","$mr":"$all"}}`` for a system stream,
``{"$acl":{}}`` otherwise (``EmittedStream.SubmitWriteMetadata``); partition checkpoint
streams also get ``$maxCount`` 2.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from esdb_wire.server.projections import names
from esdb_wire.server.records import (
    ANY,
    METADATA_EVENT_TYPE,
    ProposedEvent,
    StreamDeletedError,
    metastream_of,
)
from esdb_wire.server.store import EventStore

_SYSTEM_ACL = '"$acl":{"$r":"$all","$mr":"$all"}'
# CoreProjectionCheckpointWriter.CreateStreamMetadataEvent.
_CHECKPOINT_ACL = (
    '"$acl":{"$r":"$admins","$w":"$admins","$d":"$admins","$mr":"$all","$mw":"$admins"}'
)


class OutputRefused(Exception):
    """A write the projection cannot make (e.g. to a deleted stream): it faults."""


def tag_metadata(version: str, tag: dict[str, Any], extra: Iterable[tuple[str, str]] = ()) -> bytes:
    """``{"$v":..., <tag>, <extra raw JSON values>}`` as bytes."""
    parts = [f'"$v":"{version}"']
    parts.extend(f"{json.dumps(key)}:{json.dumps(value)}" for key, value in tag.items())
    parts.extend(f"{json.dumps(key)}:{raw}" for key, raw in extra)
    return ("{" + ",".join(parts) + "}").encode()


@dataclass
class OutputWriter:
    """Batches a projection's writes per stream and appends them in order of first use."""

    store: EventStore
    projection: names.ProjectionNames
    version: str
    projection_id: int = 0
    epoch: int = -1
    track_emitted: bool = False
    known: set[str] = field(default_factory=set)
    tracked: set[str] = field(default_factory=set)
    _pending: dict[str, list[ProposedEvent]] = field(default_factory=dict)
    written: int = 0

    def add(
        self,
        stream: str,
        event_type: str,
        data: bytes,
        is_json: bool,
        metadata: bytes,
    ) -> None:
        self._pending.setdefault(stream, []).append(
            ProposedEvent(uuid.uuid4(), event_type, is_json, data, metadata)
        )

    def emitted(
        self,
        entry: dict[str, Any],
        tag: dict[str, Any],
        caused_by: uuid.UUID | None,
        correlation_id: str | None,
    ) -> None:
        """An event of ``emit``/``linkTo``/``linkStreamTo`` (prelude format)."""
        extra: list[tuple[str, str]] = []
        found_correlation = False
        for key, raw in (entry.get("m") or {}).items():
            if key == "$causedBy":
                continue
            found_correlation = found_correlation or key == "$correlationId"
            extra.append((key, raw))
        if caused_by is not None:
            extra.append(("$causedBy", json.dumps(str(caused_by))))
        if correlation_id is not None and not found_correlation:
            extra.append(("$correlationId", json.dumps(correlation_id)))
        stream = entry["s"]
        if self.track_emitted and stream not in self.tracked:
            self.tracked.add(stream)
            self.add(
                self.projection.emitted_streams, names.STREAM_TRACKED, stream.encode(), False, b""
            )
        metadata = tag_metadata(self.version, tag, extra)
        self.add(stream, entry["t"], entry["d"].encode(), bool(entry["j"]), metadata)

    def result(
        self,
        partition: str,
        result: str | None,
        tag: dict[str, Any],
        caused_by: uuid.UUID | None,
        correlation_id: str | None,
    ) -> None:
        """A ``Result`` (``ResultRemoved`` when None) in the partition's result stream,
        plus a link in the projection's result stream for a partition."""
        extra: list[tuple[str, str]] = []
        if caused_by is not None:
            extra.append(("$causedBy", json.dumps(str(caused_by))))
        if correlation_id is not None:
            extra.append(("$correlationId", json.dumps(correlation_id)))
        metadata = tag_metadata(self.version, tag, extra)
        stream = self.projection.partition_result(partition)
        if result is None:
            self.add(stream, names.RESULT_REMOVED, b"", True, metadata)
        else:
            self.add(stream, names.RESULT, result.encode(), True, metadata)
        if partition:
            revision = self.store.last_revision(stream) + len(self._pending[stream])
            self.add(
                self.projection.result,
                "$>",
                f"{revision}@{stream}".encode(),
                False,
                tag_metadata(self.version, tag),
            )

    def partition_created(self, partition: str, tag: dict[str, Any]) -> None:
        self.add(
            self.projection.partitions,
            names.PARTITION_EVENT,
            partition.encode(),
            False,
            tag_metadata(self.version, tag),
        )

    def flush(self) -> None:
        """Append everything pending. Raises :class:`OutputRefused` when the projection
        may not write a stream (deleted, written from outside, another projection's)."""
        pending, self._pending = self._pending, {}
        store = self.store
        for stream, events in pending.items():
            try:
                if stream not in self.known:
                    self._open(stream)
                    self.known.add(stream)
                store.append(stream, ANY, events)
            except StreamDeletedError:
                raise OutputRefused(
                    f"Stream : {stream} is deleted. Cannot emit events to it"
                ) from None
            self.written += len(events)

    def _open(self, stream: str) -> None:
        """First write of this run to ``stream`` (``EmittedStream`` start): a new stream
        gets its metadata; one of an earlier epoch is truncated (``$tb``) and starts
        again; one written by someone else is refused."""
        store = self.store
        last = store.last_revision(stream)
        if last < 0:
            self._write_metadata(stream, None)
            return
        found = store.read_stream(stream, None, 1, backwards=True)
        record = found.records[0] if found is not None and found.records else None
        if record is None:
            self._write_metadata(stream, last + 1)
            return
        version = _tag_version(record.custom_metadata)
        if version is None:
            raise OutputRefused(
                f"The '{stream}' stream managed by projection {self.projection_id} has been "
                "written to from the outside."
            )
        if version[0] != self.projection_id:
            raise OutputRefused(
                "Multiple projections emitting to the same stream detected.  Stream: "
                f"'{stream}'. Last event projection: '{version[0]}'.  Emitting projection: "
                f"'{self.projection_id}'"
            )
        if self.epoch > version[2]:
            self._write_metadata(stream, last + 1)

    def _write_metadata(self, stream: str, truncate_before: int | None) -> None:
        body = _SYSTEM_ACL if stream.startswith("$") else '"$acl":{}'
        if stream == self.projection.checkpoint:
            body = '"$maxCount":2,' + _CHECKPOINT_ACL
        elif stream.startswith(names.PREFIX) and stream.endswith("-checkpoint"):
            body = '"$maxCount":2,' + body
        if truncate_before is not None:
            body = f'"$tb":{truncate_before},' + body
        event = ProposedEvent(uuid.uuid4(), METADATA_EVENT_TYPE, True, f"{{{body}}}".encode(), b"")
        self.store.append(metastream_of(stream), ANY, [event])


def _tag_version(metadata: bytes) -> tuple[int, int, int] | None:
    """(projection id, epoch, version) of an emitted event's ``$v``, None if it has none."""
    try:
        parsed = json.loads(metadata)
        first, second, third = (int(part) for part in parsed["$v"].split(":")[:3])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return first, second, third


def partition_state_text(state: str | None, result: str | None) -> bytes:
    """A checkpoint's data (``PartitionState.Serialize``): ``[state]`` or ``[state,result]``."""
    if state is None:
        return b"[]"
    return (f"[{state},{result}]" if result is not None else f"[{state}]").encode()


def parse_partition_state(data: bytes) -> tuple[str | None, str | None]:
    """(state, result) JSON texts of a checkpoint's data."""
    try:
        value = json.loads(data) if data else None
    except ValueError:
        return None, None
    if isinstance(value, list):
        state = json.dumps(value[0], separators=(",", ":")) if value else None
        result = json.dumps(value[1], separators=(",", ":")) if len(value) > 1 else None
        return state, result
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":")), None
    return None, None


def write_checkpoint(
    store: EventStore,
    projection: names.ProjectionNames,
    version: str,
    tag: dict[str, Any],
    root: tuple[str | None, str | None] | None,
    partitions: dict[str, tuple[str | None, str | None]],
    known: set[str],
    projection_id: int,
    epoch: int,
) -> None:
    """A ``$ProjectionCheckpoint`` (root state) and a ``$Checkpoint`` per changed partition."""
    writer = OutputWriter(
        store, projection, version, projection_id=projection_id, epoch=epoch, known=known
    )
    for partition, (state, result) in partitions.items():
        writer.add(
            projection.partition_checkpoint(partition),
            names.PARTITION_CHECKPOINT,
            partition_state_text(state, result),
            True,
            tag_metadata(version, tag),
        )
    data = b"" if root is None or root[0] is None else partition_state_text(*root)
    writer.add(
        projection.checkpoint, names.PROJECTION_CHECKPOINT, data, True, tag_metadata(version, tag)
    )
    writer.flush()
