"""The embedded server under bad input, over real sockets: a clear status where one is
possible, no crash, no effect on other clients, and nothing half-written. On both server
HTTP/2 engines (see :func:`tests.engines.server_http2_engine`)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest

from esdb_wire import EsdbClient, NewEvent
from esdb_wire.client import paths
from esdb_wire.codec.events import proposed_message
from esdb_wire.codec.requests import append_requests, read_stream_request
from esdb_wire.protos import streams_pb2
from esdb_wire.server.embedded import EmbeddedServer
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.config import ConnectionConfig
from esdb_wire.transport.status import StatusCode, StatusError
from tests.engines import server_http2_engine

__all__ = ["server_http2_engine"]
pytestmark = pytest.mark.usefixtures("server_http2_engine")


@pytest.fixture(scope="module")
def server(server_http2_engine: str) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(http2_engine=server_http2_engine) as running:
        yield running


@pytest.fixture
def channel(server: EmbeddedServer) -> Iterator[Channel]:
    with Channel(server.host, server.port) as chan:
        yield chan


def assert_server_healthy(server: EmbeddedServer) -> None:
    with EsdbClient(uri=server.uri) as client:
        name = f"health-{uuid4()}"
        client.append_events(name, None, [NewEvent("Ok", b"{}")])
        assert client.get_stream_position(name) == 0


def test_malformed_protobuf_is_a_status(server: EmbeddedServer, channel: Channel) -> None:
    with pytest.raises(StatusError) as info:
        list(channel.unary_stream(paths.READ, b"\xff\xff\xff\xff garbage"))
    assert info.value.code is StatusCode.INTERNAL
    assert_server_healthy(server)


def test_unknown_method_is_unimplemented(channel: Channel) -> None:
    with pytest.raises(StatusError) as info:
        channel.unary_unary("/event_store.client.streams.Streams/Nope", b"")
    assert info.value.code is StatusCode.UNIMPLEMENTED


def test_invalid_option_combination_has_the_real_text(channel: Channel) -> None:
    request = streams_pb2.ReadReq.FromString(read_stream_request("s", limit=1))
    request.options.subscription.SetInParent()  # stream + subscription ...
    request.options.read_direction = streams_pb2.ReadReq.Options.Backwards  # ... backwards
    with pytest.raises(StatusError) as info:
        list(channel.unary_stream(paths.READ, request.SerializeToString()))
    assert info.value.code is StatusCode.INVALID_ARGUMENT
    assert info.value.message.startswith("The combination of")


def test_missing_required_metadata(channel: Channel) -> None:
    message = proposed_message(NewEvent("T", b"{}"))
    del message.metadata["content-type"]
    requests = [
        *append_requests(f"s-{uuid4()}", None, []),  # the options alone
        streams_pb2.AppendReq(proposed_message=message).SerializeToString(),
    ]
    with pytest.raises(StatusError) as info:
        channel.stream_unary(paths.APPEND, requests)
    assert info.value.code is StatusCode.INVALID_ARGUMENT
    assert info.value.metadata_value("exception") == "missing-required-metadata-property"


def test_oversized_grpc_message_is_refused(server: EmbeddedServer) -> None:
    config = ConnectionConfig(max_receive_message_size=64 * 1024 * 1024)
    requests = append_requests(f"s-{uuid4()}", None, [NewEvent("T", b"x" * (17 * 1024 * 1024))])
    with (
        Channel(server.host, server.port, config=config) as chan,
        pytest.raises(StatusError) as info,
    ):
        chan.stream_unary(paths.APPEND, requests)
    assert info.value.code is StatusCode.RESOURCE_EXHAUSTED
    assert_server_healthy(server)


def test_over_max_append_size_is_refused_with_the_exact_error(channel: Channel) -> None:
    name = f"s-{uuid4()}"
    requests = append_requests(name, None, [NewEvent("T", b"x" * 400_000) for _ in range(3)])
    with pytest.raises(StatusError) as info:
        channel.stream_unary(paths.APPEND, requests)
    assert info.value.code is StatusCode.INVALID_ARGUMENT
    assert info.value.message == "Maximum Append Size of 1048576 Exceeded."
    assert info.value.metadata_value("exception") == "maximum-append-size-exceeded"
    assert info.value.metadata_value("maximum-append-size") == "1048576"


def test_client_vanishing_mid_append_writes_nothing(server: EmbeddedServer) -> None:
    name = f"vanish-{uuid4()}"
    chan = Channel(server.host, server.port)
    call = chan.open_call(paths.APPEND)
    for request in append_requests(name, None, [NewEvent("T", b"{}") for _ in range(3)]):
        call.send(request)
    # Drop the TCP connection without ending the request stream.
    link = chan._link
    assert link is not None
    link.sock.shutdown(socket.SHUT_RDWR)
    time.sleep(0.3)
    with EsdbClient(uri=server.uri) as client:
        assert client.get_stream_position(name) is None
    assert_server_healthy(server)


def test_garbage_bytes_instead_of_http2(server: EmbeddedServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 10)
        raw.settimeout(5)
        try:
            while raw.recv(65536):
                pass
        except OSError:
            pass
    assert_server_healthy(server)
