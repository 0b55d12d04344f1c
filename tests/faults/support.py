"""Shared helpers of the fault suite: names, events, connection strings, checks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from esdb_wire import EventStoreDBClient, NewEvent, RecordedEvent, StreamState

# Payload of the events subscriptions carry: large enough that a cut at an arbitrary byte
# lands inside a frame (an HTTP/2 DATA frame, a gRPC message), not between two.
PAYLOAD = 900


def new_stream(prefix: str = "fault") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def new_type(prefix: str = "Fault") -> str:
    """An event type no other test uses (safe inside a filter regex)."""
    return f"{prefix}{uuid.uuid4().hex}"


def new_events(count: int, event_type: str = "Faulted", size: int = 0) -> list[NewEvent]:
    """``count`` JSON events, each with ``size`` bytes of padding."""
    pad = "x" * size
    return [
        NewEvent(type=event_type, data=b'{"n": %d, "pad": "%s"}' % (n, pad.encode()))
        for n in range(count)
    ]


def uri_of(port: int, **options: int) -> str:
    """A plaintext connection string to 127.0.0.1:``port`` with ``options`` (ms values)."""
    query = "".join(f"&{name}={value}" for name, value in options.items())
    return f"esdb://127.0.0.1:{port}?Tls=false{query}"


def append_batches(
    client: EventStoreDBClient, stream_name: str, event_type: str, batches: int, size: int
) -> list[uuid.UUID]:
    """Append ``batches`` batches of ``size`` padded events; their ids in order."""
    ids: list[uuid.UUID] = []
    for _ in range(batches):
        events = new_events(size, event_type, PAYLOAD)
        client.append_to_stream(stream_name, current_version=StreamState.ANY, events=events)
        ids.extend(event.id for event in events)
    return ids


def assert_in_order_once(received: Sequence[RecordedEvent], sent: Sequence[uuid.UUID]) -> None:
    """``received`` is ``sent`` exactly: no gap, no duplicate, in order."""
    ids = [event.id for event in received]
    duplicates = len(ids) - len(set(ids))
    assert duplicates == 0, f"{duplicates} duplicated events"
    missing = len(set(sent) - set(ids))
    assert missing == 0, f"{missing} events missing"
    assert ids == list(sent), "out of order"


def assert_prefix(received: Sequence[RecordedEvent], sent: Sequence[uuid.UUID]) -> None:
    """``received`` is the beginning of ``sent``: in order, nothing duplicated or skipped."""
    assert [event.id for event in received] == list(sent[: len(received)])
