"""One deadline per operation: every non-subscription call ends within its deadline
(+ 0.5 s) whatever the server does, and a call whose deadline has passed is never sent.

The servers here misbehave on purpose, all on 127.0.0.1: one accepts and never answers,
one never accepts (its backlog is full, so a connect hangs), one stops reading what it is
sent. Each scenario runs on both drivers and both HTTP/2 engines.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest

from esdb_wire import EventStoreDBClient, NewEvent, StreamState
from esdb_wire.exceptions import DeadlineExceeded, EventStoreDBClientException
from esdb_wire.server.embedded import EmbeddedServer
from esdb_wire.transport.http2 import frames as f
from tests.faults.conftest import Connect

SLACK = 0.5  # how far past its deadline a call may end


class SilentServer:
    """Accepts every connection and reads everything; answers nothing. With
    ``settings``, it first sends a SETTINGS frame with the largest windows, so a client
    may send as much as it likes; with ``read=False`` it then never reads."""

    def __init__(self, *, settings: bool = False, read: bool = True) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.port: int = self.listener.getsockname()[1]
        self._settings = settings
        self._read = read
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ)
        greeting = f.encode_settings([(f.SETTINGS_INITIAL_WINDOW_SIZE, 2**31 - 1)])
        greeting += f.encode_window_update(0, 2**31 - 1 - 65535)
        while not self._stop.is_set():
            for key, _ in selector.select(0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.listener:
                    conn, _ = self.listener.accept()
                    self._sockets.append(conn)
                    if self._settings:
                        conn.sendall(greeting)
                    if self._read:
                        conn.setblocking(False)
                        selector.register(conn, selectors.EVENT_READ)
                    else:
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    continue
                try:
                    if not sock.recv(65536):
                        selector.unregister(sock)
                except OSError:
                    selector.unregister(sock)
        selector.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in [self.listener, *self._sockets]:
            sock.close()


class FullBacklog:
    """A listener that never accepts, its accept queue filled: a connect hangs."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port: int = self.listener.getsockname()[1]
        self._fillers: list[socket.socket] = []
        for _ in range(8):  # more than the queue holds; the extra ones just wait
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
            self._fillers.append(filler)
        time.sleep(0.1)

    def close(self) -> None:
        for sock in [*self._fillers, self.listener]:
            sock.close()


def uri(port: int, options: str = "") -> str:
    base = f"esdb://127.0.0.1:{port}?Tls=false&KeepAliveInterval=-1&MaxDiscoverAttempts=1"
    return base + (f"&{options}" if options else "")


EVENTS = [NewEvent(type="T", data=b"{}"), NewEvent(type="T", data=b"{}")]

# (method, args, kwargs) of every non-subscription call; "name" stands for a stream.
CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("append_to_stream", ("name",), {"current_version": StreamState.ANY, "events": EVENTS[0]}),
    ("append_to_stream", ("name",), {"current_version": StreamState.ANY, "events": EVENTS}),
    ("get_stream", ("name",), {}),
    ("get_current_version", ("name",), {}),
    ("get_commit_position", (), {}),
    ("get_stream_metadata", ("name",), {}),
    ("set_stream_metadata", ("name",), {"metadata": {"a": 1}}),
    ("delete_stream", ("name",), {"current_version": StreamState.ANY}),
    ("tombstone_stream", ("name",), {"current_version": StreamState.ANY}),
    ("create_subscription_to_stream", ("group", "name"), {}),
    ("get_subscription_info", ("group",), {"stream_name": "name"}),
    ("list_subscriptions", (), {}),
    ("read_gossip", (), {}),
]


def _each_call_fails_in_time(
    connect: Connect, address: str, deadline: float, per_call: bool
) -> None:
    driver = connect(address)
    late: list[str] = []
    for method, template_args, template_kwargs in CALLS:
        if method == "read_gossip" and not per_call:
            continue  # its default deadline is the connection string's GossipTimeout
        stream = f"deadline-{uuid4()}"
        args = tuple(stream if arg == "name" else arg for arg in template_args)
        kwargs = dict(template_kwargs)
        if per_call:
            kwargs["timeout"] = deadline
        if "stream_name" in kwargs:
            kwargs["stream_name"] = stream
        started = time.monotonic()
        with pytest.raises(EventStoreDBClientException):
            driver.call(method, *args, **kwargs)
        took = time.monotonic() - started
        if took > deadline + SLACK:
            late.append(f"{method}: {took:.2f} s")
    assert late == [], f"past the {deadline} s deadline + {SLACK} s: {late}"


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def test_calls_to_a_server_that_never_answers_end_at_their_timeout(
    connect: Connect, silent: SilentServer
) -> None:
    _each_call_fails_in_time(connect, uri(silent.port), 0.6, per_call=True)


def test_default_deadline_bounds_every_call_reads_included(
    connect: Connect, silent: SilentServer
) -> None:
    _each_call_fails_in_time(connect, uri(silent.port, "DefaultDeadline=600"), 0.6, per_call=False)


def test_a_connect_that_hangs_ends_at_the_deadline(connect: Connect) -> None:
    backlog = FullBacklog()
    try:
        driver = connect(uri(backlog.port))
        for timeout in (0.5, 1.0):
            started = time.monotonic()
            with pytest.raises(EventStoreDBClientException):
                driver.call("get_commit_position", timeout=timeout)
            assert time.monotonic() - started < timeout + SLACK
    finally:
        backlog.close()


def test_a_write_blocked_by_a_server_that_stopped_reading_ends_at_the_deadline(
    connect: Connect,
) -> None:
    server = SilentServer(settings=True, read=False)
    try:
        driver = connect(uri(server.port))
        big = NewEvent(type="Big", data=b"x" * (12 * 1024 * 1024))
        started = time.monotonic()
        with pytest.raises(EventStoreDBClientException):
            driver.call(
                "append_to_stream",
                f"blocked-{uuid4()}",
                current_version=StreamState.ANY,
                events=big,
                timeout=1.0,
            )
        assert time.monotonic() - started < 1.0 + SLACK
    finally:
        server.close()


@pytest.fixture(scope="module")
def roomy_server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(max_append_size=64 * 1024 * 1024) as running:
        yield running


@pytest.mark.parametrize("timeout", [-1.0, 0.0, 1e-6])
def test_an_append_whose_deadline_has_passed_is_never_written(
    connect: Connect, server: EmbeddedServer, timeout: float
) -> None:
    driver = connect(server.uri)
    stream = f"expired-{uuid4()}"
    for _ in range(30):
        with pytest.raises(DeadlineExceeded):
            driver.call(
                "append_to_stream",
                stream,
                current_version=StreamState.ANY,
                events=NewEvent(type="Never", data=b"{}"),
                timeout=timeout,
            )
    with EventStoreDBClient(server.uri) as check:
        assert check.get_current_version(stream) is StreamState.NO_STREAM
