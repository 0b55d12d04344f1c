"""``event_store.client.operations.Operations``: scavenge, shutdown and node admin.

* **StartScavenge** drops from the log what no read can return any more
  (:meth:`~esdb_wire.server.store.EventStore.scavenge`) and reports as the server's
  scavenger log does (``TFChunkScavengerLog``): ``$scavenges-<id>`` gets its metadata
  (``$maxAge`` 30 days, ``$r`` for ``$ops``), ``$scavengeStarted`` and
  ``$scavengeCompleted`` (``result`` ``Success``, ``timeTaken``, ``spaceSaved``), each
  linked from ``$scavenges``. The reply is ``Started`` with the new id, or
  ``InProgress`` with the running one's. **StopScavenge** of the running scavenge is
  ``Stopped``; of any other id NOT_FOUND ``Scavenge id was invalid.`` with
  ``exception: scavenge-not-found`` and ``scavenge-id``.
* **Shutdown** stops the server gracefully after replying (GOAWAY, open calls drained),
  through the embedded server's own stop path.
* **ResignNode** makes a cluster node's leader step down (an election follows; a single
  node stays leader); **SetNodePriority** sets the priority elections prefer;
  **MergeIndexes** is accepted; **RestartPersistentSubscriptions** restarts the persistent
  subscriptions subsystem.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Final

from esdb_wire.protos import operations_pb2, shared_pb2
from esdb_wire.server import errors
from esdb_wire.server.records import ANY, ProposedEvent
from esdb_wire.server.rpc import CallContext
from esdb_wire.server.store import EventStore
from esdb_wire.transport.status import StatusCode, StatusError

log = logging.getLogger("esdb_wire.server.operations")

SCAVENGES_STREAM: Final = "$scavenges"
SCAVENGE_STARTED: Final = "$scavengeStarted"
SCAVENGE_COMPLETED: Final = "$scavengeCompleted"
SCAVENGE_HISTORY_MAX_AGE: Final = 30 * 24 * 3600
ScavengeResp = operations_pb2.ScavengeResp
_EMPTY = shared_pb2.Empty()


def _time_span(seconds: float) -> str:
    """A .NET ``TimeSpan`` as JSON shows it: ``hh:mm:ss.fffffff``."""
    ticks = round(seconds * 10_000_000)
    whole, fraction = divmod(ticks, 10_000_000)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{fraction:07d}"


class Scavenger:
    """Runs scavenges on a store and logs them in ``$scavenges``."""

    def __init__(self, store: EventStore, node_endpoint: Callable[[], str]) -> None:
        self.store = store
        self._endpoint = node_endpoint
        self.current: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_result: tuple[int, int] | None = None

    def start(self, start_from_chunk: int = 0, threads: int = 1) -> tuple[str, int]:
        """(scavenge id, ``ScavengeResult``): a new scavenge, or the running one."""
        if self.current is not None:
            return self.current, ScavengeResp.InProgress
        scavenge_id = str(uuid.uuid4())
        self.current = scavenge_id
        self._task = asyncio.get_running_loop().create_task(
            self._run(scavenge_id, start_from_chunk, threads)
        )
        return scavenge_id, ScavengeResp.Started

    def stop(self, scavenge_id: str) -> tuple[str, int]:
        if self.current is None or scavenge_id != self.current:
            raise StatusError(
                StatusCode.NOT_FOUND,
                "Scavenge id was invalid.",
                trailing_metadata=(
                    (errors.EXCEPTION, "scavenge-not-found"),
                    ("scavenge-id", scavenge_id),
                ),
            )
        if self._task is not None:
            self._task.cancel()
        return scavenge_id, ScavengeResp.Stopped

    async def _run(self, scavenge_id: str, start_from_chunk: int, threads: int) -> None:
        stream = f"{SCAVENGES_STREAM}-{scavenge_id}"
        endpoint = self._endpoint()
        metadata = {"$maxAge": SCAVENGE_HISTORY_MAX_AGE, "$acl": {"$r": "$ops"}}
        self._write("$$" + stream, "$metadata", metadata, link=False)
        self._write(
            stream,
            SCAVENGE_STARTED,
            {
                "scavengeId": scavenge_id,
                "nodeEndpoint": endpoint,
                "alwaysKeepScavenged": True,
                "mergeChunks": False,
                "startFromChunk": start_from_chunk,
                "threads": threads,
            },
        )
        started = time.monotonic()
        result, error, saved = "Success", None, 0
        try:
            await asyncio.sleep(0)  # the reply goes out first
            dropped, saved = self.store.scavenge()
            self.last_result = (dropped, saved)
            log.info("scavenge %s dropped %d records (%d bytes)", scavenge_id, dropped, saved)
        except asyncio.CancelledError:
            result = "Stopped"
        finally:
            self.current = None
            self._write(
                stream,
                SCAVENGE_COMPLETED,
                {
                    "scavengeId": scavenge_id,
                    "nodeEndpoint": endpoint,
                    "result": result,
                    "error": error,
                    "timeTaken": _time_span(time.monotonic() - started),
                    "spaceSaved": saved,
                    "maxChunkScavenged": 0,
                },
            )

    def _write(self, stream: str, event_type: str, data: object, *, link: bool = True) -> None:
        event = ProposedEvent(uuid.uuid4(), event_type, True, json.dumps(data).encode(), b"")
        result = self.store.append(stream, ANY, [event])
        revision = getattr(result, "current_revision", -1)
        if link and revision >= 0:
            target = ProposedEvent(uuid.uuid4(), "$>", False, f"{revision}@{stream}".encode(), b"")
            self.store.append(SCAVENGES_STREAM, ANY, [target])


class OperationsService:
    """The Operations rpcs."""

    def __init__(
        self,
        scavenger: Scavenger,
        *,
        shutdown: Callable[[], Awaitable[None]] | None = None,
        restart_persistent: Callable[[], Awaitable[object]] | None = None,
        resign: Callable[[], Awaitable[None]] | None = None,
        set_priority: Callable[[int], None] | None = None,
    ) -> None:
        """``shutdown`` stops the node; ``resign`` makes it step down if it leads a
        cluster; ``set_priority`` gives elections its priority."""
        self.scavenger = scavenger
        self._shutdown = shutdown
        self._restart_persistent = restart_persistent
        self._resign = resign
        self._set_priority = set_priority
        self.node_priority = 0
        self._shutting_down: asyncio.Task[None] | None = None

    async def StartScavenge(
        self, request: operations_pb2.StartScavengeReq, context: CallContext
    ) -> ScavengeResp:
        options = request.options
        scavenge_id, result = self.scavenger.start(options.start_from_chunk, options.thread_count)
        return ScavengeResp(scavenge_id=scavenge_id, scavenge_result=result)  # type: ignore[arg-type]

    async def StopScavenge(
        self, request: operations_pb2.StopScavengeReq, context: CallContext
    ) -> ScavengeResp:
        scavenge_id, result = self.scavenger.stop(request.options.scavenge_id)
        return ScavengeResp(scavenge_id=scavenge_id, scavenge_result=result)  # type: ignore[arg-type]

    async def Shutdown(self, request: shared_pb2.Empty, context: CallContext) -> shared_pb2.Empty:
        log.info("shutdown requested by %s", context.peer)
        if self._shutdown is not None and self._shutting_down is None:
            shutdown = self._shutdown

            async def later() -> None:
                await asyncio.sleep(0.05)  # let this reply go out first
                await shutdown()

            self._shutting_down = asyncio.get_running_loop().create_task(later())
        return _EMPTY

    async def MergeIndexes(
        self, request: shared_pb2.Empty, context: CallContext
    ) -> shared_pb2.Empty:
        log.info("merge indexes requested (nothing to merge in memory)")
        return _EMPTY

    async def ResignNode(self, request: shared_pb2.Empty, context: CallContext) -> shared_pb2.Empty:
        if self._resign is None:
            log.info("resign node requested: a single node stays leader")
        else:
            log.info("resign node requested by %s", context.peer)
            await self._resign()
        return _EMPTY

    async def SetNodePriority(
        self, request: operations_pb2.SetNodePriorityReq, context: CallContext
    ) -> shared_pb2.Empty:
        self.node_priority = request.priority
        if self._set_priority is not None:
            self._set_priority(request.priority)
        log.info("node priority set to %d", request.priority)
        return _EMPTY

    async def RestartPersistentSubscriptions(
        self, request: shared_pb2.Empty, context: CallContext
    ) -> shared_pb2.Empty:
        if self._restart_persistent is not None:
            # InvalidPersistentSubscriptionsRestart is answered OK too.
            with contextlib.suppress(StatusError):
                await self._restart_persistent()
        return _EMPTY
