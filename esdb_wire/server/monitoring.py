"""``event_store.client.monitoring.Monitoring``: a stream of node statistics.

``Stats`` sends a fresh set every ``refresh_time_period_in_ms`` until the call ends, as
the server does (``Monitoring.cs``), with the server's key names where they have a
meaning here (``SystemStatsHelper``): ``proc-startTime``, ``proc-id``, ``proc-mem``
(resident bytes), ``proc-cpu`` (percent of one core since the last set),
``proc-threadsCount``, ``proc-tcp-connections``, ``sys-cpu``, ``sys-loadavg-1m/5m/15m``,
``sys-freeMem``, ``sys-totalMem``, ``es-checksum`` / ``es-checksumNonFlushed`` (the
writer checkpoint), and per gRPC service ``es-queue-<Service>-totalItemsProcessed``
(calls received). Values are strings; numbers print as .NET prints them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from esdb_wire.protos import monitoring_pb2
from esdb_wire.server.rpc import CallContext, Method
from esdb_wire.server.store import EventStore

_MIN_PERIOD = 0.1


def count_calls(methods: Mapping[str, Method], counter: Counter[str]) -> dict[str, Method]:
    """``methods`` with each call counted in ``counter`` under its service's short name."""

    def counted(method: Method) -> Method:
        service = method.path[1:].rpartition("/")[0].rpartition(".")[2]
        handler = method.handler

        def call(argument: Any, context: CallContext) -> Any:
            counter[service] += 1
            return handler(argument, context)

        return dataclasses.replace(method, handler=call)

    return {path: counted(method) for path, method in methods.items()}


def _memory() -> tuple[int | None, int | None, int | None]:
    """(resident bytes of this process, free and total system memory), where known."""
    resident = free = total = None
    try:
        with open("/proc/self/statm") as statm:
            resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        with open("/proc/meminfo") as meminfo:
            values = {
                line.split(":")[0]: int(line.split()[1]) * 1024 for line in meminfo if ":" in line
            }
        free, total = values.get("MemAvailable"), values.get("MemTotal")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    if resident is None:
        try:
            import resource  # noqa: PLC0415

            resident = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        except (ImportError, OSError):
            resident = None
    return resident, free, total


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(value, 4))


class MonitoringService:
    """The Monitoring rpc."""

    def __init__(
        self,
        store: EventStore,
        *,
        connections: Callable[[], int] = lambda: 0,
        calls: Counter[str] | None = None,
    ) -> None:
        self.store = store
        self._connections = connections
        self.calls = calls if calls is not None else Counter()
        self._started = datetime.datetime.now(datetime.timezone.utc)
        self._cpu_mark = (time.monotonic(), time.process_time())

    def stats(self) -> dict[str, str]:
        """One fresh set of statistics."""
        now, cpu = time.monotonic(), time.process_time()
        last_now, last_cpu = self._cpu_mark
        self._cpu_mark = (now, cpu)
        elapsed = now - last_now
        proc_cpu = 100.0 * (cpu - last_cpu) / elapsed if elapsed > 0 else 0.0
        resident, free, total = _memory()
        stats: dict[str, str] = {
            "proc-startTime": self._started.isoformat().replace("+00:00", "Z"),
            "proc-id": str(os.getpid()),
            "proc-cpu": _number(proc_cpu),
            "proc-threadsCount": str(threading.active_count()),
            "proc-tcp-connections": str(self._connections()),
            "es-checksum": str(self.store.log_end),
            "es-checksumNonFlushed": str(self.store.log_end),
        }
        if resident is not None:
            stats["proc-mem"] = str(resident)
        if free is not None:
            stats["sys-freeMem"] = str(free)
        if total is not None:
            stats["sys-totalMem"] = str(total)
        try:
            one, five, fifteen = os.getloadavg()
        except (OSError, AttributeError):
            pass
        else:
            stats["sys-loadavg-1m"] = _number(one)
            stats["sys-loadavg-5m"] = _number(five)
            stats["sys-loadavg-15m"] = _number(fifteen)
            cores = os.cpu_count() or 1
            stats["sys-cpu"] = _number(min(100.0, 100.0 * one / cores))
        for service, count in sorted(self.calls.items()):
            stats[f"es-queue-{service}-totalItemsProcessed"] = str(count)
        return stats

    async def Stats(
        self, request: monitoring_pb2.StatsReq, context: CallContext
    ) -> AsyncIterator[monitoring_pb2.StatsResp]:
        period = max(_MIN_PERIOD, request.refresh_time_period_in_ms / 1000)
        while True:
            yield monitoring_pb2.StatsResp(stats=self.stats())
            await asyncio.sleep(period)
