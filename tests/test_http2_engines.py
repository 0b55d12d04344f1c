"""Which HTTP/2 engine a client runs on: ``h2`` by default, ``native`` when asked for.

The server runs in another process, so every ``h2.connection.H2Connection`` created in
this process during a test is the client's.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import h2.connection
import pytest

import esdb_wire
from esdb_wire.transport.aio import AsyncChannel
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.config import ConnectionConfig
from esdb_wire.transport.connection import ClientConnection
from esdb_wire.transport.http2.client import ClientHttp2Connection
from esdb_wire.transport.http2.engine import DEFAULT_ENGINE, ENGINES
from esdb_wire.transport.http2.h2_engine import H2Engine

CLIENTS = [
    esdb_wire.EsdbClient,
    esdb_wire.EventStoreDBClient,
    esdb_wire.AsyncEsdbClient,
    esdb_wire.AsyncEventStoreDBClient,
]


@pytest.fixture(scope="module")
def server_address() -> Iterator[str]:
    """``host:port`` of an embedded server running in a child process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "esdb_wire.server", "--port", "0", "--insecure"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on esdb://" in line, line
        yield line.split("esdb://")[1].split("?")[0]
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture
def h2_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ``H2Connection`` constructed in this process while the test runs."""
    created: list[Any] = []
    original = h2.connection.H2Connection.__init__

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        created.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(h2.connection.H2Connection, "__init__", counting_init)
    return created


def _use(client_class: Any, address: str, **kwargs: Any) -> None:
    """Append and read back one event through a fresh client."""
    stream = f"engine-{uuid4()}"
    event = esdb_wire.NewEvent(type="Checked", data=b"{}")
    no_stream = esdb_wire.StreamState.NO_STREAM
    if client_class.__name__.startswith("Async"):

        async def run() -> None:
            client = client_class(address, **kwargs)
            try:
                await client.append_to_stream(stream, current_version=no_stream, events=[event])
                assert await client.get_current_version(stream) == 0
            finally:
                await client.close()

        asyncio.run(run())
    else:
        with client_class(address, **kwargs) as client:
            client.append_to_stream(stream, current_version=no_stream, events=[event])
            assert client.get_current_version(stream) == 0


def test_h2_is_the_default() -> None:
    assert DEFAULT_ENGINE == "h2"
    assert ENGINES == ("h2", "native")
    assert ConnectionConfig().http2_engine is None  # None means the default
    assert isinstance(ClientConnection("a")._http2, H2Engine)


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda c: c.__name__)
def test_a_default_client_runs_on_h2(
    client_class: Any, server_address: str, h2_connections: list[Any]
) -> None:
    _use(client_class, server_address)
    assert len(h2_connections) == 1  # one connection, on h2
    assert all(isinstance(conn, h2.connection.H2Connection) for conn in h2_connections)


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda c: c.__name__)
def test_a_native_client_creates_no_h2_connection(
    client_class: Any, server_address: str, h2_connections: list[Any]
) -> None:
    _use(client_class, server_address, http2_engine="native")
    assert h2_connections == []


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda c: c.__name__)
def test_h2_can_be_named(client_class: Any, server_address: str, h2_connections: list[Any]) -> None:
    _use(client_class, server_address, http2_engine="h2")
    assert len(h2_connections) == 1


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda c: c.__name__)
def test_an_unknown_engine_is_refused_at_construction(client_class: Any) -> None:
    with pytest.raises(ValueError, match=r"unknown http2_engine 'nghttp2'.*'h2', 'native'"):
        client_class("localhost:2113", http2_engine="nghttp2")


def test_channels_take_the_engine_keyword() -> None:
    assert Channel("localhost", 1).config.http2_engine is None
    assert Channel("localhost", 1, http2_engine="native").config.http2_engine == "native"
    assert AsyncChannel("localhost", 1, http2_engine="h2").config.http2_engine == "h2"
    for factory in (Channel, AsyncChannel):
        with pytest.raises(ValueError, match="unknown http2_engine"):
            factory("localhost", 1, http2_engine="H2")
    with pytest.raises(ValueError, match="unknown http2_engine"):
        ConnectionConfig(http2_engine="")


def test_each_engine_backs_the_grpc_layer() -> None:
    native = ClientConnection("a", config=ConnectionConfig(http2_engine="native"))
    assert isinstance(native._http2, ClientHttp2Connection)
    on_h2 = ClientConnection("a", config=ConnectionConfig(http2_engine="h2"))
    assert isinstance(on_h2._http2, H2Engine)
    assert isinstance(on_h2._http2.connection, h2.connection.H2Connection)


def test_the_connection_string_has_no_engine_key() -> None:
    """The engine is a constructor keyword; connection strings keep the official keys."""
    with pytest.raises(Exception, match=r"(?i)http2engine|unknown|invalid"):
        esdb_wire.EventStoreDBClient("esdb://localhost:2113?Tls=false&Http2Engine=native")
