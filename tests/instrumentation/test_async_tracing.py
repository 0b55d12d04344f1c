"""OpenTelemetry tracing of the asyncio clients against the embedded server, over loopback
sockets (asyncio: the source of ``test_sync_tracing.py``, made by ``scripts/unasync.py``):
span names, kinds, attributes and status; the trace context in the stored events'
metadata; subscribers continuing the appender's trace."""

from __future__ import annotations

import uuid

import pytest

from tests.peers import require_peer

require_peer("opentelemetry.sdk")

from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from esdb_wire import (  # noqa: E402
    AsyncCatchupSubscription,
    AsyncEsdbClient,
    AsyncEventStoreDBClient,
    AsyncPersistentSubscription,
    NewEvent,
    NewEvents,
    NewRecord,
    NotFound,
    RecordedEvent,
    StreamState,
    WrongCurrentVersion,
)
from esdb_wire.server.embedded import EmbeddedServer  # noqa: E402
from tests.instrumentation._recording import (  # noqa: E402
    Recorder,
    attributes,
    metadata_of,
    trace_ids,
)

# Every subscription here has a deadline: a missing event fails the test, never hangs it.
DEADLINE = 10.0


def new_stream() -> str:
    return f"traced-{uuid.uuid4().hex}"


async def next_event(
    subscription: AsyncCatchupSubscription | AsyncPersistentSubscription,
) -> RecordedEvent:
    async for event in subscription:
        return event
    raise AssertionError("the subscription ended")


def assert_client_attributes(span_attributes: dict[str, object], server: EmbeddedServer) -> None:
    assert span_attributes["db.system"] == "kurrentdb"
    assert span_attributes["server.address"] == "127.0.0.1"
    assert span_attributes["server.port"] == server.port


async def test_an_append_is_a_client_span_named_in_its_events_metadata(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    name = new_stream()
    events = [
        NewEvent(type="WithJson", data=b"{}", metadata=b'{"user": "u1"}'),
        NewEvent(type="WithNone", data=b"{}"),
        NewEvent(type="WithText", data=b"x", metadata=b"not json", content_type="text/plain"),
        NewEvent(type="WithList", data=b"{}", metadata=b"[1, 2]"),
    ]
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        position = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=events
        )
        recorded = await client.get_stream(name)

    span = recorder.only("streams.append")
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.OK
    assert span.parent is None
    span_attributes = attributes(span)
    assert_client_attributes(span_attributes, server)
    assert span_attributes["db.operation"] == "streams.append"
    assert span_attributes["db.kurrentdb.stream"] == name
    assert "db.user" not in span_attributes  # no credentials

    assert recorded[-1].commit_position == position
    assert [event.id for event in recorded] == [event.id for event in events]
    assert metadata_of(recorded[0]) == {"user": "u1", **trace_ids(span)}
    assert metadata_of(recorded[1]) == trace_ids(span)
    assert recorded[2].metadata == b"not json"  # neither empty nor a JSON object: as it was
    assert recorded[3].metadata == b"[1, 2]"
    assert events[0].metadata == b'{"user": "u1"}'  # the caller's events are not changed
    assert events[1].metadata == b""


