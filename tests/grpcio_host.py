"""Mount :mod:`esdb_wire.server.rpc` services on a grpcio (grpc.aio) server.

The tests use it to run the embedded server's service logic on an independent gRPC
implementation, so the client is checked against a transport that is not ours.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Any

from esdb_wire.server.rpc import UNHANDLED_MESSAGE, Method
from esdb_wire.transport.status import StatusError
from tests.peers import require_peer


def _encoded(response: Any) -> bytes:
    return response if isinstance(response, bytes) else bytes(response.SerializeToString())


def _status_map(grpc: Any) -> dict[int, Any]:
    return {code.value[0]: code for code in grpc.StatusCode}


class GrpcioHost:
    """A grpc.aio server on its own event loop thread, serving ``methods``."""

    def __init__(self, methods: Mapping[str, Method], **options: Any) -> None:
        self.grpc = require_peer("grpc")
        self._codes = _status_map(self.grpc)
        self.methods = dict(methods)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(options), self.loop).result(30)

    async def _start(self, options: Mapping[str, Any]) -> int:
        grpc = self.grpc
        server_options = [
            ("grpc.max_receive_message_length", 17 * 1024 * 1024),
            ("grpc.max_send_message_length", 17 * 1024 * 1024),
            *options.items(),
        ]
        self.server = grpc.aio.server(options=server_options)
        by_service: dict[str, dict[str, Any]] = {}
        for method in self.methods.values():
            service, name = method.path[1:].rsplit("/", 1)
            by_service.setdefault(service, {})[name] = self._handler(method)
        for service, handlers in by_service.items():
            generic = grpc.method_handlers_generic_handler(service, handlers)
            self.server.add_generic_rpc_handlers((generic,))
        port = int(self.server.add_insecure_port("127.0.0.1:0"))
        await self.server.start()
        return port

    def stop(self, grace: float | None = 0.5) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(grace), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def _handler(self, method: Method) -> Any:
        grpc = self.grpc
        codes = self._codes
        parse = method.request_type.FromString

        async def fail(context: Any, error: BaseException) -> None:
            if isinstance(error, StatusError):
                trailers = [(k, v) for k, v in error.trailing_metadata]
                if error.details_bin is not None:
                    trailers.append(("grpc-status-details-bin", error.details_bin))
                await context.abort(codes[int(error.code)], error.message, tuple(trailers))
            await context.abort(grpc.StatusCode.UNKNOWN, UNHANDLED_MESSAGE)

        class Context:
            def __init__(self, context: Any) -> None:
                self._context = context
                self.metadata = {k: v for k, v in context.invocation_metadata() or ()}
                self.peer = context.peer()

            def time_remaining(self) -> float | None:
                remaining = self._context.time_remaining()
                return None if remaining is None else float(remaining)

            def set_trailers(self, trailers: Any) -> None:
                self._context.set_trailing_metadata(tuple(trailers))

        async def requests_of(iterator: AsyncIterator[bytes]) -> AsyncIterator[Any]:
            async for data in iterator:
                yield parse(data)

        if method.client_streaming and method.server_streaming:

            async def bidi(requests: Any, context: Any) -> AsyncIterator[bytes]:
                try:
                    async for response in method.handler(requests_of(requests), Context(context)):
                        yield _encoded(response)
                except (StatusError, Exception) as error:
                    await fail(context, error)

            return grpc.stream_stream_rpc_method_handler(bidi)
        if method.client_streaming:

            async def collect(requests: Any, context: Any) -> bytes:
                try:
                    response = await method.handler(requests_of(requests), Context(context))
                except (StatusError, Exception) as error:
                    await fail(context, error)
                return bytes(response.SerializeToString())

            return grpc.stream_unary_rpc_method_handler(collect)
        if method.server_streaming:

            async def stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
                try:
                    async for response in method.handler(parse(request), Context(context)):
                        yield _encoded(response)
                except (StatusError, Exception) as error:
                    await fail(context, error)

            return grpc.unary_stream_rpc_method_handler(stream)

        async def unary(request: bytes, context: Any) -> bytes:
            try:
                response = await method.handler(parse(request), Context(context))
            except (StatusError, Exception) as error:
                await fail(context, error)
            return bytes(response.SerializeToString())

        return grpc.unary_unary_rpc_method_handler(unary)
