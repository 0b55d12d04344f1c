"""The Streams service's reads (``Read`` with a count): a page of one stream or of
``$all``, filtered, with links resolved if asked (spec §3.3-3.6, §3.8), and the request
parsing catch-up subscriptions (:mod:`.streams_subscriptions`) share.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from typing import Union

from esdb_wire.protos import streams_pb2
from esdb_wire.server import errors
from esdb_wire.server.encoding import read_event_response, recorded_event_bytes
from esdb_wire.server.filters import compile_filter_regex
from esdb_wire.server.indexes import index_filter
from esdb_wire.server.records import LINK_EVENT_TYPE, ReadCheck, Record, StreamDeletedError
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams_wire import fill_recorded_event, revision_of, valid_stream_name

ReadReq = streams_pb2.ReadReq
ReadResp = streams_pb2.ReadResp

READ_BATCH_SIZE = 32  # the server's page size: also the default filter window

Predicate = Callable[[Record], bool]
# Read yields messages, or for events their bytes already encoded (see .encoding).
ReadItem = Union[ReadResp, bytes]


class ReadEncoder:
    """Builds ``ReadResp.event`` messages for one read, resolving links if asked: only
    to events the reader may read (``may_read``, secure mode), else left unresolved.

    Each record is encoded once and its bytes reused by every later read.
    """

    __slots__ = ("may_read", "resolve", "store", "structured")

    def __init__(
        self, store: EventStore, options: ReadReq.Options, may_read: ReadCheck | None
    ) -> None:
        self.store = store
        self.structured = options.uuid_option.WhichOneof("content") != "string"
        self.resolve = options.resolve_links
        self.may_read = may_read

    def event(self, record: Record) -> bytes:
        """The encoded ``ReadResp`` of one record (see :mod:`.encoding`)."""
        structured = self.structured
        if self.resolve and record.event_type == LINK_EVENT_TYPE:
            target = self.store.resolve_link(record, may_read=self.may_read)
            event = (
                None
                if target is None
                else recorded_event_bytes(target, structured, fill_recorded_event)
            )
            link = recorded_event_bytes(record, structured, fill_recorded_event)
            return read_event_response(event, link, record.position)
        event = recorded_event_bytes(record, structured, fill_recorded_event)
        return read_event_response(event, None, record.position)


def filter_predicate(options: ReadReq.Options.FilterOptions) -> Predicate:
    """The user filter (§3.6): ``re.search`` if a regex is given, else any prefix."""
    case = options.WhichOneof("filter")
    if case is None:
        raise errors.invalid_argument(_filter_text(options), errors.FILTER_OPTIONS_TYPE)
    expression = getattr(options, case)
    if case == "stream_identifier" and not expression.regex:
        index = index_filter(expression.prefix)  # "$idx-..." reads a secondary index
        if index is not None:
            return index
    attribute = operator.attrgetter("stream_name" if case == "stream_identifier" else "event_type")
    if expression.regex:
        try:
            search = compile_filter_regex(expression.regex).search
        except re.error:
            raise errors.unhandled() from None
        return lambda record: search(attribute(record)) is not None
    prefixes = tuple(expression.prefix)
    return lambda record: attribute(record).startswith(prefixes)


def _filter_text(options: ReadReq.Options.FilterOptions) -> str:
    """Roughly how .NET prints a message (its JSON form)."""
    from google.protobuf import json_format  # noqa: PLC0415 (error path only)

    return json_format.MessageToJson(options, indent=None)


def filter_window(options: ReadReq.Options.FilterOptions) -> int:
    """The filter's window (``max``, or the page size for ``count``); required."""
    case = options.WhichOneof("window")
    if case == "max":
        return options.max
    if case == "count":
        return READ_BATCH_SIZE
    raise errors.invalid_argument("None", errors.WINDOW_CASE_TYPE)


def _read_start(options: ReadReq.Options.StreamOptions) -> int | None:
    """The revision a stream read starts at; None for ``end`` (-1 to the server)."""
    case = options.WhichOneof("revision_option")
    if case == "start":
        return 0
    if case == "end":
        return None
    if case == "revision":
        revision = revision_of(options.revision)
        return None if revision < 0 else revision
    raise errors.unhandled()


def request_position(position: ReadReq.Options.Position) -> int:
    """The commit position of a request position (the server rejects commit < prepare)."""
    if position.commit_position < position.prepare_position:
        raise errors.unhandled()
    return position.commit_position


def read_stream_responses(
    store: EventStore, options: ReadReq.Options, backwards: bool, encoder: ReadEncoder
) -> Iterator[ReadItem]:
    """A read of one stream (§3.3-3.5): its events, or ``stream_not_found``; with
    ``compatibility`` >= 1 also ``first_stream_position`` (when the read skipped ahead)
    and ``last_stream_position``."""
    stream_options = options.stream
    name = valid_stream_name(stream_options.stream_identifier)
    start = _read_start(stream_options)
    count = options.count
    if count == 0 or (start is None and not backwards):
        raise errors.unexpected_result("ReadStreamResult", "Error")
    try:
        found = store.read_stream(name, start, count, backwards=backwards)
    except StreamDeletedError:
        raise errors.stream_deleted(name) from None
    if found is None:
        not_found = ReadResp.StreamNotFound(stream_identifier=stream_options.stream_identifier)
        yield ReadResp(stream_not_found=not_found)
        return
    compatible = options.control_option.compatibility >= 1
    if compatible and not backwards:
        assert start is not None
        records = found.records
        first = records[0].revision if records else found.last_revision + 1
        if first >= start + min(count, READ_BATCH_SIZE) and first != start:
            yield ReadResp(first_stream_position=first)
    for record in found.records:
        yield encoder.event(record)
    if compatible:
        yield ReadResp(last_stream_position=found.last_revision)


def read_all_responses(
    store: EventStore, options: ReadReq.Options, backwards: bool, encoder: ReadEncoder
) -> Iterator[ReadItem]:
    """A read of ``$all`` (§3.6): the events from the request's position, filtered. A
    position no record starts or ends at fails as on a node (UNKNOWN "Unexpected
    ReadAllResult: InvalidPosition", or ``FilteredReadAllResult`` when filtered)."""
    predicate = None
    if options.HasField("filter"):
        predicate = filter_predicate(options.filter)
        filter_window(options.filter)
    all_options = options.all
    case = all_options.WhichOneof("all_option")
    count = options.count
    if case == "position":
        position: int | None = request_position(all_options.position)
    elif case == "start":
        position = 0
    elif case == "end":
        position = None
    else:
        raise errors.unhandled()
    if position is not None and not store.is_valid_position(position):  # see .all_reads
        result_type = "ReadAllResult" if predicate is None else "FilteredReadAllResult"
        raise errors.unexpected_result(result_type, "InvalidPosition")
    if not backwards:
        records = [] if position is None else store.read_all_forwards(position, count, predicate)
    else:
        records = store.read_all_backwards(position, count, predicate)
    for record in records:
        yield encoder.event(record)
