"""An independent gRPC peer for transport tests: a grpcio server with generic handlers.

Methods live under ``/test.Echo/``; requests and responses are raw bytes. Requests that
need parameters carry them as ASCII, e.g. ``b"1000,300"`` for 1000 messages of 300 bytes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

from esdb_wire.protos import code_pb2, shared_pb2, status_pb2
from esdb_wire.protos.wire_names import pack_any
from tests.peers import require_peer

SERVICE = "test.Echo"


def path(method: str) -> str:
    return f"/{SERVICE}/{method}"


class PeerState:
    """What the handlers observed, for assertions."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.lock = threading.Lock()
        self.concurrent = 0
        self.max_concurrent = 0
        self.release = threading.Event()


def _params(request: bytes) -> list[int]:
    return [int(part) for part in request.decode().split(",") if part]


class GrpcioPeer:
    """A running grpcio server on 127.0.0.1 (random port)."""

    def __init__(self, *, tls: tuple[bytes, bytes] | None = None, **server_options: Any) -> None:
        grpc = require_peer("grpc")
        self.grpc = grpc
        self.state = PeerState()
        options = [
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            *server_options.items(),
        ]
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=160), options=options)
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(self.unary),
            "Sized": grpc.unary_unary_rpc_method_handler(self.sized),
            "ServerStream": grpc.unary_stream_rpc_method_handler(self.server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(self.client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi),
            "Fail": grpc.unary_unary_rpc_method_handler(self.fail),
            "FailStreaming": grpc.unary_stream_rpc_method_handler(self.fail_streaming),
            "Sleep": grpc.unary_unary_rpc_method_handler(self.sleep),
            "Hold": grpc.unary_unary_rpc_method_handler(self.hold),
            "Metadata": grpc.unary_unary_rpc_method_handler(self.metadata),
        }
        generic = grpc.method_handlers_generic_handler(SERVICE, handlers)
        self.server.add_generic_rpc_handlers((generic,))
        if tls is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            credentials = grpc.ssl_server_credentials([(tls[1], tls[0])])
            self.port = self.server.add_secure_port("127.0.0.1:0", credentials)
        self.server.start()

    def stop(self, grace: float | None = None) -> None:
        self.server.stop(grace).wait(10)

    # -- handlers ---------------------------------------------------------------------

    def unary(self, request: bytes, context: Any) -> bytes:
        return request

    def sized(self, request: bytes, context: Any) -> bytes:
        (size,) = _params(request)
        return bytes(i % 251 for i in range(size))

    def server_stream(self, request: bytes, context: Any) -> Iterator[bytes]:
        count, size = _params(request)[:2]
        payload = b"x" * max(size - 8, 0)
        for index in range(count):
            yield index.to_bytes(8, "big") + payload

    def client_stream(self, requests: Iterator[bytes], context: Any) -> bytes:
        count = total = 0
        for request in requests:
            count += 1
            total += len(request)
        return f"{count},{total}".encode()

    def bidi(self, requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
        yield from requests

    def fail(self, request: bytes, context: Any) -> bytes:
        code_name, _, message = request.decode().partition(":")
        code = getattr(self.grpc.StatusCode, code_name)
        details = status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message=message)
        details.details.CopyFrom(pack_any(shared_pb2.AccessDenied()))
        context.set_trailing_metadata(
            (
                ("exception", "stream-deleted"),
                ("blob-bin", b"\x00\x01\xff"),
                ("grpc-status-details-bin", details.SerializeToString()),
            )
        )
        context.abort(code, message)
        raise AssertionError("unreachable")

    def fail_streaming(self, request: bytes, context: Any) -> Iterator[bytes]:
        count = _params(request)[0]
        for index in range(count):
            yield index.to_bytes(8, "big")
        context.abort(self.grpc.StatusCode.FAILED_PRECONDITION, "after messages")

    def sleep(self, request: bytes, context: Any) -> bytes:
        seconds = float(request.decode())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not context.is_active():
                self.state.cancelled.set()
                return b""
            time.sleep(0.01)
        return b"slept"

    def hold(self, request: bytes, context: Any) -> bytes:
        """Count concurrent calls and wait until released."""
        with self.state.lock:
            self.state.concurrent += 1
            self.state.max_concurrent = max(self.state.max_concurrent, self.state.concurrent)
        try:
            self.state.release.wait(30)
        finally:
            with self.state.lock:
                self.state.concurrent -= 1
        return request

    def metadata(self, request: bytes, context: Any) -> bytes:
        received = [
            (key, value) for key, value in context.invocation_metadata() if key.startswith("x-")
        ]
        context.send_initial_metadata((("x-initial", "hello"),))
        context.set_trailing_metadata(tuple(received))
        return repr(sorted(received)).encode()
