"""esdbclient 1.1.7 against the embedded server: error mapping, limits, deadlines and gossip.

Spec references are to /work/shared/research/server-spec.md (§3.10, §3.12, §4, §6). A
proposed event without ``type``/``content-type`` metadata cannot be sent through esdbclient
(it always sets both), so that error is covered by the server's own tests, not here.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from esdb_wire.server.embedded import EmbeddedServer
from tests.conformance._peer import esdbclient_or_skip

esdbclient_or_skip()

from esdbclient import EventStoreDBClient, NewEvent, StreamState  # noqa: E402
from esdbclient.exceptions import (  # noqa: E402
    DeadlineExceeded,
    ExceptionThrownByHandler,
    GrpcDeadlineExceeded,
    GrpcError,
    MaximumAppendSizeExceededError,
    NotFound,
    WrongCurrentVersion,
)
from grpc import StatusCode  # noqa: E402

from tests.conformance._support import new_events, new_stream  # noqa: E402

MAX_APPEND_SIZE = 1_048_576
EVENT_TYPE = "Big"  # counts 2 bytes a character (§3.12)


def sized_event(size: int) -> NewEvent:
    """An event whose counted size (data + metadata + 2 * len(type)) is ``size``."""
    return NewEvent(
        type=EVENT_TYPE,
        data=b"x" * (size - 2 * len(EVENT_TYPE) - 10),
        metadata=b"m" * 10,
        content_type="application/octet-stream",
    )


# ---- append size -------------------------------------------------------------------


def test_append_of_exactly_the_maximum_size_succeeds(client: EventStoreDBClient) -> None:
    single, batch = new_stream(), new_stream()
    client.append_to_stream(
        single, current_version=StreamState.NO_STREAM, events=sized_event(MAX_APPEND_SIZE)
    )
    half = MAX_APPEND_SIZE // 2
    client.append_to_stream(
        batch,
        current_version=StreamState.NO_STREAM,
        events=[sized_event(half), sized_event(MAX_APPEND_SIZE - half)],
    )
    assert len(client.get_stream(single)[0].data) == MAX_APPEND_SIZE - 16
    assert [len(e.data) for e in client.get_stream(batch)] == [half - 16, half - 16]


def test_append_over_the_maximum_size_through_append(client: EventStoreDBClient) -> None:
    """Append rpc: INVALID_ARGUMENT with the server's text and trailers (§3.12)."""
    stream_name = new_stream()
    with pytest.raises(GrpcError) as caught:
        client.append_to_stream(
            stream_name,
            current_version=StreamState.ANY,
            events=sized_event(MAX_APPEND_SIZE + 1),
        )
    assert type(caught.value) is GrpcError  # esdbclient does not map INVALID_ARGUMENT
    assert "Maximum Append Size of 1048576 Exceeded." in str(caught.value)
    call: Any = caught.value.args[0]
    assert call.code() == StatusCode.INVALID_ARGUMENT
    assert call.details() == "Maximum Append Size of 1048576 Exceeded."
    trailers = dict(call.trailing_metadata())
    assert trailers["exception"] == "maximum-append-size-exceeded"
    assert trailers["maximum-append-size"] == "1048576"
    with pytest.raises(NotFound):
        client.get_stream(stream_name)


def test_append_over_the_maximum_size_through_batch_append(client: EventStoreDBClient) -> None:
    """BatchAppend: a MaximumAppendSizeExceeded status detail (§3.11)."""
    stream_name = new_stream()
    half = MAX_APPEND_SIZE // 2
    with pytest.raises(MaximumAppendSizeExceededError) as caught:
        client.append_to_stream(
            stream_name,
            current_version=StreamState.ANY,
            events=[sized_event(half), sized_event(MAX_APPEND_SIZE - half + 1)],
        )
    assert str(caught.value) == f"Max size is {MAX_APPEND_SIZE}"
    with pytest.raises(NotFound):
        client.get_stream(stream_name)


# ---- other errors ------------------------------------------------------------------


def test_wrong_current_version_is_exactly_that_class(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    client.append_to_stream(stream_name, current_version=StreamState.ANY, events=new_events(1))
    for events in (new_events(1)[0], new_events(1)):
        with pytest.raises(WrongCurrentVersion) as caught:
            client.append_to_stream(stream_name, current_version=3, events=events)
        assert type(caught.value) is WrongCurrentVersion
    with pytest.raises(WrongCurrentVersion) as caught:
        client.delete_stream(stream_name, current_version=3)
    assert type(caught.value) is WrongCurrentVersion


@pytest.mark.parametrize("stream_name", ["", "$$"])
def test_invalid_stream_names_make_the_handler_throw(
    client: EventStoreDBClient, stream_name: str
) -> None:
    """ "" and "$$" are invalid: UNKNOWN "Exception was thrown by handler." (§3.10)."""
    with pytest.raises(ExceptionThrownByHandler):
        client.get_stream(stream_name)
    with pytest.raises(ExceptionThrownByHandler):
        client.append_to_stream(
            stream_name, current_version=StreamState.ANY, events=new_events(1)[0]
        )
    with pytest.raises(ExceptionThrownByHandler):
        client.delete_stream(stream_name, current_version=StreamState.ANY)


def test_read_deadline(client: EventStoreDBClient) -> None:
    started = time.monotonic()
    subscription = client.subscribe_to_all(from_end=True, timeout=0.2)
    with pytest.raises(GrpcDeadlineExceeded) as caught:
        next(subscription)
    assert isinstance(caught.value, DeadlineExceeded)
    assert time.monotonic() - started < 5


def test_writes_with_a_deadline(server: EmbeddedServer) -> None:
    """A deadline travels as grpc-timeout, and BatchAppend also carries it as a Duration."""
    with_deadline = EventStoreDBClient(uri=f"{server.esdb_uri}&DefaultDeadline=5")
    try:
        stream_name = new_stream()
        events = new_events(3)
        with_deadline.append_to_stream(
            stream_name, current_version=StreamState.NO_STREAM, events=events[0]
        )
        with_deadline.append_to_stream(stream_name, current_version=0, events=events[1:])
        with_deadline.append_to_stream(
            stream_name, current_version=2, events=new_events(1), timeout=0.5
        )
        with_deadline.delete_stream(stream_name, current_version=3, timeout=0.5)
        with pytest.raises(NotFound):
            with_deadline.get_stream(stream_name, timeout=0.5)
    finally:
        with_deadline.close()


# ---- gossip (§6) -------------------------------------------------------------------


def test_read_gossip_reports_one_leader(client: EventStoreDBClient) -> None:
    (member,) = client.read_gossip()
    assert member.state == "NODE_STATE_LEADER"
    assert member.address == "127.0.0.1"


def test_read_gossip_reports_the_servers_port(
    client: EventStoreDBClient, server: EmbeddedServer
) -> None:
    (member,) = client.read_gossip()
    assert member.port == server.port


def test_discovery_through_gossip(server: EmbeddedServer) -> None:
    """Two seeds make esdbclient discover the leader through Gossip.Read first."""
    target = f"127.0.0.1:{server.port}"
    discovering = EventStoreDBClient(uri=f"esdb://{target},{target}?Tls=false")
    try:
        stream_name = new_stream()
        discovering.append_to_stream(
            stream_name, current_version=StreamState.NO_STREAM, events=new_events(1)
        )
        assert len(discovering.get_stream(stream_name)) == 1
        assert discovering.connection_target == target
    finally:
        discovering.close()
