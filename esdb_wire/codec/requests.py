"""The Streams requests the client sends (reads, subscriptions, appends, deletes), encoded:
each function returns the bytes of a message (or of each message of a call)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from esdb_wire.codec.events import fill_proposed_message, proposed_message
from esdb_wire.events import NewEvent
from esdb_wire.filters import DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER, DEFAULT_WINDOW_SIZE
from esdb_wire.protos import streams_pb2
from esdb_wire.protos.uuids import write_uuid
from esdb_wire.streams import StreamState

ReadReq = streams_pb2.ReadReq
Options = streams_pb2.ReadReq.Options


def filter_regex(include: Sequence[str], exclude: Sequence[str]) -> str | None:
    """One server-side regex from include patterns (preferred) or exclude patterns.

    Each pattern must match the whole name: include ``^(a|b)$``, exclude ``^(?!(a$|b$))``.
    """
    if include:
        return "^(" + "|".join(include) + ")$"
    if exclude:
        return "^(?!(" + "|".join(f"{pattern}$" for pattern in exclude) + "))"
    return None


def start_at_revision(target: Any, revision: int | None, at_end: bool) -> None:
    """Where a read of (or subscription to) one stream starts: the ``revision`` /
    ``start`` / ``end`` oneof of a Streams or PersistentSubscriptions stream option."""
    if revision is not None:
        target.revision = revision
    elif at_end:
        target.end.SetInParent()
    else:
        target.start.SetInParent()


def start_at_position(target: Any, position: int | None, at_end: bool) -> None:
    """Where a read of (or subscription to) ``$all`` starts: the ``position`` /
    ``start`` / ``end`` oneof of a Streams or PersistentSubscriptions ``$all`` option."""
    if position is not None:
        target.position.commit_position = position
        target.position.prepare_position = position
    elif at_end:
        target.end.SetInParent()
    else:
        target.start.SetInParent()


def set_filter(
    target: Any,
    regex: str | None,
    *,
    by_stream_name: bool,
    window_size: int | None,
    checkpoint_interval_multiplier: int,
    stream_name_prefix: str | None = None,
) -> None:
    """The ``filter`` / ``no_filter`` oneof of ``target`` (a Streams read's options, or a
    persistent ``$all`` group's): ``regex`` (or ``stream_name_prefix``) on event types or
    stream names; ``window_size`` None for a read's ``count`` window."""
    if regex is None and stream_name_prefix is None:
        target.no_filter.SetInParent()
        return
    options = target.filter
    expression = options.stream_identifier if by_stream_name else options.event_type
    if stream_name_prefix is not None:
        expression.prefix.append(stream_name_prefix)
    else:
        expression.regex = regex
    if window_size is None:
        options.count.SetInParent()
    else:
        options.max = window_size
    options.checkpointIntervalMultiplier = checkpoint_interval_multiplier


def _stream_options(
    stream_name: str, position: int | None, at_end: bool, resolve_links: bool
) -> ReadReq:
    """A ``ReadReq`` of one stream, unfiltered, from ``position`` or its start or end."""
    request = ReadReq()
    options = request.options
    stream = options.stream
    stream.stream_identifier.stream_name = stream_name.encode("utf-8")
    start_at_revision(stream, position, at_end)
    options.no_filter.SetInParent()
    options.resolve_links = resolve_links
    options.uuid_option.structured.SetInParent()
    return request


def read_stream_request(
    stream_name: str,
    *,
    position: int | None = None,
    backwards: bool = False,
    limit: int,
    resolve_links: bool = False,
) -> bytes:
    """Read a stream from ``position`` (inclusive), or from its start (or end, backwards)."""
    request = _stream_options(stream_name, position, backwards, resolve_links)
    options = request.options
    options.read_direction = Options.Backwards if backwards else Options.Forwards
    options.count = limit
    return request.SerializeToString()


def subscribe_stream_request(
    stream_name: str,
    *,
    position: int | None = None,
    from_end: bool = False,
    resolve_links: bool = False,
) -> bytes:
    """Subscribe to a stream after revision ``position`` (exclusive), start or end."""
    request = _stream_options(stream_name, position, from_end, resolve_links)
    options = request.options
    options.read_direction = Options.Forwards
    options.subscription.SetInParent()
    return request.SerializeToString()


def _all_options(position: int | None, at_end: bool, resolve_links: bool) -> ReadReq:
    """A ``ReadReq`` of ``$all`` from ``position`` or its start or end (no filter yet)."""
    request = ReadReq()
    options = request.options
    start_at_position(options.all, position, at_end)
    options.resolve_links = resolve_links
    options.uuid_option.structured.SetInParent()
    return request


def read_all_request(
    *,
    position: int | None = None,
    backwards: bool = False,
    regex: str | None = None,
    by_stream_name: bool = False,
    stream_name_prefix: str | None = None,
    limit: int,
    resolve_links: bool = False,
) -> bytes:
    """Read ``$all`` from a commit position (forwards inclusive, backwards exclusive),
    filtered by ``regex`` (or ``stream_name_prefix``, with ``by_stream_name``)."""
    request = _all_options(position, backwards, resolve_links)
    options = request.options
    options.read_direction = Options.Backwards if backwards else Options.Forwards
    options.count = limit
    set_filter(
        options,
        regex,
        by_stream_name=by_stream_name,
        window_size=None,
        checkpoint_interval_multiplier=1,
        stream_name_prefix=stream_name_prefix,
    )
    return request.SerializeToString()


def subscribe_all_request(
    *,
    position: int | None = None,
    from_end: bool = False,
    regex: str | None = None,
    by_stream_name: bool = False,
    stream_name_prefix: str | None = None,
    window_size: int = DEFAULT_WINDOW_SIZE,
    checkpoint_interval_multiplier: int = DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER,
    resolve_links: bool = False,
) -> bytes:
    """Subscribe to ``$all`` after ``position`` (exclusive), from the start, or from the
    end, filtered as :func:`read_all_request` is."""
    request = _all_options(position, from_end, resolve_links)
    options = request.options
    options.read_direction = Options.Forwards
    options.subscription.SetInParent()
    set_filter(
        options,
        regex,
        by_stream_name=by_stream_name,
        window_size=window_size,
        checkpoint_interval_multiplier=checkpoint_interval_multiplier,
        stream_name_prefix=stream_name_prefix,
    )
    return request.SerializeToString()


def set_expected(target: Any, expected: int | StreamState | None, *, revision_field: str) -> None:
    """Fill the expected-revision oneof of append/delete/tombstone options.

    ``None`` (esdbclient 0.5) and ``StreamState.NO_STREAM`` mean "no stream"; a negative
    int (0.5) or ``StreamState.ANY`` mean "any"; ``StreamState.EXISTS`` "stream exists".
    """
    if expected is None or expected is StreamState.NO_STREAM:
        target.no_stream.SetInParent()
    elif expected is StreamState.ANY:
        target.any.SetInParent()
    elif expected is StreamState.EXISTS:
        target.stream_exists.SetInParent()
    elif isinstance(expected, int) and not isinstance(expected, bool):
        if expected < 0:
            target.any.SetInParent()
        else:
            setattr(target, revision_field, expected)
    else:
        raise TypeError(f"expected version must be an int, None or StreamState, not {expected!r}")


def append_requests(
    stream_name: str, expected: int | StreamState | None, events: Sequence[NewEvent]
) -> list[bytes]:
    """The messages of an ``Append`` call: the options, then one per event."""
    request = streams_pb2.AppendReq()
    options = request.options
    options.stream_identifier.stream_name = stream_name.encode("utf-8")
    set_expected(options, expected, revision_field="revision")
    requests = [request.SerializeToString()]
    requests.extend(
        streams_pb2.AppendReq(proposed_message=proposed_message(event)).SerializeToString()
        for event in events
    )
    return requests


def delete_request(
    stream_name: str, expected: int | StreamState | None, *, tombstone: bool = False
) -> bytes:
    """A ``Delete`` (soft) or ``Tombstone`` (hard) request."""
    request = streams_pb2.TombstoneReq() if tombstone else streams_pb2.DeleteReq()
    options = request.options
    options.stream_identifier.stream_name = stream_name.encode("utf-8")
    set_expected(options, expected, revision_field="revision")
    return request.SerializeToString()


# The largest protobuf Duration (10,000 years): "no deadline" for a batch append.
_MAX_DURATION_SECONDS = 315_576_000_000


def batch_append_request(
    stream_name: str,
    expected: int | StreamState | None,
    events: Sequence[NewEvent],
    *,
    correlation_id: UUID,
    timeout: float | None,
) -> bytes:
    """One complete (``is_final``) write of a ``BatchAppend`` call."""
    request = streams_pb2.BatchAppendReq(is_final=True)
    write_uuid(request.correlation_id, correlation_id)
    options = request.options
    options.stream_identifier.stream_name = stream_name.encode("utf-8")
    set_expected(options, expected, revision_field="stream_position")
    if timeout is None:
        options.deadline.seconds = _MAX_DURATION_SECONDS
    else:
        options.deadline.seconds = int(timeout)
        options.deadline.nanos = int((timeout - int(timeout)) * 1e9)
    messages = request.proposed_messages
    for event in events:
        fill_proposed_message(messages.add(), event)
    return request.SerializeToString()
