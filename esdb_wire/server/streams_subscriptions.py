"""The Streams service's catch-up subscriptions (``Read`` with ``subscription``) to one
stream or to ``$all`` (spec §3.6, §3.7): read the log after the start point, say
``caught_up``, then follow live appends, parked in
:meth:`~esdb_wire.server.store.EventStore.wait_for_records_after`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

from esdb_wire.server import errors
from esdb_wire.server.records import in_default_all_filter
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams_read import (
    Predicate,
    ReadEncoder,
    ReadItem,
    ReadReq,
    ReadResp,
    filter_predicate,
    filter_window,
    request_position,
)
from esdb_wire.server.streams_wire import END_REVISION, MAX_LONG, revision_of, valid_stream_name

SUBSCRIPTION_PAGE = 512


def _checkpoint(position: int) -> ReadResp:
    return ReadResp(
        checkpoint=ReadResp.Checkpoint(commit_position=position, prepare_position=position)
    )


def _confirmation() -> ReadResp:
    return ReadResp(
        confirmation=ReadResp.SubscriptionConfirmation(subscription_id=str(uuid.uuid4()))
    )


def _caught_up(ticks: int, *, revision: int = -1, position: int = -1) -> ReadResp:
    """``caught_up`` with its 25.1 fields: the server time, and the resume point (a stream
    revision or an ``$all`` position) when anything was read."""
    caught_up = ReadResp.CaughtUp()
    caught_up.timestamp.seconds, remainder = divmod(ticks, 10_000_000)
    caught_up.timestamp.nanos = remainder * 100
    if revision >= 0:
        caught_up.stream_revision = revision
    if position >= 0:
        caught_up.position.commit_position = caught_up.position.prepare_position = position
    return ReadResp(caught_up=caught_up)


def _subscription_filter(options: ReadReq.Options) -> tuple[Predicate | None, int]:
    """The user filter of a ``$all`` subscription and its checkpoint interval (0: none)."""
    if not options.HasField("filter"):
        return None, 0
    predicate = filter_predicate(options.filter)
    window = filter_window(options.filter)
    multiplier = options.filter.checkpointIntervalMultiplier
    if multiplier == 0:
        raise errors.unhandled()  # the server's enumerator throws
    return predicate, max(window * multiplier, 1)


async def subscribe_stream(
    store: EventStore, options: ReadReq.Options, encoder: ReadEncoder
) -> AsyncIterator[ReadItem]:
    """Catch-up subscription to one stream (§3.7); start points are exclusive."""
    stream_options = options.stream
    name = valid_stream_name(stream_options.stream_identifier)
    checkpoint = _subscription_start(store, stream_options, name)
    yield _confirmation()
    if store.is_tombstoned(name):
        raise errors.stream_deleted(name)
    live = checkpoint >= store.last_revision(name)
    if live:
        yield _caught_up(store.clock(), revision=checkpoint)
    generation = store.generation
    while True:
        if store.generation != generation:
            raise errors.server_reset()
        if store.is_tombstoned(name):
            if not live:
                raise errors.stream_deleted(name)
            for response in _final_events(store, name, checkpoint, encoder):
                yield response
            raise errors.stream_deleted(name)
        head = store.last_position
        found = store.read_stream(name, checkpoint + 1, SUBSCRIPTION_PAGE)
        if found is None or not found.records:
            if not live:
                live = True
                yield _caught_up(store.clock(), revision=checkpoint)
            await store.wait_for_records_after(head)
            continue
        for record in found.records:
            checkpoint = record.revision
            yield encoder.event(record)


def _subscription_start(
    store: EventStore, options: ReadReq.Options.StreamOptions, name: str
) -> int:
    """The revision after which a stream subscription starts (exclusive)."""
    case = options.WhichOneof("revision_option")
    if case == "start":
        return -1
    if case == "end" or (case == "revision" and options.revision == END_REVISION):
        return store.last_revision(name)
    if case == "revision":
        return revision_of(options.revision)
    raise errors.unhandled()


def _final_events(
    store: EventStore, name: str, checkpoint: int, encoder: ReadEncoder
) -> Iterator[ReadItem]:
    """What a live subscription still gets from a stream just tombstoned."""
    found = store.read_stream(name, checkpoint + 1, MAX_LONG, include_tombstoned=True)
    for record in [] if found is None else found.records:
        yield encoder.event(record)
    tombstone = store.tombstone_record(name)
    if tombstone is not None:
        yield encoder.event(tombstone)


async def subscribe_all(
    store: EventStore, options: ReadReq.Options, encoder: ReadEncoder
) -> AsyncIterator[ReadItem]:
    """Catch-up subscription to ``$all`` (§3.6, §3.7): pull the log after the start,
    send ``caught_up`` on reaching its end, then live events; filtered ones also get a
    checkpoint every ``interval`` considered records and when catch-up ends. From a
    position no record starts or ends at, the confirmation is followed by
    INVALID_ARGUMENT "Trying to read from an invalid position.", as on a node."""
    predicate, interval = _subscription_filter(options)
    checkpoint = _all_start(store, options.all)
    yield _confirmation()
    live = checkpoint >= store.last_position
    if not live and checkpoint >= 0 and not store.is_valid_position(checkpoint):
        raise errors.invalid_position()  # the catch-up read fails (see .all_reads)
    if live:
        yield _caught_up(store.clock(), position=checkpoint)
    considered = 0
    last_checkpoint = -1
    generation = store.generation
    while True:
        if store.generation != generation:
            raise errors.server_reset()
        batch = store.records_after(checkpoint, SUBSCRIPTION_PAGE)
        if not batch:
            if not live:
                live = True
                if interval and checkpoint > last_checkpoint:
                    last_checkpoint = checkpoint
                    yield _checkpoint(checkpoint)
                considered = 0
                yield _caught_up(store.clock(), position=checkpoint)
            await store.wait_for_records_after(checkpoint)
            continue
        for record in batch:
            checkpoint = record.position
            if in_default_all_filter(record) and (predicate is None or predicate(record)):
                yield encoder.event(record)
            if interval:
                considered += 1
                if considered >= interval:
                    considered = 0
                    last_checkpoint = checkpoint
                    yield _checkpoint(checkpoint)


def _all_start(store: EventStore, options: ReadReq.Options.AllOptions) -> int:
    """The position after which a ``$all`` subscription starts (exclusive)."""
    case = options.WhichOneof("all_option")
    if case == "position":
        return request_position(options.position)
    if case == "start":
        return -1
    if case == "end":
        return store.last_position
    raise errors.unhandled()
