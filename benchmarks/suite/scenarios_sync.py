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
from benchmarks.suite.protocols import E, Fields, Recorded, SyncClient

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


# Scenario 2's consumers, in the order its reads run: each twice, in a mirrored order, so
# that a drift over the run (allocator, caches, the server) weighs on both alike.
READ_ORDER = ("count", "fields", "fields", "count")


def read(client: SyncClient[E], p: Params) -> dict[str, Any]:
    """Scenario 2: read the whole seeded stream four times (:data:`READ_ORDER`), timing
    each read: two with a consumer that only counts the events, two with one that reads
    the fields a real consumer reads (:func:`read_fields`)."""
    for _ in client.read(p.read_stream, limit=p.warmup_events):
        pass
    server = ServerCpu(p.server_pid)
    samples: dict[str, list[Sample]] = {"count": [], "fields": []}
    for consumer in READ_ORDER:
        clock = Clock()
        count, last = 0, None
        if consumer == "count":
            for _ in client.read(p.read_stream):
                count += 1
        else:
            for event in client.read(p.read_stream):
                last = read_fields(event)
                count += 1
            check_fields(last, p.read_stream, count - 1)
        samples[consumer].append(clock.sample(count))
        expect_count(count, p.read_events)
    return read_result(samples, p.read_events, server.elapsed())


def read_result(samples: dict[str, list[Sample]], events: int, server_cpu: float) -> dict[str, Any]:
    """Scenario 2's document: the counting reads' figures (client CPU and rate over both,
    server CPU over all four reads), and the fields-reading reads' client CPU per event."""
    counted, fielded = samples["count"], samples["fields"]
    document = result(
        Sample(
            cpu=sum(s.cpu for s in counted),
            user=sum(s.user for s in counted),
            sys=sum(s.sys for s in counted),
            wall=sum(s.wall for s in counted),
            received=sum(s.received for s in counted),
        ),
        events * len(counted),
        server_cpu * len(counted) / len(READ_ORDER),
    )
    document["reads"] = [
        {"consumer": consumer, "cpu": sample.cpu, "wall": sample.wall, "n": sample.received}
        for consumer, sample in zip(READ_ORDER, _in_order(samples))
    ]
    document["figures"]["fields_cpu_us"] = (
        sum(s.cpu for s in fielded) / (events * len(fielded)) * 1e6
    )
    return document


def _in_order(samples: dict[str, list[Sample]]) -> list[Sample]:
    remaining = {consumer: list(found) for consumer, found in samples.items()}
    return [remaining[consumer].pop(0) for consumer in READ_ORDER]


def read_fields(event: Recorded) -> Fields:
    """What the fields-reading consumer of scenario 2 reads from each event."""
    return (
        event.id,
        event.type,
        event.data,
        event.stream_name,
        event.stream_position,
        event.commit_position,
    )


def check_fields(last: Fields | None, stream: str, position: int) -> None:
    """The last event's fields, as :func:`read_fields` read them, are the stream's last."""
    if last is None or last[3] != stream or last[4] != position or event_index(last[2]) != position:
        raise RuntimeError(f"the fields read are not those of {stream}@{position}: {last!r}")


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
