"""Our gRPC server transport (GrpcHost) against grpcio's client and against our own client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from google.protobuf.wrappers_pb2 import BytesValue, StringValue

from esdb_wire.server.host import GrpcHost
from esdb_wire.server.rpc import CallContext, Method
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.status import StatusCode, StatusError
from tests.peers import require_peer

SERVICE = "/test.Host/"


class HostService:
    """Handlers of every shape, on BytesValue messages."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()

    async def Unary(self, request: BytesValue, context: CallContext) -> BytesValue:
        return BytesValue(value=request.value)

    async def Stream(self, request: BytesValue, context: CallContext) -> AsyncIterator[BytesValue]:
        count, size = (int(x) for x in request.value.decode().split(","))
        for index in range(count):
            yield BytesValue(value=index.to_bytes(8, "big") + b"x" * size)

    async def Collect(
        self, requests: AsyncIterator[BytesValue], context: CallContext
    ) -> BytesValue:
        total = count = 0
        async for request in requests:
            count += 1
            total += len(request.value)
        return BytesValue(value=f"{count},{total}".encode())

    async def Echo(
        self, requests: AsyncIterator[BytesValue], context: CallContext
    ) -> AsyncIterator[BytesValue]:
        async for request in requests:
            yield request

    async def Fail(self, request: BytesValue, context: CallContext) -> BytesValue:
        raise StatusError(
            StatusCode.FAILED_PRECONDITION,
            "Event stream 'x' is deleted.",
            trailing_metadata=(("exception", "stream-deleted"), ("stream-name", "x")),
        )

    async def Crash(self, request: BytesValue, context: CallContext) -> BytesValue:
        raise ValueError("bug")

    async def Wait(self, request: BytesValue, context: CallContext) -> BytesValue:
        try:
            await asyncio.sleep(float(request.value.decode()))
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return BytesValue(value=b"waited")

    async def Headers(self, request: BytesValue, context: CallContext) -> StringValue:
        context.set_trailers([("x-trailer", "t")])
        remaining = context.time_remaining()
        return StringValue(value=f"{context.metadata.get('x-key')}|{remaining is not None}")


SHAPES = {
    "Unary": (False, False, BytesValue),
    "Stream": (False, True, BytesValue),
    "Collect": (True, False, BytesValue),
    "Echo": (True, True, BytesValue),
    "Fail": (False, False, BytesValue),
    "Crash": (False, False, BytesValue),
    "Wait": (False, False, BytesValue),
    "Headers": (False, False, StringValue),
}


