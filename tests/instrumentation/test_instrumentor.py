"""The instrumentor itself: what it replaces and puts back, that it costs nothing until
enabled (a fresh interpreter that uses the clients never imports OpenTelemetry), and the
trace context format in event metadata."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

from tests.peers import require_peer

require_peer("opentelemetry.sdk")

from opentelemetry.trace import (  # noqa: E402
    SpanContext,
    TraceFlags,
    format_span_id,
    format_trace_id,
    get_current_span,
)

import esdb_wire  # noqa: E402
from esdb_wire import (  # noqa: E402
    AsyncCatchupSubscription,
    AsyncEsdbClient,
    AsyncEventStoreDBClient,
    AsyncPersistentSubscription,
    CatchupSubscription,
    EsdbClient,
    EventStoreDBClient,
    NewEvent,
    PersistentSubscription,
    RecordedEvent,
    StreamState,
)
from esdb_wire.instrumentation.opentelemetry import (  # noqa: E402
    EsdbWireInstrumentor,
    extract_trace_context,
)
from esdb_wire.instrumentation.opentelemetry.propagation import (  # noqa: E402
    metadata_with_trace_context,
)
from esdb_wire.server.embedded import EmbeddedServer  # noqa: E402
from tests.instrumentation._recording import instrumented  # noqa: E402

CLASSES = (
    EventStoreDBClient,
    AsyncEventStoreDBClient,
    EsdbClient,
    AsyncEsdbClient,
    CatchupSubscription,
    AsyncCatchupSubscription,
    PersistentSubscription,
    AsyncPersistentSubscription,
)
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0x00F067AA0BA902B7


def own_attributes() -> dict[tuple[str, str], Any]:
    """What each client and subscription class defines itself."""
    return {(cls.__name__, name): value for cls in CLASSES for name, value in vars(cls).items()}


def recorded(metadata: bytes) -> RecordedEvent:
    return RecordedEvent("Happened", b"{}", metadata, "stream", 0, 0)


def test_uninstrument_puts_back_exactly_what_was_there() -> None:
    before = own_attributes()
    instrumentor = EsdbWireInstrumentor()
    assert not instrumentor.is_instrumented_by_opentelemetry
    with instrumented():
        assert instrumentor.is_instrumented_by_opentelemetry
        during = own_attributes()
        replaced = {key for key in during if during[key] is not before.get(key)}
        assert {
            ("EventStoreDBClient", "append_to_stream"),
            ("EventStoreDBClient", "multi_append_to_stream"),  # inherited: added for now
            ("EventStoreDBClient", "subscribe_to_all"),
            ("AsyncEventStoreDBClient", "read_subscription_to_stream"),
            ("EsdbClient", "append_events"),
            ("AsyncEsdbClient", "append_events"),
            ("CatchupSubscription", "__next__"),
            ("AsyncPersistentSubscription", "__anext__"),
        } <= replaced
        assert all(hasattr(during[key], "__wrapped__") for key in replaced)
    assert not instrumentor.is_instrumented_by_opentelemetry
    after = own_attributes()
    assert after.keys() == before.keys()
    assert all(after[key] is before[key] for key in before)


def test_it_is_one_instrumentor_and_instrumenting_twice_changes_nothing() -> None:
    assert EsdbWireInstrumentor() is EsdbWireInstrumentor()
    assert EsdbWireInstrumentor().instrumentation_dependencies() == ()
    with instrumented():
        once = own_attributes()
        EsdbWireInstrumentor().instrument()  # logged and ignored
        assert own_attributes() == once
    EsdbWireInstrumentor().uninstrument()  # not instrumented: nothing to do


def test_after_uninstrument_nothing_is_traced(server: EmbeddedServer) -> None:
    with instrumented() as recorder:
        pass
    name = f"untraced-{uuid.uuid4().hex}"
    with EventStoreDBClient(server.esdb_uri) as client:
        client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=NewEvent("Plain", b"{}")
        )
        (event,) = client.get_stream(name)
    assert event.metadata == b""
    assert recorder.spans() == []


def test_a_subscription_started_before_instrumenting_is_not_traced(
    server: EmbeddedServer,
) -> None:
    name = f"before-{uuid.uuid4().hex}"
    with EventStoreDBClient(server.esdb_uri) as client:
        subscription = client.subscribe_to_stream(name, timeout=10.0)
        with instrumented() as recorder:
            client.append_to_stream(
                name, current_version=StreamState.NO_STREAM, events=NewEvent("Traced", b"{}")
            )
            event = next(subscription)
            subscription.stop()
    assert extract_trace_context(event) is not None
    assert [span.name for span in recorder.spans()] == ["streams.append"]


def test_the_clients_never_import_opentelemetry_until_instrumented(
    server: EmbeddedServer,
) -> None:
    # The check means something only where OpenTelemetry could be imported.
    assert importlib.util.find_spec("opentelemetry") is not None
    script = textwrap.dedent(
        """
        import asyncio
        import sys

        from esdb_wire import (
            AsyncEventStoreDBClient, EventStoreDBClient, NewEvent, StreamState,
        )

        uri, name = sys.argv[1], sys.argv[2]
        with EventStoreDBClient(uri) as client:
            client.append_to_stream(
                name, current_version=StreamState.NO_STREAM, events=NewEvent("T", b"{}")
            )
            assert client.get_stream(name)[0].metadata == b""
            with client.subscribe_to_stream(name, timeout=10) as subscription:
                next(subscription)
            assert not hasattr(EventStoreDBClient.append_to_stream, "__wrapped__")

        async def main():
            async with AsyncEventStoreDBClient(uri) as client:
                await client.append_to_stream(
                    name, current_version=0, events=NewEvent("T", b"{}")
                )

        asyncio.run(main())
        loaded = [
            module for module in sys.modules
            if module.split(".")[0] == "opentelemetry"
            or module.startswith("esdb_wire.instrumentation")
        ]
        print(sorted(loaded))
        """
    )
    root = str(Path(esdb_wire.__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", script, server.esdb_uri, f"cost-{uuid.uuid4().hex}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_ids_are_written_as_w3c_hex_and_only_for_sampled_spans() -> None:
    sampled = SpanContext(TRACE_ID, SPAN_ID, False, TraceFlags(TraceFlags.SAMPLED))
    assert json.loads(metadata_with_trace_context(b" {} ", sampled)) == {
        "$traceId": "0af7651916cd43dd8448eb211c80319c",
        "$spanId": "00f067aa0ba902b7",
    }
    unsampled = SpanContext(TRACE_ID, SPAN_ID, False, TraceFlags(TraceFlags.DEFAULT))
    stale = b'{"$traceId": "1", "$spanId": "2", "k": 3}'
    assert json.loads(metadata_with_trace_context(stale, unsampled)) == {"k": 3}
    assert metadata_with_trace_context(b"", unsampled) == b""
    invalid = get_current_span().get_span_context()  # no span: tracing is off
    assert metadata_with_trace_context(b"", invalid) == b""
    assert metadata_with_trace_context(b"\xff", sampled) == b"\xff"


def test_a_trace_context_is_read_in_w3c_and_0x_forms() -> None:
    for trace_id, span_id in (
        (format_trace_id(TRACE_ID), format_span_id(SPAN_ID)),
        (hex(TRACE_ID), hex(SPAN_ID)),  # as kurrentdbclient and esdbclient write them
    ):
        metadata = json.dumps({"$traceId": trace_id, "$spanId": span_id}).encode()
        context = extract_trace_context(recorded(metadata))
        assert context is not None
        parent = get_current_span(context).get_span_context()
        assert (parent.trace_id, parent.span_id) == (TRACE_ID, SPAN_ID)
        assert parent.is_remote
        assert parent.trace_flags.sampled


def test_metadata_naming_no_trace_has_no_context() -> None:
    for metadata in (
        b"",
        b"not json",
        b'["$traceId", "$spanId"]',
        b'{"$traceId": "0af7651916cd43dd8448eb211c80319c"}',
        b'{"$traceId": "00000000000000000000000000000000", "$spanId": "00f067aa0ba902b7"}',
        b'{"$traceId": "0af7651916cd43dd8448eb211c80319c", "$spanId": "zz"}',
        b'{"$traceId": "0af7651916cd43dd8448eb211c80319c0", "$spanId": "00f067aa0ba902b7"}',
        b'{"$traceId": 1, "$spanId": 2}',
    ):
        assert extract_trace_context(recorded(metadata)) is None, metadata
