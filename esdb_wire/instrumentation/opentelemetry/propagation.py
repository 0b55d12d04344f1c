"""Trace context in event metadata, as the official KurrentDB clients carry it: an appended
event's JSON metadata gets ``"$traceId"`` and ``"$spanId"`` (W3C hex: 32 and 16 lowercase
digits) naming the span that appended it, and a subscriber that receives the event
continues that trace.

Only metadata that is empty or a JSON object is changed (other members are kept); any other
metadata is left as it is. kurrentdbclient and esdbclient write the ids with a ``0x``
prefix: those are read too.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from esdb_wire import NewEvent, NewEvents, NewRecord, RecordedEvent

TRACE_ID = "$traceId"
SPAN_ID = "$spanId"
_TRACE_ID_BYTES = TRACE_ID.encode()
_SPAN_ID_BYTES = SPAN_ID.encode()
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def metadata_with_trace_context(metadata: bytes, span_context: SpanContext) -> bytes:
    """``metadata`` naming the span of ``span_context`` if it is sampled (without stale ids
    if it is not); unchanged when the context is invalid (tracing is off) or the metadata
    is neither empty nor a JSON object."""
    if not span_context.is_valid:
        return metadata
    if metadata:
        try:
            members = json.loads(metadata)
        except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
            return metadata
        if not isinstance(members, dict):
            return metadata
    else:
        members = {}
    if span_context.trace_flags.sampled:
        members[TRACE_ID] = trace.format_trace_id(span_context.trace_id)
        members[SPAN_ID] = trace.format_span_id(span_context.span_id)
    elif TRACE_ID in members or SPAN_ID in members:
        members.pop(TRACE_ID, None)
        members.pop(SPAN_ID, None)
    else:
        return metadata
    return json.dumps(members, separators=(",", ":")).encode("utf-8")


def event_with_trace_context(event: NewEvent, span_context: SpanContext) -> NewEvent:
    """A copy of ``event`` (same id) whose metadata names the span (the caller's event
    is never changed); ``event`` itself when its metadata stays as it is."""
    metadata = metadata_with_trace_context(event.metadata, span_context)
    if metadata is event.metadata:
        return event
    return NewEvent(
        type=event.type,
        data=event.data,
        metadata=metadata,
        content_type=event.content_type,
        id=event.id,
    )


def events_with_trace_context(events: Any, span_context: SpanContext) -> Any:
    """What an append method takes as its events (one, or an iterable, of
    :class:`NewEvent`, :class:`NewEvents` or :class:`NewRecord`), the same shape, with
    the span in each event's metadata. An iterable becomes a list."""
    if not span_context.is_valid:
        return events
    if isinstance(events, (NewEvent, NewEvents, NewRecord)):
        return _with_context(events, span_context)
    return [_with_context(item, span_context) for item in events]


def _with_context(item: Any, span_context: SpanContext) -> Any:
    if isinstance(item, NewEvent):
        return event_with_trace_context(item, span_context)
    if isinstance(item, NewEvents):
        events = [event_with_trace_context(event, span_context) for event in item.events]
        return dataclasses.replace(item, events=events)
    if isinstance(item, NewRecord):
        metadata = metadata_with_trace_context(item.metadata, span_context)
        return item if metadata is item.metadata else dataclasses.replace(item, metadata=metadata)
    return item  # not ours to change: the client reports what is wrong with it


def extract_trace_context(event: RecordedEvent) -> Context | None:
    """The trace context that ``event``'s metadata names (``$traceId`` and ``$spanId``),
    as the remote parent of the spans that continue it, or None if it names none.

    A subscriber's ``streams.subscribe`` span continues it already; an application can
    continue it too, to trace its handling of the event::

        with tracer.start_as_current_span("handle", context=extract_trace_context(event)):
            ...
    """
    metadata = event.metadata
    if _TRACE_ID_BYTES not in metadata or _SPAN_ID_BYTES not in metadata:
        return None  # the common case, without parsing JSON
    try:
        members = json.loads(metadata)
    except ValueError:
        return None
    if not isinstance(members, dict):
        return None
    trace_id = _hex_id(members.get(TRACE_ID), 32)
    span_id = _hex_id(members.get(SPAN_ID), 16)
    if trace_id is None or span_id is None:
        return None
    span_context = SpanContext(
        trace_id=trace_id,
        span_id=span_id,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(span_context), Context())


def _hex_id(value: object, digits: int) -> int | None:
    """A trace id (``digits`` 32) or span id (16) from its hex form, with or without a
    ``0x`` prefix; None unless it is one (zero is not)."""
    if not isinstance(value, str):
        return None
    text = value[2:] if value[:2] in ("0x", "0X") else value
    if not 0 < len(text) <= digits or not _HEX_DIGITS.issuperset(text):
        return None
    return int(text, 16) or None
