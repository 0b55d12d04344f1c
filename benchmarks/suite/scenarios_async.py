"""The client scenarios for asyncio drivers (concurrency by tasks); see scenarios_sync."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Callable

from benchmarks.suite.config import Params
from benchmarks.suite.measure import (
    Clock,
    Sample,
    ServerCpu,
    event_index,
    peak_rss_reset,
    proc_status_kb,
    result,
)
from benchmarks.suite.protocols import AsyncClient, E, Recorded
from benchmarks.suite.scenarios_sync import (
    READ_ORDER,
    STEP_TIMEOUT,
    check_event,
    check_fields,
    expect_count,
    memory_result,
    read_fields,
    read_result,
)


async def append(client: AsyncClient[E], p: Params) -> dict[str, Any]:
    stream = f"bench-append-{p.run_id}"
    for event in client.make_events(p.append_warmup, p.payload):
        await client.append(stream, event)
    events = client.make_events(p.appends, p.payload)
    latencies: list[float] = []
    record = latencies.append
    perf = time.perf_counter
    do_append = client.append
    server = ServerCpu(p.server_pid)
    clock = Clock()
    for event in events:
        started = perf()
        await do_append(stream, event)
        record(perf() - started)
    sample = clock.sample(len(events))
    return result(sample, len(events), server.elapsed(), latencies=latencies)


async def _count(events: AsyncIterator[Recorded]) -> int:
    count = 0
    async for _ in events:
        count += 1
    return count


async def read(client: AsyncClient[E], p: Params) -> dict[str, Any]:
    """Scenario 2: see :func:`benchmarks.suite.scenarios_sync.read`."""
    await _count(await client.read(p.read_stream, limit=p.warmup_events))
    server = ServerCpu(p.server_pid)
    samples: dict[str, list[Sample]] = {"count": [], "fields": []}
    for consumer in READ_ORDER:
        clock = Clock()
        if consumer == "count":
            count = await _count(await client.read(p.read_stream))
        else:
            count, last = 0, None
            async for event in await client.read(p.read_stream):
                last = read_fields(event)
                count += 1
            check_fields(last, p.read_stream, count - 1)
        samples[consumer].append(clock.sample(count))
        expect_count(count, p.read_events)
    return read_result(samples, p.read_events, server.elapsed())


async def catchup(client: AsyncClient[E], p: Params) -> dict[str, Any]:
    await _take(client, p, min(p.warmup_events, p.read_events))
    server = ServerCpu(p.server_pid)
    clock = Clock()
    await _take(client, p, p.read_events)
    sample = clock.sample(p.read_events)
    return result(sample, p.read_events, server.elapsed())


async def _take(client: AsyncClient[E], p: Params, count: int) -> None:
    subscription = await client.subscribe(p.catchup_from)
    try:
        first = await subscription.__anext__()
        check_event(first, p.read_stream, 0)
        taken = 1
        if taken < count:
            async for event in subscription:
                taken += 1
                if taken == count:
                    check_event(event, p.read_stream, count - 1)
                    break
        expect_count(taken, count)
    finally:
        await client.unsubscribe(subscription)


async def live(client: AsyncClient[E], p: Params) -> dict[str, Any]:
    """A task iterates the subscription; the main coroutine appends and waits for it."""
    stream = f"bench-live-{p.run_id}"
    total = p.live_warmup + p.live_events
    events = client.make_events(total, p.payload)
    sent = [0.0] * total
    latencies = [0.0] * total
    delivered: asyncio.Queue[int] = asyncio.Queue()
    subscription = await client.subscribe(await client.commit_position())
    perf = time.perf_counter

    async def subscribe() -> None:
        try:
            async for event in subscription:
                received = perf()
                if event.stream_name != stream:
                    continue
                index = event_index(event.data)
                latencies[index] = received - sent[index]
                delivered.put_nowait(index)
                if index == total - 1:
                    return
        except BaseException:
            delivered.put_nowait(-1)
            raise

    task = asyncio.ensure_future(subscribe())
    try:
        clock = server = None
        for index, event in enumerate(events):
            if index == p.live_warmup:
                server = ServerCpu(p.server_pid)
                clock = Clock()
            sent[index] = perf()
            await client.append(stream, event)
            got = await asyncio.wait_for(delivered.get(), STEP_TIMEOUT)
            if got != index:
                raise RuntimeError(f"live: expected event {index}, the subscriber said {got}")
        assert clock is not None
        assert server is not None
        sample = clock.sample(p.live_events)
        server_cpu = server.elapsed()
        await asyncio.wait_for(task, STEP_TIMEOUT)
    finally:
        task.cancel()
        await client.unsubscribe(subscription)
    return result(sample, p.live_events, server_cpu, latencies=latencies[p.live_warmup :])


async def concurrent(client: AsyncClient[E], p: Params) -> dict[str, Any]:
    """``appenders`` tasks appending single events through one client."""
    workers = p.appenders
    per = p.appends_per_appender
    batches = [client.make_events(per + 1, p.payload) for _ in range(workers)]
    streams = [f"bench-concurrent-{p.run_id}-{number}" for number in range(workers)]
    latencies: list[float] = []
    record = latencies.append
    perf = time.perf_counter

    async def work(number: int) -> None:
        stream = streams[number]
        for event in batches[number][1:]:
            started = perf()
            await client.append(stream, event)
            record(perf() - started)

    await asyncio.gather(*(client.append(streams[n], batches[n][0]) for n in range(workers)))
    server = ServerCpu(p.server_pid)
    clock = Clock()
    await asyncio.wait_for(
        asyncio.gather(*(work(number) for number in range(workers))), STEP_TIMEOUT * per
    )
    sample = clock.sample(workers * per)
    return result(sample, workers * per, server.elapsed(), latencies=latencies)


async def memory(client: AsyncClient[E], p: Params) -> dict[str, Any]:
    await _count(await client.read(p.big_stream, limit=p.warmup_events))
    reset = peak_rss_reset()
    rss_before = proc_status_kb("VmRSS")
    server = ServerCpu(p.server_pid)
    clock = Clock()
    count = await _count(await client.read(p.big_stream))
    sample = clock.sample(count)
    expect_count(count, p.big_events)
    return memory_result(sample, count, server.elapsed(), rss_before, reset)


SCENARIOS: dict[str, Callable[[AsyncClient[Any], Params], Awaitable[dict[str, Any]]]] = {
    "append": append,
    "read": read,
    "catchup": catchup,
    "live": live,
    "concurrent": concurrent,
    "memory": memory,
}
