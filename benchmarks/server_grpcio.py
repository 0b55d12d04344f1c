"""S1: a grpcio sync server, ``ThreadPoolExecutor(4)``, generic handlers, raw bytes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

from benchmarks.common import HOST, SERVICE, parse_stream_request


def _echo(request: bytes, context: Any) -> bytes:
    return request


def _stream(request: bytes, context: Any) -> Iterator[bytes]:
    count, size = parse_stream_request(request)
    message = b"x" * size
    for _ in range(count):
        yield message


def start() -> tuple[Any, int]:
    """The started server and its port on 127.0.0.1."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(_echo),
        "Stream": grpc.unary_stream_rpc_method_handler(_stream),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port: int = server.add_insecure_port(f"{HOST}:0")
    server.start()
    return server, port