class RunningHost:
    """A GrpcHost on its own event loop thread."""

    def __init__(self) -> None:
        self.service = HostService()
        methods = {
            SERVICE + name: Method(
                path=SERVICE + name,
                name=name,
                request_type=BytesValue,
                response_type=response,
                client_streaming=client,
                server_streaming=server,
                handler=getattr(self.service, name),
            )
            for name, (client, server, response) in SHAPES.items()
        }
        self.host = GrpcHost(methods)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.host.start(), self.loop).result(10)

    def stop(self, grace: float = 1.0) -> None:
        asyncio.run_coroutine_threadsafe(self.host.stop(grace), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def running() -> Iterator[RunningHost]:
    host = RunningHost()
    yield host
    host.stop()


def wrap(value: bytes) -> bytes:
    return BytesValue(value=value).SerializeToString()


def unwrap(data: bytes | None) -> bytes:
    assert data is not None
    return BytesValue.FromString(data).value


def test_own_client_all_shapes(running: RunningHost) -> None:
    with Channel("127.0.0.1", running.port) as channel:
        assert unwrap(channel.unary_unary(SERVICE + "Unary", wrap(b"hi"))) == b"hi"
        stream = channel.unary_stream(SERVICE + "Stream", wrap(b"1000,100"))
        assert [int.from_bytes(unwrap(m)[:8], "big") for m in stream] == list(range(1000))
        collected = channel.stream_unary(SERVICE + "Collect", (wrap(b"a" * i) for i in range(100)))
        assert unwrap(collected) == f"100,{sum(range(100))}".encode()
        with channel.stream_stream(SERVICE + "Echo") as call:
            for index in range(20):
                call.send(wrap(str(index).encode()))
                assert unwrap(call.receive()) == str(index).encode()
            call.done_writing()
            assert call.receive() is None


def test_own_client_errors_and_unknown_methods(running: RunningHost) -> None:
    with Channel("127.0.0.1", running.port) as channel:
        with pytest.raises(StatusError) as info:
            channel.unary_unary(SERVICE + "Fail", wrap(b""))
        assert info.value.code is StatusCode.FAILED_PRECONDITION
        assert info.value.message == "Event stream 'x' is deleted."
        assert info.value.trailing_metadata == (
            ("exception", "stream-deleted"),
            ("stream-name", "x"),
        )
        with pytest.raises(StatusError) as crash:
            channel.unary_unary(SERVICE + "Crash", wrap(b""))
        assert crash.value.code is StatusCode.UNKNOWN
        assert crash.value.message == "Exception was thrown by handler."
        with pytest.raises(StatusError) as missing:
            channel.unary_unary(SERVICE + "Nope", wrap(b""))
        assert (missing.value.code, missing.value.message) == (
            StatusCode.UNIMPLEMENTED,
            "Method is unimplemented.",
        )
        with pytest.raises(StatusError) as no_service:
            channel.unary_unary("/other.Service/Nope", wrap(b""))
        assert no_service.value.message == "Service is unimplemented."


def test_own_client_deadline_and_cancel_reach_the_handler(running: RunningHost) -> None:
    with Channel("127.0.0.1", running.port) as channel:
        running.service.cancelled.clear()
        with pytest.raises(StatusError) as info:
            channel.unary_unary(SERVICE + "Wait", wrap(b"5"), timeout=0.2)
        assert info.value.code is StatusCode.DEADLINE_EXCEEDED
        assert running.service.cancelled.wait(3)
        running.service.cancelled.clear()
        call = channel.open_call(SERVICE + "Wait")
        call.send(wrap(b"5"), end=True)
        assert not call.wait(timeout=0.2)
        call.cancel()
        assert running.service.cancelled.wait(3)


def test_big_messages_both_ways(running: RunningHost) -> None:
    payload = bytes(range(256)) * 40000  # ~10 MB
    with Channel("127.0.0.1", running.port) as channel:
        assert unwrap(channel.unary_unary(SERVICE + "Unary", wrap(payload))) == payload


def test_grpcio_client_all_shapes(running: RunningHost) -> None:
    grpc: Any = require_peer("grpc")
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(f"127.0.0.1:{running.port}", options=options) as channel:
        unary = channel.unary_unary(SERVICE + "Unary")
        assert unwrap(unary(wrap(b"grpcio"), timeout=10)) == b"grpcio"
        stream = channel.unary_stream(SERVICE + "Stream")
        messages = list(stream(wrap(b"5000,300"), timeout=30))
        assert [int.from_bytes(unwrap(m)[:8], "big") for m in messages] == list(range(5000))
        collect = channel.stream_unary(SERVICE + "Collect")
        result = collect(iter([wrap(b"x" * 1000)] * 300), timeout=10)
        assert unwrap(result) == b"300,300000"
        echo = channel.stream_stream(SERVICE + "Echo")
        replies = list(echo(iter([wrap(str(i).encode()) for i in range(100)]), timeout=10))
        assert [unwrap(r) for r in replies] == [str(i).encode() for i in range(100)]
        big = bytes(range(256)) * 40000
        assert unwrap(unary(wrap(big), timeout=30)) == big
        headers = channel.unary_unary(SERVICE + "Headers")
        value, call = headers.with_call(wrap(b""), metadata=[("x-key", "v")], timeout=5)
        assert StringValue.FromString(value).value == "v|True"
        assert ("x-trailer", "t") in call.trailing_metadata()


def test_grpcio_client_sees_status_trailers_and_deadlines(running: RunningHost) -> None:
    grpc: Any = require_peer("grpc")
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        with pytest.raises(grpc.RpcError) as info:
            channel.unary_unary(SERVICE + "Fail")(wrap(b""), timeout=5)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert info.value.details() == "Event stream 'x' is deleted."
        assert ("exception", "stream-deleted") in info.value.trailing_metadata()
        with pytest.raises(grpc.RpcError) as late:
            channel.unary_unary(SERVICE + "Wait")(wrap(b"5"), timeout=0.3)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        with pytest.raises(grpc.RpcError) as missing:
            channel.unary_unary(SERVICE + "Nope")(wrap(b""), timeout=5)
        assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_graceful_stop_lets_open_calls_finish() -> None:
    host = RunningHost()
    with Channel("127.0.0.1", host.port) as channel:
        call = channel.open_call(SERVICE + "Wait")
        call.send(wrap(b"0.5"), end=True)
        assert not call.wait(timeout=0.1)
        stopper = threading.Thread(target=host.stop, args=(5,))
        stopper.start()
        assert unwrap(call.receive()) == b"waited"
        stopper.join(10)
        with pytest.raises(StatusError) as info:
            channel.unary_unary(SERVICE + "Unary", wrap(b""))
        assert info.value.code is StatusCode.UNAVAILABLE


def test_services_mount_on_grpcio_too() -> None:
    from tests.grpcio_host import GrpcioHost  # noqa: PLC0415

    service_host = RunningHost()  # only for its method table
    service_host.stop()
    host = GrpcioHost(service_host.host.methods)
    try:
        with Channel("127.0.0.1", host.port) as channel:
            assert (
                unwrap(channel.unary_unary(SERVICE + "Unary", wrap(b"via grpcio"))) == b"via grpcio"
            )
            stream = channel.unary_stream(SERVICE + "Stream", wrap(b"100,10"))
            assert len(list(stream)) == 100
            with pytest.raises(StatusError) as info:
                channel.unary_unary(SERVICE + "Fail", wrap(b""))
            assert info.value.code is StatusCode.FAILED_PRECONDITION
            assert info.value.message == "Event stream 'x' is deleted."
            assert info.value.trailing_metadata == (
                ("exception", "stream-deleted"),
                ("stream-name", "x"),
            )
            with pytest.raises(StatusError) as crash:
                channel.unary_unary(SERVICE + "Crash", wrap(b""))
            assert crash.value.message == "Exception was thrown by handler."
    finally:
        host.stop()