async def test_append_event_and_append_events_have_one_span_each(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    name = new_stream()
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        await client.append_event(
            name, current_version=StreamState.NO_STREAM, event=NewEvent("One", b"{}")
        )
        await client.append_events(name, current_version=0, events=[NewEvent("Two", b"{}")])
        recorded = await client.get_stream(name)

    first, second = recorder.spans("streams.append")
    assert recorder.spans() == [first, second]
    assert metadata_of(recorded[0]) == trace_ids(first)
    assert metadata_of(recorded[1]) == trace_ids(second)


async def test_an_append_continues_the_callers_trace(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        name = new_stream()
        with recorder.tracer.start_as_current_span("place-order") as parent:
            await client.append_to_stream(
                name, current_version=StreamState.ANY, events=NewEvent("Placed", b"{}")
            )

    span = recorder.only("streams.append")
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.context is not None
    assert span.context.trace_id == parent.get_span_context().trace_id


async def test_db_user_is_the_connection_strings_or_the_calls_user(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    name = new_stream()
    uri = f"esdb://alice:s3cret@{server.uri}?Tls=false"
    async with AsyncEventStoreDBClient(uri) as client:
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=NewEvent("ByAlice", b"{}")
        )
        bob = client.construct_call_credentials("bob", "t0ps3cret")
        await client.append_to_stream(
            name, current_version=0, events=NewEvent("ByBob", b"{}"), credentials=bob
        )

    by_alice, by_bob = recorder.spans("streams.append")
    assert attributes(by_alice)["db.user"] == "alice"
    assert attributes(by_bob)["db.user"] == "bob"
    for span in (by_alice, by_bob):
        assert not any(
            "s3cret" in str(v) or "t0ps3cret" in str(v) for v in attributes(span).values()
        )


async def test_a_failed_append_has_error_status_and_the_exception(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    name = new_stream()
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        with pytest.raises(WrongCurrentVersion) as raised:
            await client.append_to_stream(name, current_version=5, events=NewEvent("Late", b"{}"))
        with pytest.raises(NotFound):
            await client.get_stream(name)  # nothing was written

    span = recorder.only("streams.append")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None
    assert "WrongCurrentVersion" in span.status.description
    (exception,) = [event for event in span.events if event.name == "exception"]
    exception_attributes = dict(exception.attributes or {})
    assert str(exception_attributes["exception.type"]).endswith("WrongCurrentVersion")
    assert exception_attributes["exception.message"] == str(raised.value)
    assert_client_attributes(attributes(span), server)


async def test_a_multi_stream_append_is_one_multi_append_span(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    first, second = new_stream(), new_stream()
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        await client.multi_append_to_stream(
            [
                NewEvents(first, [NewEvent("A", b"{}", b'{"k": "v"}')], StreamState.NO_STREAM),
                NewEvents(second, [NewEvent("B", b"{}")], StreamState.NO_STREAM),
            ]
        )
        in_first = await client.get_stream(first)
        in_second = await client.get_stream(second)

    span = recorder.only("streams.multi-append")
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.OK
    span_attributes = attributes(span)
    assert_client_attributes(span_attributes, server)
    assert span_attributes["db.operation"] == "streams.multi-append"
    assert "db.kurrentdb.stream" not in span_attributes  # many streams
    # The v2 API stores metadata members as the record's properties (and adds its own).
    assert metadata_of(in_first[0]).items() >= {"k": "v", **trace_ids(span)}.items()
    assert metadata_of(in_second[0]).items() >= trace_ids(span).items()


async def test_append_records_is_a_multi_append_span(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    name = new_stream()
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        await client.append_records(NewRecord(name, "Recorded", b"{}", metadata=b'{"k": 1}'))
        recorded = await client.get_stream(name)

    span = recorder.only("streams.multi-append")
    assert span.status.status_code is StatusCode.OK
    assert metadata_of(recorded[0]).items() >= {"k": 1, **trace_ids(span)}.items()


async def test_the_esdbclient_05_append_is_traced(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    name = new_stream()
    async with AsyncEsdbClient(server.uri) as client:
        await client.append_events(name, None, [NewEvent("Old", b"{}")])
        (recorded,) = [event async for event in client.read_stream_events(name)]

    span = recorder.only("streams.append")
    assert attributes(span)["db.kurrentdb.stream"] == name
    assert metadata_of(recorded) == trace_ids(span)


async def test_a_catch_up_subscriber_continues_the_appenders_trace(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    name = new_stream()
    untraced = NewEvent("Untraced", b"{}", metadata=b"not json")
    traced = NewEvent("Traced", b"{}")
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=[untraced, traced]
        )
        append = recorder.only("streams.append")
        async with await client.subscribe_to_stream(name, timeout=DEADLINE) as subscription:
            assert (await next_event(subscription)).id == untraced.id
            assert recorder.spans("streams.subscribe") == []  # no context to continue
            assert (await next_event(subscription)).id == traced.id
            subscription_id = subscription.subscription_id

    consumer = recorder.only("streams.subscribe")
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.status.status_code is StatusCode.OK
    assert consumer.parent is not None
    assert consumer.parent.is_remote
    assert append.context is not None
    assert consumer.parent.span_id == append.context.span_id
    assert consumer.context is not None
    assert consumer.context.trace_id == append.context.trace_id
    span_attributes = attributes(consumer)
    assert_client_attributes(span_attributes, server)
    assert span_attributes["db.operation"] == "streams.subscribe"
    assert span_attributes["db.kurrentdb.stream"] == name
    assert span_attributes["db.kurrentdb.subscription.id"] == subscription_id
    assert span_attributes["db.kurrentdb.event.id"] == str(traced.id)
    assert span_attributes["db.kurrentdb.event.type"] == "Traced"


async def test_a_subscriber_to_all_continues_the_appenders_trace(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    name = new_stream()
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=NewEvent("Traced", b"{}")
        )
        async with await client.subscribe_to_all(
            filter_include=(name,), filter_by_stream_name=True, timeout=DEADLINE
        ) as subscription:
            event = await next_event(subscription)

    append = recorder.only("streams.append")
    consumer = recorder.only("streams.subscribe")
    assert consumer.parent is not None
    assert append.context is not None
    assert consumer.parent.span_id == append.context.span_id
    assert attributes(consumer)["db.kurrentdb.event.id"] == str(event.id)


async def test_a_persistent_subscriber_continues_the_appenders_trace(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    name = new_stream()
    group = f"group-{uuid.uuid4().hex}"
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=NewEvent("Traced", b"{}")
        )
        await client.create_subscription_to_stream(group, name)
        async with await client.read_subscription_to_stream(
            group, name, timeout=DEADLINE
        ) as subscription:
            event = await next_event(subscription)
            await subscription.ack(event)
            subscription_id = subscription.subscription_id

    append = recorder.only("streams.append")
    consumer = recorder.only("streams.subscribe")
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.parent is not None
    assert append.context is not None
    assert consumer.parent.span_id == append.context.span_id
    span_attributes = attributes(consumer)
    assert span_attributes["db.kurrentdb.subscription.id"] == subscription_id
    assert span_attributes["db.kurrentdb.stream"] == name
    assert span_attributes["db.kurrentdb.event.id"] == str(event.id)


async def test_a_subscription_that_fails_to_start_has_an_error_span(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        with pytest.raises(NotFound):
            await client.read_subscription_to_stream("no-such-group", new_stream())

    span = recorder.only("streams.subscribe")
    assert span.kind is SpanKind.CONSUMER
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]
    assert_client_attributes(attributes(span), server)


async def test_a_secondary_index_subscriber_continues_the_appenders_trace(
    server: EmbeddedServer, recorder: Recorder
) -> None:
    category = f"cat{uuid.uuid4().hex[:12]}"
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        await client.append_to_stream(
            f"{category}-1",
            current_version=StreamState.NO_STREAM,
            events=NewEvent("Indexed", b"{}"),
        )
        async with await client.subscribe_to_index(
            f"ce-{category}", timeout=DEADLINE
        ) as subscription:
            event = await next_event(subscription)

    append = recorder.only("streams.append")
    consumer = recorder.only("streams.subscribe")
    assert consumer.parent is not None
    assert append.context is not None
    assert consumer.parent.span_id == append.context.span_id
    assert attributes(consumer)["db.kurrentdb.event.id"] == str(event.id)
