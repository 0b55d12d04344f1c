"""``make demo``: start the embedded server, run a client session against it, stop.

Everything goes over a real loopback socket: the server on its own event loop thread,
the client on the blocking driver in this thread (no helper thread on the client side).
"""

from __future__ import annotations

import threading
import time
from uuid import uuid4

from esdb_wire import EsdbClient, ExpectedPositionError, NewEvent, RecordedEvent
from esdb_wire.server.embedded import EmbeddedServer


def show(event: RecordedEvent) -> str:
    return (
        f"{event.stream_name}#{event.stream_position} {event.type:<14} "
        f"commit={event.commit_position} data={event.data.decode()}"
    )


def main() -> None:
    print("esdb_wire demo")
    with EmbeddedServer() as server:
        print(f"  embedded EventStoreDB-compatible server listening on {server.uri}\n")
        with EsdbClient(uri=server.uri) as client:
            session(client)
    print("\n  server stopped; demo done")


def session(client: EsdbClient) -> None:
    order = f"order-{uuid4().hex[:8]}"
    step("append three events to a new stream (expected position: none)")
    events = [
        NewEvent("OrderCreated", b'{"item": "book"}', b"{}"),
        NewEvent("ItemAdded", b'{"item": "pen"}', b"{}"),
        NewEvent("OrderPaid", b'{"amount": 12}', b"{}"),
    ]
    position = client.append_events(order, expected_position=None, events=events)
    print(
        f"    committed at position {position}; stream position now "
        f"{client.get_stream_position(order)}"
    )

    step("optimistic concurrency: append expecting position 0 (it is 2)")
    try:
        client.append_events(order, expected_position=0, events=[NewEvent("Oops", b"{}")])
    except ExpectedPositionError as error:
        print(f"    rejected as expected: {type(error).__name__}: {error}")

    step("read the stream forwards, then the last event backwards")
    for event in client.read_stream_events(order):
        print("    " + show(event))
    (last,) = client.read_stream_events(order, backwards=True, limit=1)
    print("    last: " + show(last))

    step("catch-up subscription to $all from the start")
    subscription = client.subscribe_all_events()
    for _ in range(3):
        print("    received " + show(next(subscription)))

    step("append while subscribed, from this same thread, then receive live")
    client.append_events(order, expected_position=2, events=[NewEvent("OrderShipped", b"{}")])
    print("    received " + show(next(subscription)))

    step("four threads append 25 events each through the one client connection")
    started = time.perf_counter()
    threads = [threading.Thread(target=writer, args=(client, n)) for n in range(4)]
    for thread in threads:
        thread.start()
    seen = [next(subscription) for _ in range(100)]
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    positions = [event.commit_position or 0 for event in seen]
    print(
        f"    subscription received {len(seen)} live events in commit order: "
        f"{positions == sorted(positions)}, in {elapsed * 1000:.0f} ms"
    )
    subscription.stop()

    step("persistent subscription: a consumer group on the order stream, acking each event")
    client.create_subscription_to_stream("shipping", order)
    with client.read_subscription_to_stream("shipping", order) as consumer:
        for _ in range(4):
            event = next(consumer)
            consumer.ack(event)
            print(f"    group 'shipping' got {show(event)} (retry {event.retry_count})")
    info = client.get_subscription_info("shipping", order)
    print(f"    group status: {info.status}, strategy {info.consumer_strategy}")

    step("$all backwards: the newest two events")
    for event in client.read_all_events(backwards=True, limit=2):
        print("    " + show(event))


def writer(client: EsdbClient, number: int) -> None:
    stream = f"worker-{number}-{uuid4().hex[:6]}"
    for index in range(25):
        client.append_events(
            stream, index - 1 if index else None, [NewEvent("Tick", b'{"n": %d}' % index)]
        )


def step(title: str) -> None:
    print(f"  - {title}")


if __name__ == "__main__":
    main()
