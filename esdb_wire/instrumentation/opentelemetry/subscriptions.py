"""Spans of subscriptions: one CONSUMER span ``streams.subscribe`` per received event whose
metadata names the span that appended it (see :mod:`.propagation`), continuing that trace,
as the official clients do. Catch-up subscriptions (``subscribe_to_all``,
``subscribe_to_stream``, ``subscribe_to_index``) and persistent ones
(``read_subscription_to_all``, ``read_subscription_to_stream``) alike.

A span has ``db.system``, ``db.operation``, ``db.user``, ``server.address``,
``server.port``, ``db.kurrentdb.subscription.id``, and the received event's
``db.kurrentdb.stream``, ``db.kurrentdb.event.id`` and ``db.kurrentdb.event.type`` (those
of the link, for a resolved link). It starts and ends as the event is handed over, with
status OK. A subscription that fails to start, or fails while iterated, gets an ERROR span
with the exception recorded.

Subscription objects stay what they are (same classes): the client methods register each
subscription they return, and the classes' ``__next__`` / ``__anext__`` trace only
registered ones.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from esdb_wire import RecordedEvent
from esdb_wire.instrumentation.opentelemetry.attributes import (
    DB_EVENT_ID,
    DB_EVENT_TYPE,
    DB_OPERATION,
    DB_STREAM,
    DB_SUBSCRIPTION_ID,
    STREAMS_SUBSCRIBE,
    AttributeValue,
    server_attributes,
    user_attributes,
)
from esdb_wire.instrumentation.opentelemetry.patching import Wrapper
from esdb_wire.instrumentation.opentelemetry.propagation import extract_trace_context

# The client methods that start a subscription.
SUBSCRIBE_METHODS = (
    "subscribe_to_all",
    "subscribe_to_stream",
    "subscribe_to_index",
    "read_subscription_to_all",
    "read_subscription_to_stream",
)


@dataclass(frozen=True)
class _Origin:
    """Where a subscription's events come from: the tracer, and the attributes of the
    client and call that started it."""

    tracer: Tracer
    attributes: dict[str, AttributeValue] = field(default_factory=dict)

    def received(self, subscription: Any, event: RecordedEvent) -> None:
        """The span of a received event, if its metadata names a trace to continue."""
        if event.is_checkpoint or event.is_caught_up:
            return
        context = extract_trace_context(event)
        if context is None:
            return
        delivered = event.link if event.link is not None else event
        attributes = dict(self.attributes)
        attributes[DB_SUBSCRIPTION_ID] = subscription.subscription_id
        attributes[DB_STREAM] = delivered.stream_name
        attributes[DB_EVENT_ID] = str(delivered.id)
        attributes[DB_EVENT_TYPE] = delivered.type
        span = self.tracer.start_span(
            STREAMS_SUBSCRIBE, context=context, kind=SpanKind.CONSUMER, attributes=attributes
        )
        span.set_status(Status(StatusCode.OK))
        span.end()

    def failed(self, error: Exception, subscription_id: str | None = None) -> None:
        """An ERROR span for a subscription that failed to start or while iterated."""
        attributes = dict(self.attributes)
        if subscription_id is not None:
            attributes[DB_SUBSCRIPTION_ID] = subscription_id
        span = self.tracer.start_span(
            STREAMS_SUBSCRIBE, kind=SpanKind.CONSUMER, attributes=attributes
        )
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()


# Subscription -> where its events come from (only the subscriptions the instrumented
# client methods returned; forgotten with the subscription).
_origins: weakref.WeakKeyDictionary[Any, _Origin] = weakref.WeakKeyDictionary()


def _origin_of_call(
    tracer: Tracer,
    signature: inspect.Signature,
    client: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> _Origin:
    try:
        arguments = signature.bind(client, *args, **kwargs).arguments
    except TypeError:  # a wrong call: the client method said so already
        arguments = {}
    attributes = user_attributes(client, arguments.get("credentials"))
    attributes[DB_OPERATION] = STREAMS_SUBSCRIBE
    attributes.update(server_attributes(client))
    return _Origin(tracer, attributes)


def traced_subscribe(tracer: Tracer) -> Wrapper:
    """What replaces a client method that starts a subscription: the same call, blocking or
    asyncio, registering the subscription it returns (or tracing its failure)."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(original)
        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def subscribe_async(client: Any, /, *args: Any, **kwargs: Any) -> Any:
                try:
                    subscription = await original(client, *args, **kwargs)
                except Exception as error:
                    _origin_of_call(tracer, signature, client, args, kwargs).failed(error)
                    raise
                _origins[subscription] = _origin_of_call(tracer, signature, client, args, kwargs)
                return subscription

            return subscribe_async

        @functools.wraps(original)
        def subscribe(client: Any, /, *args: Any, **kwargs: Any) -> Any:
            try:
                subscription = original(client, *args, **kwargs)
            except Exception as error:
                _origin_of_call(tracer, signature, client, args, kwargs).failed(error)
                raise
            _origins[subscription] = _origin_of_call(tracer, signature, client, args, kwargs)
            return subscription

        return subscribe

    return wrap


def traced_next(original: Callable[..., Any]) -> Callable[..., Any]:
    """What replaces a blocking subscription class's ``__next__``."""

    @functools.wraps(original)
    def __next__(subscription: Any) -> Any:
        origin = _origins.get(subscription)
        if origin is None:
            return original(subscription)
        try:
            event = original(subscription)
        except StopIteration:
            raise
        except Exception as error:
            origin.failed(error, subscription.subscription_id)
            raise
        origin.received(subscription, event)
        return event

    return __next__


def traced_anext(original: Callable[..., Any]) -> Callable[..., Any]:
    """What replaces an asyncio subscription class's ``__anext__``."""

    @functools.wraps(original)
    async def __anext__(subscription: Any) -> Any:
        origin = _origins.get(subscription)
        if origin is None:
            return await original(subscription)
        try:
            event = await original(subscription)
        except StopAsyncIteration:
            raise
        except Exception as error:
            origin.failed(error, subscription.subscription_id)
            raise
        origin.received(subscription, event)
        return event

    return __anext__
