"""One projection at work (the server's ``CoreProjection``): read the source, run the
handlers, write what they cause, checkpoint, report statistics.

A core runs as a task on the server's event loop. It follows the log like a catch-up
subscription, and when caught up it waits for new records plus a short processing lag
(``lag``, 50 ms by default), as a node's projections trail its writes: an append's
reply and a read of ``$all`` right after it see the append's own events last.
JavaScript handlers run on the engine's worker thread (:func:`~.jsruntime.js_executor`),
so a slow query never blocks the loop; its batches are bounded by time and memory and a
breach faults the projection. The standard projections are native and run on the loop;
:meth:`CoreProjection.catch_up` lets a read of their output streams see every event
committed before it.

Continuous projections checkpoint every 4,000 handled events and when stopped with
``write_checkpoint`` (``$projections-<name>-checkpoint``); a core that starts loads the
last checkpoint of its epoch, or starts from the beginning. One-time and transient ones
stop at the end of the log and write their results (``Result`` per partition, then
``$Eof``) to the result stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from esdb_wire.server.projections import names, standard
from esdb_wire.server.projections.jsruntime import JsProjection, ScriptFault, js_executor
from esdb_wire.server.projections.output import (
    OutputRefused,
    OutputWriter,
    parse_partition_state,
    tag_metadata,
    write_checkpoint,
)
from esdb_wire.server.projections.recovery import EmittedRecovery
from esdb_wire.server.projections.source import (
    SourceDefinition,
    SourceEvent,
    SourceReader,
    tag_text,
)
from esdb_wire.server.records import ProposedEvent, Record, StreamDeletedError
from esdb_wire.server.store import EventStore

log = logging.getLogger("esdb_wire.server.projections")

BATCH = 500
CHECKPOINT_HANDLED_THRESHOLD = 4000
DEFAULT_LAG = 0.05
EMIT_NOT_ALLOWED = "'emit' is not allowed by the projection/configuration/mode"

States = dict[str, tuple[Optional[str], Optional[str]]]


@dataclass(frozen=True)
class CoreConfig:
    """What a core is built from (the managed projection's persisted state)."""

    name: str
    projection_id: int
    epoch: int
    version: int
    definition: SourceDefinition
    emit_enabled: bool
    track_emitted: bool
    checkpoints: bool
    stop_on_eof: bool
    native: str | None = None  # a standard projection's name
    query: str = ""

    @property
    def version_text(self) -> str:
        return names.version_text(self.projection_id, self.epoch, self.version)

    @property
    def names(self) -> names.ProjectionNames:
        definition = self.definition
        return names.ProjectionNames(
            self.name, definition.result_stream_name, definition.partition_result_pattern
        )

    @property
    def running_results(self) -> bool:
        if self.stop_on_eof:
            return not self.definition.defines_fold
        return self.definition.produces_results


class CoreProjection:
    """A projection's processing, started running or loaded stopped."""

    def __init__(
        self,
        config: CoreConfig,
        store: EventStore,
        *,
        partitions: set[str],
        tracked_streams: set[str],
        on_end: Callable[[CoreProjection, str, str | None], None],
        lag: float = DEFAULT_LAG,
    ) -> None:
        """``partitions`` and ``tracked_streams`` (emitted streams already tracked)
        outlive the core (the managed projection keeps them); ``on_end(core, how,
        reason)`` is told "stopped", "completed" or
        "faulted" when the run ends by itself or by :meth:`stop`."""
        self.config = config
        self.store = store
        self.partitions = partitions
        self.known_streams: set[str] = set()
        self._on_end = on_end
        self._lag = lag
        self.reader = SourceReader(store, config.definition)
        self.status = "Initial"
        self.fault_reason: str | None = None
        self.events_processed = 0
        self.processing_time = 0.0
        self.last_checkpoint: dict[str, Any] | None = None
        self._since_checkpoint = 0
        self._handler: JsProjection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._write_checkpoint_on_stop = True
        self._stopped_states: States = {}
        self._writer = OutputWriter(
            store,
            config.names,
            config.version_text,
            projection_id=config.projection_id,
            epoch=config.epoch,
            track_emitted=config.track_emitted,
            tracked=tracked_streams,
        )
        self._native = None if config.native is None else standard.HANDLERS[config.native]
        # What an earlier run emitted after its last checkpoint (it stopped without one:
        # a killed server) is not emitted again; only records already in the log when
        # this core started can have caused such events.
        self._recovery = EmittedRecovery(store, config.projection_id, config.epoch)
        self._recover_until = store.last_position

    # ---- lifecycle ------------------------------------------------------------------

    async def start(self, *, run: bool) -> None:
        """Load the last checkpoint, then run (``run``) or stay loaded and stopped."""
        tag, states = self._load_checkpoint()
        if tag is not None:
            self.reader.start_at(tag)
            self.last_checkpoint = tag
        if not run:
            self._stopped_states = states
            self.status = "Stopped"
            return
        if self._native is None:
            loop = asyncio.get_running_loop()
            try:
                handler = await loop.run_in_executor(js_executor(), JsProjection, self.config.query)
                self._handler = handler
                await loop.run_in_executor(js_executor(), handler.load, states)
            except ScriptFault as fault:
                self._fault(str(fault))
                return
        self.status = "Running"
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, *, write_checkpoint: bool = True) -> None:
        """Stop (after the batch in hand), checkpointing first if ``write_checkpoint``."""
        self._write_checkpoint_on_stop = write_checkpoint
        self._stop.set()
        task = self._task
        if task is not None and not task.done():
            self.status = "Stopping"
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def dispose(self) -> None:
        """Free the JavaScript context (a core is not reused)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
        handler, self._handler = self._handler, None
        if handler is not None:
            js_executor().submit(handler.close)

    # ---- the run --------------------------------------------------------------------

    async def _run(self) -> None:
        how, reason = "stopped", None
        try:
            while not self._stop.is_set():
                if self.catch_up_once():
                    await asyncio.sleep(0)
                    continue
                if self._native is None:
                    events = self.reader.read(BATCH)
                    if events:
                        await self._process_js(events)
                        continue
                if not self.reader.caught_up:
                    await asyncio.sleep(0)
                    continue
                if self.config.stop_on_eof:
                    await self._complete()
                    how = "completed"
                    break
                await self._wait()
            else:
                if self._write_checkpoint_on_stop and self.config.checkpoints:
                    await self._checkpoint()
                self.status = "Stopped"
        except (ScriptFault, OutputRefused) as fault:
            how, reason = "faulted", str(fault)
            self._fault(reason)
        except Exception as exc:  # pragma: no cover - a bug: fault rather than vanish
            log.exception("projection %s failed", self.config.name)
            how, reason = "faulted", f"{exc}"
            self._fault(reason)
        finally:
            handler, self._handler = self._handler, None
            if handler is not None:
                js_executor().submit(handler.close)
        self._on_end(self, how, reason)

    async def _wait(self) -> None:
        store = self.store
        more = asyncio.ensure_future(store.wait_for_records_after(self.reader.after))
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({more, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            more.cancel()
            stop.cancel()
        if not self._stop.is_set() and self._lag > 0:
            await asyncio.sleep(self._lag)

    def catch_up_once(self, limit: int = 2000) -> bool:
        """Native cores: process up to ``limit`` log records now. True if any were read."""
        native = self._native
        if native is None or self.status != "Running":
            return False
        records = self.store.records_after(self.reader.after, limit)
        if not records:
            return False
        started = time.perf_counter()
        name = self.config.name
        version = self.config.version_text
        pending: dict[str, list[ProposedEvent]] = {}
        handled = 0
        recover_until = self._recover_until
        already_emitted = self._recovery.already_emitted
        for record in records:
            position = record.position
            self.reader.after = position
            if standard.native_source(record, name):
                handled += 1
                for stream, event in native(record, version):
                    if position <= recover_until and already_emitted(stream, {"$c": position}):
                        continue
                    pending.setdefault(stream, []).append(event)
        self.reader.tag = {"$c": records[-1].position, "$p": records[-1].position}
        standard.append_emitted(self.store, pending, self.known_streams)
        self.events_processed += handled
        self._since_checkpoint += handled
        self.processing_time += time.perf_counter() - started
        if self.config.checkpoints and self._since_checkpoint >= CHECKPOINT_HANDLED_THRESHOLD:
            self._checkpoint_now(None, {})
        return True

    def catch_up(self) -> None:
        """Native cores: process everything committed so far (a read barrier)."""
        while self.catch_up_once(10_000):
            pass

    async def _process_js(self, events: list[SourceEvent]) -> None:
        handler = self._handler
        assert handler is not None
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        batch = await loop.run_in_executor(
            js_executor(), handler.process, [event.item for event in events]
        )
        self.processing_time += time.perf_counter() - started
        self._apply(events, batch.outputs)
        self.events_processed += batch.processed
        self._since_checkpoint += batch.processed
        if batch.fault is not None:
            raise ScriptFault(batch.fault)
        if self.config.checkpoints and self._since_checkpoint >= CHECKPOINT_HANDLED_THRESHOLD:
            await self._checkpoint()

    def _apply(self, events: list[SourceEvent], outputs: list[Any]) -> None:
        config = self.config
        writer = self._writer
        running_results = config.running_results
        for output in outputs:
            event = events[output.index]
            if output.partition is None:
                continue
            if output.partition:
                self.partitions.add(output.partition)
            caused_by = event.record.event_id
            correlation = event.correlation_id
            if output.emitted:
                if not config.emit_enabled:
                    writer.flush()
                    raise ScriptFault(EMIT_NOT_ALLOWED)
                recovering = (event.link or event.record).position <= self._recover_until
                for entry in output.emitted:
                    if recovering and self._recovery.already_emitted(entry["s"], event.tag):
                        continue
                    writer.emitted(entry, event.tag, caused_by, correlation)
            if running_results and output.partition_created and output.partition:
                writer.partition_created(output.partition, event.tag)
            if running_results and output.result_changed:
                writer.result(output.partition, output.result, event.tag, caused_by, correlation)
        writer.flush()

    async def _complete(self) -> None:
        """End of a one-time/transient run: the results, then ``$Eof``."""
        states: States = {}
        if self._handler is not None:
            loop = asyncio.get_running_loop()
            states = await loop.run_in_executor(js_executor(), self._handler.snapshot, True)
        self._stopped_states = states
        tag = {"$ph": 1, "$cp": True}
        writer = self._writer
        stream = writer.projection.result
        if self.config.definition.defines_fold:
            for _, result in states.values():
                if result is not None:
                    writer.add(
                        stream,
                        names.RESULT,
                        result.encode(),
                        True,
                        tag_metadata(writer.version, tag),
                    )
        writer.add(stream, names.EOF_EVENT, b"", True, tag_metadata(writer.version, tag))
        writer.flush()
        self.status = "Stopped/Writing results"

    # ---- checkpoints ----------------------------------------------------------------

    async def _checkpoint(self) -> None:
        root = None
        partitions: States = {}
        if self._handler is not None:
            loop = asyncio.get_running_loop()
            snapshot = await loop.run_in_executor(js_executor(), self._handler.snapshot, False)
            root = snapshot.pop("", None)
            partitions = snapshot
            if root is None and not self.config.definition.partitioned:
                state = await loop.run_in_executor(js_executor(), self._handler.state, "")
                result = await loop.run_in_executor(js_executor(), self._handler.result, "")
                root = (state, result)
        self._checkpoint_now(root, partitions)

    def _checkpoint_now(
        self, root: tuple[str | None, str | None] | None, partitions: States
    ) -> None:
        tag = dict(self.reader.tag)
        try:
            write_checkpoint(
                self.store,
                self.config.names,
                self.config.version_text,
                tag,
                root,
                partitions,
                self._writer.known,
                self.config.projection_id,
                self.config.epoch,
            )
        except OutputRefused:
            return  # the checkpoint stream was deleted from outside: no checkpoint
        self.last_checkpoint = tag
        self._since_checkpoint = 0

    def _load_checkpoint(self) -> tuple[dict[str, Any] | None, States]:
        """The last checkpoint of this epoch: its tag and the partition states."""
        config = self.config
        if not config.checkpoints:
            return None, {}
        record = self._last_event(config.names.checkpoint)
        if record is None or record.event_type != names.PROJECTION_CHECKPOINT:
            return None, {}
        tag = self._own_tag(record)
        if tag is None:
            return None, {}
        states: States = {}
        if record.data:
            states[""] = parse_partition_state(record.data)
        for partition in sorted(self.partitions):
            found = self._last_event(config.names.partition_checkpoint(partition))
            if found is not None and self._own_tag(found) is not None:
                states[partition] = parse_partition_state(found.data)
        return tag, states

    def _last_event(self, stream: str) -> Record | None:
        try:
            found = self.store.read_stream(stream, None, 1, backwards=True)
        except StreamDeletedError:
            return None
        return found.records[0] if found is not None and found.records else None

    def _own_tag(self, record: Record) -> dict[str, Any] | None:
        """The tag of a checkpoint written by this projection in this epoch, else None."""
        try:
            metadata = json.loads(record.custom_metadata)
            projection_id, _, version = (int(part) for part in metadata["$v"].split(":")[:3])
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        if projection_id != self.config.projection_id or self.config.epoch > version:
            return None
        return {key: value for key, value in metadata.items() if key != "$v"}

    # ---- queries --------------------------------------------------------------------

    async def state(self, partition: str) -> str | None:
        return await self._query(partition, result=False)

    async def result(self, partition: str) -> str | None:
        return await self._query(partition, result=True)

    async def _query(self, partition: str, *, result: bool) -> str | None:
        handler = self._handler
        if handler is not None and self.status == "Running":
            loop = asyncio.get_running_loop()
            method = handler.result if result else handler.state
            with contextlib.suppress(ScriptFault):
                return await loop.run_in_executor(js_executor(), method, partition)
        found = self._stopped_states.get(partition)
        if found is None:
            return None
        return found[1] if result else found[0]

    def _fault(self, reason: str) -> None:
        self.status = "Faulted"
        self.fault_reason = reason
        log.warning("projection %s faulted: %s", self.config.name, reason.splitlines()[0])

    def statistics(self) -> dict[str, Any]:
        """The core's part of ``ProjectionStatistics``."""
        config = self.config
        reader = self.reader
        return {
            "status": self.status,
            "position": tag_text(reader.tag),
            "progress": 100.0 if self.status.startswith("Stopped/") else reader.progress(),
            "lastCheckpoint": ""
            if self.last_checkpoint is None
            else tag_text(self.last_checkpoint),
            "eventsProcessedAfterRestart": self.events_processed,
            "partitionsCached": max(1, len(self.partitions)),
            "coreProcessingTime": int(self.processing_time * 1000),
            "epoch": config.epoch,
            "version": config.version,
        }
