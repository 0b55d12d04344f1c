"""Spans around appends: ``streams.append`` (to one stream) and ``streams.multi-append``
(to many streams atomically: ``AppendSession``, ``AppendRecords``), CLIENT spans whose
appended events name them in their metadata (see :mod:`.propagation`).

A span has ``db.system``, ``db.operation`` (its name), ``db.user``, ``db.kurrentdb.stream``
(one stream only), and ``server.address`` / ``server.port`` of the node that took the
call. It ends with status OK, or ERROR with the exception recorded.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from esdb_wire.instrumentation.opentelemetry.attributes import (
    DB_OPERATION,
    DB_STREAM,
    STREAMS_APPEND,
    STREAMS_MULTI_APPEND,
    server_attributes,
    user_attributes,
)
from esdb_wire.instrumentation.opentelemetry.patching import Wrapper
from esdb_wire.instrumentation.opentelemetry.propagation import events_with_trace_context


@dataclass(frozen=True)
class AppendMethod:
    """A client method that appends: its name, its span's name, the parameter holding the
    events and the one naming the stream (None: many streams)."""

    name: str
    span_name: str
    events_parameter: str
    stream_parameter: str | None


# The 1.x clients' appends (append_event and append_events go through append_to_stream).
APPEND_METHODS = (
    AppendMethod("append_to_stream", STREAMS_APPEND, "events", "stream_name"),
    AppendMethod("multi_append_to_stream", STREAMS_MULTI_APPEND, "events", None),
    AppendMethod("append_records", STREAMS_MULTI_APPEND, "records", None),
)
# The esdbclient 0.5 clients' own append.
V05_APPEND_METHODS = (AppendMethod("append_events", STREAMS_APPEND, "events", "stream_name"),)


def traced_append(method: AppendMethod, tracer: Tracer) -> Wrapper:
    """What replaces the client method ``original`` that ``method`` describes: the same
    call, blocking or asyncio, inside its span."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(original)
        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def traced_async(client: Any, /, *args: Any, **kwargs: Any) -> Any:
                with _append_span(tracer, method, signature, client, args, kwargs) as call:
                    return await original(*call.args, **call.kwargs)

            return traced_async

        @functools.wraps(original)
        def traced(client: Any, /, *args: Any, **kwargs: Any) -> Any:
            with _append_span(tracer, method, signature, client, args, kwargs) as call:
                return original(*call.args, **call.kwargs)

        return traced

    return wrap


@contextmanager
def _append_span(
    tracer: Tracer,
    method: AppendMethod,
    signature: inspect.Signature,
    client: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Iterator[inspect.BoundArguments]:
    """The span of one append; yields the call's arguments, its events now naming it."""
    call = signature.bind(client, *args, **kwargs)  # a wrong call fails as it would have
    arguments = call.arguments
    attributes = user_attributes(client, arguments.get("credentials"))
    attributes[DB_OPERATION] = method.span_name
    stream_name = arguments.get(method.stream_parameter) if method.stream_parameter else None
    if isinstance(stream_name, str):
        attributes[DB_STREAM] = stream_name
    with tracer.start_as_current_span(
        method.span_name, kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        try:
            if method.events_parameter in arguments:
                arguments[method.events_parameter] = events_with_trace_context(
                    arguments[method.events_parameter], span.get_span_context()
                )
            yield call
            span.set_status(Status(StatusCode.OK))
        finally:
            if span.is_recording():  # the node is known once the call is made
                span.set_attributes(server_attributes(client))
