"""The commit decision of a write (server spec §3.1/§3.2, ``IndexWriter.CheckCommit``).

Given where a stream is and the revision the writer expects, a write either goes ahead
(:class:`Proceed`), is an idempotent re-send of events the stream already holds
(:class:`AlreadyCommitted`), or fails (:class:`~esdb_wire.server.records.WrongExpectedVersion`).
Tombstones and ``stream_exists`` are the event store's part
(:meth:`~esdb_wire.server.store.EventStore.check_commit`); this module decides the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

from esdb_wire.server.records import ANY, NO_STREAM, STREAM_EXISTS, Record, WrongExpectedVersion


@dataclass(frozen=True)
class Proceed:
    """Write: the stream's last revision is ``current``; ``soft_deleted`` streams are
    recreated by the write."""

    current: int
    soft_deleted: bool


@dataclass(frozen=True)
class AlreadyCommitted:
    """An idempotent re-send: every event is in the stream already, the last one at
    ``last_revision``."""

    last_revision: int


CommitDecision = Union[Proceed, AlreadyCommitted, WrongExpectedVersion]

CommittedIds = Mapping[uuid.UUID, "tuple[str, int]"]
"""The idempotency cache: event id → (stream name, revision) of recently written events."""


def decide_commit(
    stream_name: str,
    expected: int,
    event_ids: Sequence[uuid.UUID],
    *,
    current: int,
    soft_deleted: bool,
    records: Sequence[Record],
    committed: CommittedIds,
) -> CommitDecision:
    """The decision for writing ``event_ids`` to ``stream_name`` (last revision
    ``current``, events ``records`` indexed by revision) when the writer expects
    ``expected``; ``committed`` is the idempotency cache."""
    if expected in (ANY, STREAM_EXISTS):
        return _check_cached_ids(stream_name, current, expected, event_ids, soft_deleted, committed)
    if expected < current:
        return _check_earlier(current, expected, event_ids, soft_deleted, records)
    if expected > current:
        return WrongExpectedVersion(current, expected)
    return Proceed(current, soft_deleted)


def _check_cached_ids(
    stream_name: str,
    current: int,
    expected: int,
    event_ids: Sequence[uuid.UUID],
    soft_deleted: bool,
    committed: CommittedIds,
) -> CommitDecision:
    """any / stream_exists: idempotent only if every id is a cached event of this stream."""
    last = -1
    for index, event_id in enumerate(event_ids):
        hit = committed.get(event_id)
        if hit is None or hit[0] != stream_name:
            if index == 0:
                return Proceed(current, soft_deleted)
            return WrongExpectedVersion(current, expected)
        last = hit[1]
    if not event_ids:
        return Proceed(current, soft_deleted)
    return AlreadyCommitted(last)


def _check_earlier(
    current: int,
    expected: int,
    event_ids: Sequence[uuid.UUID],
    soft_deleted: bool,
    records: Sequence[Record],
) -> CommitDecision:
    """expected < current: the ids must be the events at expected+1, expected+2, ..."""
    for index, event_id in enumerate(event_ids):
        revision = expected + 1 + index
        if revision <= current and records[revision].event_id == event_id:
            continue
        if index == 0 and expected == NO_STREAM and soft_deleted:
            return Proceed(current, soft_deleted)
        return WrongExpectedVersion(current, expected)
    if not event_ids:
        if expected == NO_STREAM and soft_deleted:
            return Proceed(current, soft_deleted)
        return WrongExpectedVersion(current, expected)
    return AlreadyCommitted(expected + len(event_ids))
