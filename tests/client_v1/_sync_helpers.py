# Generated from tests/client_v1/_async_helpers.py by scripts/unasync.py; do not edit.
"""Iterating the blocking client's reads and subscriptions in the esdbclient-1.x API
tests."""

from __future__ import annotations

from collections.abc import Iterator

from esdb_wire import RecordedEvent


def collect(items: Iterator[RecordedEvent]) -> list[RecordedEvent]:
    """Every item ``items`` yields."""
    return [item for item in items]


def take(items: Iterator[RecordedEvent], count: int) -> list[RecordedEvent]:
    """The next ``count`` items."""
    return [items.__next__() for _ in range(count)]


def first_of(started: Iterator[RecordedEvent]) -> RecordedEvent:
    """The first item of a read or subscription still to be started."""
    items = started
    return items.__next__()
