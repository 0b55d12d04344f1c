"""OpenTelemetry tracing of the clients (the ``esdb-wire[opentelemetry]`` extra), with the
names of the official KurrentDB clients: tracer ``kurrentdb``; CLIENT spans
``streams.append`` and ``streams.multi-append`` around appends, whose events carry the
span in their metadata (``$traceId``, ``$spanId``); CONSUMER spans ``streams.subscribe``
per received event that carries one, continuing the appender's trace.

>>> from esdb_wire.instrumentation.opentelemetry import EsdbWireInstrumentor
>>> EsdbWireInstrumentor().instrument()  # doctest: +SKIP

It instruments the blocking and asyncio clients from outside, by wrapping their methods
(:mod:`.appends`, :mod:`.subscriptions`); ``uninstrument()`` puts the originals back. A
program that never calls ``instrument()`` never imports OpenTelemetry and its clients run
unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any, ClassVar

from opentelemetry import trace

from esdb_wire._version import __version__
from esdb_wire.instrumentation.opentelemetry.appends import (
    APPEND_METHODS,
    V05_APPEND_METHODS,
    traced_append,
)
from esdb_wire.instrumentation.opentelemetry.attributes import INSTRUMENTATION_NAME
from esdb_wire.instrumentation.opentelemetry.patching import ClassPatches, Wrapper
from esdb_wire.instrumentation.opentelemetry.propagation import extract_trace_context
from esdb_wire.instrumentation.opentelemetry.subscriptions import (
    SUBSCRIBE_METHODS,
    traced_anext,
    traced_next,
    traced_subscribe,
)

__all__ = [
    "INSTRUMENTATION_NAME",
    "EsdbWireInstrumentor",
    "extract_trace_context",
]

_log = logging.getLogger("esdb_wire.instrumentation")


class EsdbWireInstrumentor:
    """Traces the esdb_wire clients, blocking and asyncio (``EventStoreDBClient`` alias
    ``KurrentDBClient``, ``EsdbClient``, and their ``Async...`` twins), with
    OpenTelemetry.

    As OpenTelemetry's instrumentors are, it is a singleton: ``EsdbWireInstrumentor()`` is
    always the same object. ``instrument(tracer_provider=None)`` (the global provider when
    None) starts tracing every client, existing ones included; ``uninstrument()`` stops it.
    Instrumenting twice, or uninstrumenting when not instrumented, does nothing.
    """

    _instance: ClassVar[EsdbWireInstrumentor | None] = None
    _patches: ClassPatches

    def __new__(cls) -> EsdbWireInstrumentor:
        if cls._instance is None:
            instance = super().__new__(cls)
            instance._patches = ClassPatches()
            cls._instance = instance
        return cls._instance

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        """Whether the clients are instrumented now."""
        return bool(self._patches)

    def instrumentation_dependencies(self) -> Collection[str]:
        """The packages it instruments, as OpenTelemetry's instrumentors list them: none
        to check (the clients are part of this package)."""
        return ()

    def instrument(self, **kwargs: Any) -> None:
        """Start tracing, with the tracer of ``tracer_provider`` (the global provider when
        it is not given); other keyword arguments are accepted and ignored."""
        if self._patches:
            _log.warning("esdb_wire clients are already instrumented")
            return
        from esdb_wire import (  # noqa: PLC0415 (the clients load only when asked)
            AsyncCatchupSubscription,
            AsyncEsdbClient,
            AsyncEventStoreDBClient,
            AsyncPersistentSubscription,
            CatchupSubscription,
            EsdbClient,
            EventStoreDBClient,
            PersistentSubscription,
        )

        tracer = trace.get_tracer(
            INSTRUMENTATION_NAME, __version__, tracer_provider=kwargs.get("tracer_provider")
        )
        clients: tuple[type, ...] = (EventStoreDBClient, AsyncEventStoreDBClient)
        v05_clients: tuple[type, ...] = (EsdbClient, AsyncEsdbClient)
        replacements: list[tuple[tuple[type, ...], str, Wrapper]] = [
            *((clients, method.name, traced_append(method, tracer)) for method in APPEND_METHODS),
            *((clients, name, traced_subscribe(tracer)) for name in SUBSCRIBE_METHODS),
            *(
                (v05_clients, method.name, traced_append(method, tracer))
                for method in V05_APPEND_METHODS
            ),
            ((CatchupSubscription, PersistentSubscription), "__next__", traced_next),
            ((AsyncCatchupSubscription, AsyncPersistentSubscription), "__anext__", traced_anext),
        ]
        for owners, name, wrap in replacements:
            for owner in owners:
                self._patches.replace(owner, name, wrap)

    def uninstrument(self, **kwargs: Any) -> None:
        """Stop tracing: the clients' methods are the originals again."""
        self._patches.undo()
