"""The client scenarios for blocking drivers (concurrency by threads)."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable

from benchmarks.suite.config import Params
from benchmarks.suite.measure import (
    Clock,
    Sample,
    ServerCpu,
    event_index,
    kib_to_mb,
    peak_rss_reset,
    proc_status_kb,
    result,
)
from benchmarks.suite.protocols import E, Recorded, SyncClient

STEP_TIMEOUT = 60.0  # one append or one delivery; a hang fails the run instead


def append(client: SyncClient[E], p: Params) -> dict[str, Any]:
    """Scenario 1: sequential single-event appends; per-append latency."""
    stream = f"bench-append-{p.run_id}"
    for event in client.make_events(p.append_warmup, p.payload):
        client.append(stream, event)
    events = client.make_events(p.appends, p.payload)
    latencies: list[float] = []
    record = latencies.append
    perf = time.perf_counter
    do_append = client.append
    server = ServerCpu(p.server_pid)
    clock = Clock()
    for event in events:
        started = perf()
        do_append(stream, event)
        record(perf() - started)
    sample = clock.sample(len(events))
    return result(sample, len(events), server.elapsed(), latencies=latencies)


def read(client: SyncClient[E], p: Params) -> dict[str, Any]:
    """Scenario 2: read the whole seeded stream."""
    for _ in client.read(p.read_stream, limit=p.warmup_events):
        pass
    server = ServerCpu(p.server_pid)
    clock = Clock()
    count = 0
    for _ in client.read(p.read_stream):
        count += 1
    sample = clock.sample(count)
    expect_count(count, p.read_events)
    return result(sample, count, server.elapsed())


def catchup(client: SyncClient[E], p: Params) -> dict[str, Any]:
    """Scenario 3: a catch-up subscription to $all over the seeded stream's events."""
    _take(client, p, min(p.warmup_events, p.read_events))
    server = ServerCpu(p.server_pid)
    clock = Clock()
    _take(client, p, p.read_events)
    sample = clock.sample(p.read_events)
    return result(sample, p.read_events, server.elapsed())


def _take(client: SyncClient[E], p: Params, count: int) -> None:
    subscription = client.subscribe(p.catchup_from)
    try:
        first = next(subscription)
        check_event(first, p.read_stream, 0)
        taken = 1
        if taken < count:
            for event in subscription:
                taken += 1
                if taken == count:
                    check_event(event, p.read_stream, count - 1)
                    break
        expect_count(taken, count)
    finally:
        subscription.stop()


def live(client: SyncClient[E], p: Params) -> dict[str, Any]:
    """Scenario 4: append one event, wait until the subscription delivers it; repeat.

    A thread iterates the subscription; the main thread appends through the same client.
    Latency: from just before the append call to the subscriber thread receiving it.
    """
    stream = f"bench-live-{p.run_id}"
    total = p.live_warmup + p.live_events
    events = client.make_events(total, p.payload)
    sent = [0.0] * total
    latencies = [0.0] * total
    delivered: queue.Queue[int] = queue.Queue()
    subscription = client.subscribe(client.commit_position())
    perf = time.perf_counter

    def subscribe() -> None:
        try:
            for event in subscription:
                received = perf()
                if event.stream_name != stream:
                    continue
                index = event_index(event.data)
                latencies[index] = received - sent[index]
                delivered.put(index)
                if index == total - 1:
                    return
        except BaseException:
            delivered.put(-1)
            raise

    thread = threading.Thread(target=subscribe, name="subscriber", daemon=True)
    thread.start()
    try:
        clock = server = None
        for index, event in enumerate(events):
            if index == p.live_warmup:
                server = ServerCpu(p.server_pid)
                clock = Clock()
            sent[index] = perf()
            client.append(stream, event)
            got = delivered.get(timeout=STEP_TIMEOUT)
            if got != index:
                raise RuntimeError(f"live: expected event {index}, the subscriber said {got}")
        assert clock is not None
        assert server is not None
        sample = clock.sample(p.live_events)
        server_cpu = server.elapsed()
    finally:
        subscription.stop()
    thread.join(STEP_TIMEOUT)
    return result(sample, p.live_events, server_cpu, latencies=latencies[p.live_warmup :])


def concurrent(client: SyncClient[E], p: Params) -> dict[str, Any]:
    """Scenario 5: ``appenders`` threads appending single events through one client."""
    workers = p.appenders
    per = p.appends_per_appender
    batches = [client.make_events(per + 1, p.payload) for _ in range(workers)]
    barrier = threading.Barrier(workers + 1)
    errors: list[BaseException] = []
    latencies: list[list[float]] = [[] for _ in range(workers)]
    perf = time.perf_counter

    def work(number: int) -> None:
        stream = f"bench-concurrent-{p.run_id}-{number}"
        events = batches[number]
        record = latencies[number].append
        try:
            client.append(stream, events[0])  # warm-up
            barrier.wait(STEP_TIMEOUT)
            for event in events[1:]:
                started = perf()
                client.append(stream, event)
                record(perf() - started)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [
        threading.Thread(target=work, args=(number,), name=f"appender-{number}", daemon=True)
        for number in range(workers)
    ]
    for thread in threads:
        thread.start()
    barrier.wait(STEP_TIMEOUT)
    server = ServerCpu(p.server_pid)
    clock = Clock()
    for thread in threads:
        thread.join(STEP_TIMEOUT * per)
    sample = clock.sample(workers * per)
    if errors or any(thread.is_alive() for thread in threads):
        raise RuntimeError(f"concurrent appenders failed: {errors[:1]!r}")
    flat = [value for values in latencies for value in values]
    return result(sample, workers * per, server.elapsed(), latencies=flat)


def memory(client: SyncClient[E], p: Params) -> dict[str, Any]:
    """Scenario 6: stream the big stream, counting only; peak RSS growth over the read."""
    for _ in client.read(p.big_stream, limit=p.warmup_events):
        pass
    reset = peak_rss_reset()
    rss_before = proc_status_kb("VmRSS")
    server = ServerCpu(p.server_pid)
    clock = Clock()
    count = 0
    for _ in client.read(p.big_stream):
        count += 1
    sample = clock.sample(count)
    expect_count(count, p.big_events)
    return memory_result(sample, count, server.elapsed(), rss_before, reset)


def memory_result(
    sample: Sample, count: int, server_cpu: float, rss_before: int, reset: bool
) -> dict[str, Any]:
    hwm_after = proc_status_kb("VmHWM")
    rss_after = proc_status_kb("VmRSS")
    document = result(
        sample,
        count,
        server_cpu,
        rss_before_kb=rss_before,
        hwm_after_kb=hwm_after,
        rss_after_kb=rss_after,
        peak_reset=reset,
    )
    document["figures"]["rss_growth_mb"] = kib_to_mb(hwm_after - rss_before)
    return document


def expect_count(count: int, expected: int) -> None:
    if count != expected:
        raise RuntimeError(f"read {count} events, expected {expected}")


def check_event(event: Recorded, stream: str, position: int) -> None:
    if event.stream_name != stream or event.stream_position != position:
        raise RuntimeError(
            f"expected {stream}@{position}, got {event.stream_name}@{event.stream_position}"
        )


SCENARIOS: dict[str, Callable[[SyncClient[Any], Params], dict[str, Any]]] = {
    "append": append,
    "read": read,
    "catchup": catchup,
    "live": live,
    "concurrent": concurrent,
    "memory": memory,
}
