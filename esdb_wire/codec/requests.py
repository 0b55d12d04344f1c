"""Building the Streams requests the client sends (reads, subscriptions, appends, deletes)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from esdb_wire.events import NewEvent
from esdb_wire.protos import streams_pb2
from esdb_wire.protos.uuids import write_uuid

# esdbclient 0.5's constant: matches system event types (they start with "$").
ESDB_EVENTS_REGEX = "\\$.*"
# esdbclient 1.x's constants and default exclude filter.
ESDB_SYSTEM_EVENTS_REGEX = r"\$.+"
ESDB_PERSISTENT_CONFIG_EVENTS_REGEX = r"PersistentConfig\d+"
DEFAULT_EXCLUDE_FILTER = (ESDB_SYSTEM_EVENTS_REGEX, ESDB_PERSISTENT_CONFIG_EVENTS_REGEX)
DEFAULT_WINDOW_SIZE = 30
DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER = 5

ReadReq = streams_pb2.ReadReq
Options = streams_pb2.ReadReq.Options


class StreamState(enum.Enum):
    """Expected states of a stream, for appends and deletes (esdbclient 1.x)."""

    ANY = "ANY"
    NO_STREAM = "NO_STREAM"
    EXISTS = "EXISTS"


def filter_regex(include: Sequence[str], exclude: Sequence[str]) -> str | None:
    """One server-side regex from include patterns (preferred) or exclude patterns.

    Each pattern must match the whole name: include ``^(a|b)$``, exclude ``^(?!(a$|b$))``.
    """
    if include:
        return "^(" + "|".join(include) + ")$"
    if exclude:
        return "^(?!(" + "|".join(f"{pattern}$" for pattern in exclude) + "))"
    return None


def _base_options(options: streams_pb2.ReadReq.Options, resolve_links: bool) -> None:
    options.resolve_links = resolve_links
    options.uuid_option.structured.SetInParent()


def read_stream_request(
    stream_name: str,
    *,
    position: int | None = None,
    backwards: bool = False,
    limit: int,
    resolve_links: bool = False,
) -> streams_pb2.ReadReq:
    """Read a stream from ``position`` (inclusive), or from its start (or end, backwards)."""
    request = ReadReq()
    options = request.options
    stream = options.stream
    stream.stream_identifier.stream_name = stream_name.encode("utf-8")
    if position is not None:
        stream.revision = position
    elif backwards:
        stream.end.SetInParent()
    else:
        stream.start.SetInParent()
    options.read_direction = Options.Backwards if backwards else Options.Forwards
    options.count = limit
    options.no_filter.SetInParent()
    _base_options(options, resolve_links)
    return request


def _set_filter(
    options: streams_pb2.ReadReq.Options,
    regex: str | None,
    *,
    by_stream_name: bool,
    window_size: int | None,
    checkpoint_interval_multiplier: int,
) -> None:
    if regex is None:
        options.no_filter.SetInParent()
        return
    target = options.filter
    expression = target.stream_identifier if by_stream_name else target.event_type
    expression.regex = regex
    if window_size is None:
        target.count.SetInParent()
    else:
        target.max = window_size
    target.checkpointIntervalMultiplier = checkpoint_interval_multiplier


def read_all_request(
    *,
    position: int | None = None,
    backwards: bool = False,
    regex: str | None = None,
    by_stream_name: bool = False,
    limit: int,
    resolve_links: bool = False,
) -> streams_pb2.ReadReq:
    """Read ``$all`` from a commit position (forwards inclusive, backwards exclusive)."""
    request = ReadReq()
    options = request.options
    target = options.all
    if position is not None:
        target.position.commit_position = position
        target.position.prepare_position = position
    elif backwards:
        target.end.SetInParent()
    else:
        target.start.SetInParent()
    options.read_direction = Options.Backwards if backwards else Options.Forwards
    options.count = limit
    _set_filter(
        options,
        regex,
        by_stream_name=by_stream_name,
        window_size=None,
        checkpoint_interval_multiplier=1,
    )
    _base_options(options, resolve_links)
    return request


def subscribe_all_request(
    *,
    position: int | None = None,
    from_end: bool = False,
    regex: str | None = None,
    by_stream_name: bool = False,
    window_size: int = DEFAULT_WINDOW_SIZE,
    checkpoint_interval_multiplier: int = DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER,
    resolve_links: bool = False,
) -> streams_pb2.ReadReq:
    """Subscribe to ``$all`` after ``position`` (exclusive), from the start, or from the end."""
    request = ReadReq()
    options = request.options
    target = options.all
    if position is not None:
        target.position.commit_position = position
        target.position.prepare_position = position
    elif from_end:
        target.end.SetInParent()
    else:
        target.start.SetInParent()
    options.read_direction = Options.Forwards
    options.subscription.SetInParent()
    _set_filter(
        options,
        regex,
        by_stream_name=by_stream_name,
        window_size=window_size,
        checkpoint_interval_multiplier=checkpoint_interval_multiplier,
    )
    _base_options(options, resolve_links)
    return request


def subscribe_stream_request(
    stream_name: str,
    *,
    position: int | None = None,
    from_end: bool = False,
    resolve_links: bool = False,
) -> streams_pb2.ReadReq:
    """Subscribe to a stream after revision ``position`` (exclusive), start or end."""
    request = ReadReq()
    options = request.options
    stream = options.stream
    stream.stream_identifier.stream_name = stream_name.encode("utf-8")
    if position is not None:
        stream.revision = position
    elif from_end:
        stream.end.SetInParent()
    else:
        stream.start.SetInParent()
    options.read_direction = Options.Forwards
    options.subscription.SetInParent()
    options.no_filter.SetInParent()
    _base_options(options, resolve_links)
    return request


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


def append_options(stream_name: str, expected: int | StreamState | None) -> streams_pb2.AppendReq:
    """The first message of an ``Append`` call."""
    request = streams_pb2.AppendReq()
    options = request.options
    options.stream_identifier.stream_name = stream_name.encode("utf-8")
    set_expected(options, expected, revision_field="revision")
    return request


def delete_request(
    stream_name: str, expected: int | StreamState | None, *, tombstone: bool = False
) -> streams_pb2.DeleteReq | streams_pb2.TombstoneReq:
    """A ``Delete`` (soft) or ``Tombstone`` (hard) request."""
    request = streams_pb2.TombstoneReq() if tombstone else streams_pb2.DeleteReq()
    options = request.options
    options.stream_identifier.stream_name = stream_name.encode("utf-8")
    set_expected(options, expected, revision_field="revision")
    return request


# The largest protobuf Duration (10,000 years): "no deadline" for a batch append.
_MAX_DURATION_SECONDS = 315_576_000_000


def batch_append_request(
    stream_name: str,
    expected: int | StreamState | None,
    events: Sequence[NewEvent],
    *,
    correlation_id: UUID,
    timeout: float | None,
) -> streams_pb2.BatchAppendReq:
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
        message = messages.add(custom_metadata=event.metadata, data=event.data)
        message.metadata["type"] = event.type
        message.metadata["content-type"] = event.content_type
        write_uuid(message.id, event.id)
    return request
