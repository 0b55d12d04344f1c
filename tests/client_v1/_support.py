"""Helpers of the esdbclient-1.x API tests: servers (plain, recording, projections),
stream names and events."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from esdb_wire import NewEvent, RecordedEvent
from esdb_wire.client import paths
from esdb_wire.server.embedded import build_methods
from esdb_wire.server.features import GossipService, ServerFeaturesService
from esdb_wire.server.host import GrpcHost
from esdb_wire.server.rpc import CallContext, Method
from esdb_wire.server.store import EventStore

# Every subscription and read in these tests gets a deadline: a missing event fails a
# test, it never hangs it.
DEADLINE = 10.0


def new_stream(prefix: str = "v1") -> str:
    """A stream name no other test uses (always the same length for one prefix)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def new_type(prefix: str = "Type") -> str:
    """An event type no other test uses (safe inside filter regexes)."""
    return f"{prefix}{uuid.uuid4().hex}"


def new_events(count: int, event_type: str = "Happened", *, start: int = 0) -> list[NewEvent]:
    """``count`` JSON events with distinct data and custom metadata."""
    return [
        NewEvent(
            type=event_type,
            data=b'{"n": %d}' % (start + i),
            metadata=b'{"m": %d}' % (start + i),
        )
        for i in range(count)
    ]


def assert_recorded(
    recorded: RecordedEvent,
    new: NewEvent,
    stream_name: str,
    stream_position: int,
    commit_position: int | None = None,
) -> None:
    """``recorded`` is ``new`` as written at ``stream_position`` (and ``commit_position``)."""
    assert type(recorded) is RecordedEvent
    assert recorded.id == new.id
    assert recorded.type == new.type
    assert recorded.data == new.data
    assert recorded.metadata == new.metadata
    assert recorded.content_type == new.content_type
    assert recorded.stream_name == stream_name
    assert recorded.stream_position == stream_position
    assert isinstance(recorded.commit_position, int)
    if commit_position is not None:
        assert recorded.commit_position == commit_position
    assert recorded.prepare_position == recorded.commit_position
    assert recorded.link is None
    assert recorded.retry_count is None
    assert recorded.ack_id == new.id
    assert not recorded.is_checkpoint
    assert not recorded.is_caught_up
    assert not recorded.is_resolved_event
    assert_recent(recorded)


def assert_recent(recorded: RecordedEvent) -> None:
    """``recorded_at`` is an aware UTC time within a minute of now."""
    recorded_at = recorded.recorded_at
    assert recorded_at is not None
    assert recorded_at.tzinfo is not None
    assert recorded_at.utcoffset() == datetime.timedelta(0)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - recorded_at).total_seconds()) < 60


def require_grpcio(kind: str) -> None:
    """Skip (or fail, where peers are required) a grpcio-hosted case without grpcio."""
    if kind == "grpcio":
        from tests.peers import require_peer  # noqa: PLC0415

        require_peer("grpc")


# ---- a server that records the calls it receives -----------------------------------


@dataclasses.dataclass(frozen=True)
class RecordedCall:
    """One rpc as the server saw it: its gRPC path and request metadata."""

    path: str
    metadata: Mapping[str, str]


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []
        self._lock = threading.Lock()

    def add(self, path: str, context: CallContext) -> None:
        with self._lock:
            self.calls.append(RecordedCall(path, dict(context.metadata)))

    def wrap(self, method: Method) -> Method:
        handler = method.handler
        path = method.path
        if method.server_streaming:

            async def streaming(argument: Any, context: CallContext) -> AsyncIterator[Any]:
                self.add(path, context)
                async for response in handler(argument, context):
                    yield response

            return dataclasses.replace(method, handler=streaming)

        async def single(argument: Any, context: CallContext) -> Any:
            self.add(path, context)
            return await handler(argument, context)

        return dataclasses.replace(method, handler=single)


class RecordingServer:
    """The embedded server's services on our transport or on grpcio, recording every call.

    ``batch_append=False``: no BatchAppend rpc, and ServerFeatures does not list it.
    ``server_features=False``: no ServerFeatures service (answers UNIMPLEMENTED).
    ``features_delays``: seconds the first ServerFeatures calls wait before answering.
    """

    def __init__(
        self,
        kind: str,
        *,
        batch_append: bool = True,
        server_features: bool = True,
        features_delays: Sequence[float] = (),
    ) -> None:
        self.kind = kind
        self._recorder = _Recorder()
        gossip = GossipService("127.0.0.1", 0)
        methods = build_methods(EventStore(), gossip)
        if features_delays:
            delays = list(features_delays)
            probe = methods[paths.SUPPORTED_METHODS]
            answer = probe.handler

            async def slow(request: Any, context: CallContext) -> Any:
                if delays:
                    await asyncio.sleep(delays.pop(0))
                return await answer(request, context)

            methods[paths.SUPPORTED_METHODS] = dataclasses.replace(probe, handler=slow)
        if not batch_append:
            del methods[paths.BATCH_APPEND]
            pairs = [
                ("event_store.client.streams.Streams", m.name)
                for m in methods.values()
                if m.path.startswith("/event_store.client.streams.Streams/")
            ]
            features = ServerFeaturesService(pairs)
            old = methods[paths.SUPPORTED_METHODS]
            methods[paths.SUPPORTED_METHODS] = dataclasses.replace(
                old, handler=features.GetSupportedMethods
            )
        if not server_features:
            del methods[paths.SUPPORTED_METHODS]
        wrapped = {path: self._recorder.wrap(method) for path, method in methods.items()}
        self._grpcio: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._host: GrpcHost | None = None
        if kind == "grpcio":
            from tests.grpcio_host import GrpcioHost  # noqa: PLC0415

            self._grpcio = GrpcioHost(wrapped)
            self.port: int = self._grpcio.port
        else:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
            self._host = GrpcHost(wrapped)
            start = self._host.start("127.0.0.1", 0)
            self.port = asyncio.run_coroutine_threadsafe(start, loop).result(30)
        gossip.port = self.port

    @property
    def uri(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def calls(self) -> list[RecordedCall]:
        return list(self._recorder.calls)

    def paths(self) -> list[str]:
        return [call.path for call in self.calls]

    def clear(self) -> None:
        self._recorder.calls.clear()

    def stop(self) -> None:
        if self._grpcio is not None:
            self._grpcio.stop()
            return
        loop, thread, host = self._loop, self._thread, self._host
        assert loop is not None
        assert thread is not None
        assert host is not None
        asyncio.run_coroutine_threadsafe(host.stop(0.2), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextmanager
def recording_server(
    kind: str,
    *,
    batch_append: bool = True,
    server_features: bool = True,
    features_delays: Sequence[float] = (),
) -> Iterator[RecordingServer]:
    require_grpcio(kind)
    server = RecordingServer(
        kind,
        batch_append=batch_append,
        server_features=server_features,
        features_delays=features_delays,
    )
    try:
        yield server
    finally:
        server.stop()


def rpc_name(path: str) -> str:
    """``/event_store.client.streams.Streams/Append`` -> ``Streams.Append``."""
    service, method = path[1:].rsplit("/", 1)
    return f"{service.rsplit('.', 1)[-1]}.{method}"


def skip_without_connection_strings(uri: str) -> None:
    """Skip unless ``esdb://`` connection strings parse (being implemented elsewhere)."""
    try:
        from esdb_wire.client.settings import settings_from_uri  # noqa: PLC0415

        settings_from_uri(uri)
    except Exception as exc:
        pytest.skip(f"esdb:// connection strings not usable yet: {exc!r}")
