"""The blocking driver against grpcio's server, over real loopback sockets."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from esdb_wire.protos import shared_pb2
from esdb_wire.protos.wire_names import unpack_any
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.status import StatusCode, StatusError
from tests.grpc_peer import GrpcioPeer, path

pytestmark = pytest.mark.usefixtures("http2_engine")  # both HTTP/2 engines

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def peer() -> Iterator[GrpcioPeer]:
    server = GrpcioPeer()
    yield server
    server.stop()


@pytest.fixture
def channel(peer: GrpcioPeer) -> Iterator[Channel]:
    with Channel("127.0.0.1", peer.port) as chan:
        yield chan


def test_unary(channel: Channel) -> None:
    assert channel.unary_unary(path("Unary"), b"hello") == b"hello"
    assert channel.unary_unary(path("Unary"), b"") == b""


def test_server_stream(channel: Channel) -> None:
    responses = list(channel.unary_stream(path("ServerStream"), b"1000,300"))
    assert len(responses) == 1000
    assert [int.from_bytes(r[:8], "big") for r in responses] == list(range(1000))
    assert all(len(r) == 300 for r in responses)


def test_client_stream(channel: Channel) -> None:
    requests = (bytes([i % 256]) * i for i in range(200))
    assert channel.stream_unary(path("ClientStream"), requests) == f"200,{sum(range(200))}".encode()


def test_bidi_interleaved(channel: Channel) -> None:
    with channel.stream_stream(path("Bidi")) as call:
        for index in range(50):
            call.send(str(index).encode())
            assert call.receive() == str(index).encode()
        call.done_writing()
        assert call.receive() is None
        assert call.code is StatusCode.OK


def test_hundred_concurrent_calls_from_threads(channel: Channel, peer: GrpcioPeer) -> None:
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            if index % 2:
                results[index] = channel.unary_unary(path("Unary"), str(index).encode() * 100)
            else:
                got = list(channel.unary_stream(path("ServerStream"), b"50,64"))
                results[index] = str(len(got)).encode()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    for index in range(100):
        expected = str(index).encode() * 100 if index % 2 else b"50"
        assert results[index] == expected


def test_hundred_concurrent_calls_single_thread(channel: Channel, peer: GrpcioPeer) -> None:
    calls = [channel.unary_stream(path("ServerStream"), f"{i + 1},32".encode()) for i in range(100)]
    counts = [sum(1 for _ in call) for call in reversed(calls)]
    assert counts == list(range(100, 0, -1))


def test_ten_mib_each_way(channel: Channel) -> None:
    payload = bytes(range(256)) * (10 * MiB // 256)
    assert channel.unary_unary(path("Unary"), payload) == payload
    response = channel.unary_unary(path("Sized"), str(10 * MiB).encode())
    assert len(response) == 10 * MiB
    assert response[:300] == bytes(i % 251 for i in range(300))


def test_hundred_thousand_small_messages(channel: Channel) -> None:
    count = 0
    for message in channel.unary_stream(path("ServerStream"), b"100000,16"):
        assert int.from_bytes(message[:8], "big") == count
        count += 1
    assert count == 100000


def test_error_with_trailers_and_details(channel: Channel) -> None:
    with pytest.raises(StatusError) as info:
        channel.unary_unary(path("Fail"), "NOT_FOUND:stream 'x' \u00e9 not found 100%".encode())
    error = info.value
    assert error.code is StatusCode.NOT_FOUND
    assert error.message == "stream 'x' \u00e9 not found 100%"
    assert error.metadata_value("exception") == "stream-deleted"
    assert error.metadata_value("blob-bin") == b"\x00\x01\xff"
    details = error.status_details
    assert details is not None
    assert details.message == "stream 'x' \u00e9 not found 100%"
    assert unpack_any(details.details, shared_pb2.AccessDenied) is not None


def test_error_after_messages_keeps_messages(channel: Channel) -> None:
    call = channel.unary_stream(path("FailStreaming"), b"3")
    received = [call.receive(), call.receive(), call.receive()]
    assert [int.from_bytes(m or b"", "big") for m in received] == [0, 1, 2]
    with pytest.raises(StatusError) as info:
        call.receive()
    assert info.value.code is StatusCode.FAILED_PRECONDITION


def test_unimplemented_method_is_trailers_only(channel: Channel) -> None:
    with pytest.raises(StatusError) as info:
        channel.unary_unary("/test.Echo/Missing", b"")
    assert info.value.code is StatusCode.UNIMPLEMENTED


def test_deadline_exceeded_locally_and_seen_by_server(channel: Channel, peer: GrpcioPeer) -> None:
    peer.state.cancelled.clear()
    started = time.monotonic()
    with pytest.raises(StatusError) as info:
        channel.unary_unary(path("Sleep"), b"5", timeout=0.3)
    assert info.value.code is StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 2
    assert peer.state.cancelled.wait(3)
    # The connection is still fine afterwards.
    assert channel.unary_unary(path("Unary"), b"after") == b"after"


def test_an_expired_deadline_never_reaches_the_server(channel: Channel, peer: GrpcioPeer) -> None:
    before = channel.unary_unary(path("Unary"), b"ping")
    assert before == b"ping"
    peer.state.cancelled.clear()
    for timeout in (0.0, -1.0):
        with pytest.raises(StatusError) as info:
            channel.unary_unary(path("Sleep"), b"5", timeout=timeout)
        assert info.value.code is StatusCode.DEADLINE_EXCEEDED
    # Nothing was started, so nothing was cancelled on the server's side.
    assert not peer.state.cancelled.wait(0.5)
    assert channel.unary_unary(path("Unary"), b"after") == b"after"


def test_client_cancellation_seen_by_server(channel: Channel, peer: GrpcioPeer) -> None:
    peer.state.cancelled.clear()
    call = channel.open_call(path("Sleep"))
    call.send(b"5", end=True)
    time.sleep(0.2)
    call.cancel()
    assert call.code is StatusCode.CANCELLED
    with pytest.raises(StatusError):
        call.receive()
    assert peer.state.cancelled.wait(3)


def test_closing_a_stream_iterator_early_cancels_it(channel: Channel) -> None:
    call = channel.unary_stream(path("ServerStream"), b"100000,300")
    assert next(call)
    call.close()
    assert call.code is StatusCode.CANCELLED
    assert channel.unary_unary(path("Unary"), b"still ok") == b"still ok"


def test_metadata_round_trip(channel: Channel) -> None:
    call = channel.open_call(
        path("Metadata"), metadata=[("x-text", "value"), ("x-data-bin", b"\x00\xfe")]
    )
    call.send(b"", end=True)
    assert call.initial_metadata() == (("x-initial", "hello"),)
    body = call.receive()
    assert body is not None
    assert call.receive() is None
    assert call.trailing_metadata == (("x-text", "value"), ("x-data-bin", b"\x00\xfe"))


def test_connection_refused_is_unavailable() -> None:
    with Channel("127.0.0.1", 1) as chan, pytest.raises(StatusError) as info:
        chan.unary_unary(path("Unary"), b"")
    assert info.value.code is StatusCode.UNAVAILABLE


def test_server_stopping_mid_stream_is_unavailable() -> None:
    peer = GrpcioPeer()
    with Channel("127.0.0.1", peer.port) as chan:
        call = chan.unary_stream(path("ServerStream"), b"100000000,300")
        assert next(call)
        peer.stop(0)
        started = time.monotonic()
        with pytest.raises(StatusError) as info:
            for _ in call:
                pass
        assert info.value.code in (StatusCode.UNAVAILABLE, StatusCode.CANCELLED)
        assert time.monotonic() - started < 10


def test_goaway_lets_open_calls_finish_and_moves_new_calls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="esdb_wire.transport")
    peer = GrpcioPeer()
    with Channel("127.0.0.1", peer.port) as chan:
        holding = chan.open_call(path("Sleep"))
        holding.send(b"1.0", end=True)
        time.sleep(0.1)
        stopper = threading.Thread(target=peer.stop, args=(5,))
        stopper.start()
        time.sleep(0.3)
        # Let the channel read the GOAWAY while the call is still open.
        assert not holding.wait(timeout=0.05)
        link = chan._link
        assert link is not None
        assert not link.core.accepting
        assert any("server sent GOAWAY" in r.getMessage() for r in caplog.records)
        assert holding.code is None
        assert holding.receive() == b"slept"
        stopper.join()
        with pytest.raises(StatusError) as info:
            chan.unary_unary(path("Unary"), b"")
        assert info.value.code is StatusCode.UNAVAILABLE
