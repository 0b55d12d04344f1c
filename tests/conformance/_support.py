"""Helpers shared by the esdbclient conformance tests (import after the peer check)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from esdbclient import NewEvent, RecordedEvent

# Every subscription gets a gRPC deadline, so a missing event fails a test, never hangs it.
SUBSCRIPTION_DEADLINE = 10.0


class CallCounter:
    """Wraps a gRPC multi-callable of esdbclient's stub and counts the calls."""

    def __init__(self, target: Callable[..., Any]) -> None:
        self.target = target
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.target(*args, **kwargs)


def new_stream(prefix: str = "conformance") -> str:
    """A stream name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex}"


def new_type(prefix: str = "Type") -> str:
    """An event type no other test uses (safe inside esdbclient's filter regexes)."""
    return f"{prefix}{uuid.uuid4().hex}"


def new_events(count: int, event_type: str = "Happened", *, start: int = 0) -> list[NewEvent]:
    """``count`` JSON events with distinct data and custom metadata."""
    return [
        NewEvent(
            type=event_type,
            data=json.dumps({"n": start + i}).encode(),
            metadata=json.dumps({"m": start + i}).encode(),
        )
        for i in range(count)
    ]


def take(items: Iterator[RecordedEvent], count: int) -> list[RecordedEvent]:
    """The next ``count`` items of a read or subscription (bounded by the call's deadline)."""
    return [next(items) for _ in range(count)]


def ids(events: Iterable[NewEvent | RecordedEvent]) -> list[uuid.UUID]:
    return [event.id for event in events]


def commit_position(event: RecordedEvent) -> int:
    """The event's commit position (always set by servers since 22.10, spec §3.3)."""
    assert event.commit_position is not None
    return event.commit_position


def assert_recorded(
    recorded: RecordedEvent, new: NewEvent, stream_name: str, stream_position: int
) -> None:
    """``recorded`` is ``new`` as written to ``stream_name`` at ``stream_position``."""
    assert recorded.id == new.id
    assert recorded.type == new.type
    assert recorded.data == new.data
    assert recorded.metadata == new.metadata
    assert recorded.content_type == new.content_type
    assert recorded.stream_name == stream_name
    assert recorded.stream_position == stream_position
    assert recorded.commit_position is not None
    assert recorded.prepare_position == recorded.commit_position
    assert recorded.link is None
    assert recorded.retry_count is None
