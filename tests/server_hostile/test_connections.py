"""Connections that never start, never end or never do anything (issue 15, server item 7):
the handshake/preface timeout, the idle timeout, and the cap on open connections (room is
made by closing the connection idle the longest)."""

from __future__ import annotations

import contextlib
import socket
import time
from uuid import uuid4

from esdb_wire import EventStoreDBClient, NewEvent, StreamState
from tests.server_hostile.raw import PREFACE, RawPeer, request_headers
from tests.server_hostile.support import (
    MIB,
    STRICT,
    assert_serves,
    growth_mib,
    report,
    server_process,
)


def _closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except socket.timeout:
        return False
    except OSError:
        pass
    return True


def test_many_idle_sockets_do_not_lock_clients_out() -> None:
    """The issue's 20,000 idle sockets, scaled to the cap: 1,000 sockets against a server
    taking 200 connections; they never send a preface."""
    with server_process("--max-connections", "200", "--handshake-timeout", "2") as server:
        before = server.rss()
        sockets = []
        try:
            for _ in range(1000):
                sockets.append(socket.create_connection((server.host, server.port), timeout=5))
            took = assert_serves(server.uri)  # while they are all open
            deadline = time.monotonic() + 5
            closed = sum(
                _closed_by_server(s, max(0.01, deadline - time.monotonic())) for s in sockets
            )
            after = server.rss()
        finally:
            for sock in sockets:
                sock.close()
        assert_serves(server.uri)
    report(
        "idle sockets",
        [
            f"{closed}/1000 closed by the server",
            f"client {took * 1000:.0f} ms",
            f"RSS {before / MIB:.0f} -> {after / MIB:.0f} MiB",
        ],
    )
    assert closed == 1000
    assert took < 5
    assert not STRICT or growth_mib(before, after) < 50


def test_slowloris_preface_and_headers_are_timed_out() -> None:
    with server_process("--handshake-timeout", "1", "--idle-timeout", "1") as server:
        slow_preface = socket.create_connection((server.host, server.port))
        slow_headers = RawPeer(server.host, server.port)
        frame = slow_headers.headers(1, request_headers()).serialize()
        started = time.monotonic()
        try:
            for index in range(30):  # one byte every 100 ms of each
                if index < len(PREFACE):
                    with contextlib.suppress(OSError):
                        slow_preface.sendall(PREFACE[index : index + 1])
                slow_headers.send(frame[index : index + 1])
                time.sleep(0.1)
            assert _closed_by_server(slow_preface, 1)
            assert slow_headers.wait_closed(1)
            assert time.monotonic() - started < 5
            assert_serves(server.uri)
        finally:
            slow_preface.close()
            slow_headers.close()


def test_idle_connections_are_closed_and_clients_reconnect() -> None:
    with server_process("--idle-timeout", "0.5") as server:
        with RawPeer(server.host, server.port) as idle:
            assert idle.goaway(3) is not None  # GOAWAY(NO_ERROR) after 0.5 s without calls
        with EventStoreDBClient(uri=server.uri) as client:
            name = f"idle-{uuid4()}"
            client.append_to_stream(
                name, current_version=StreamState.ANY, events=NewEvent("A", b"{}")
            )
            time.sleep(1.2)  # the server closes the idle connection meanwhile
            client.append_to_stream(
                name, current_version=StreamState.ANY, events=NewEvent("B", b"{}")
            )
            assert [e.type for e in client.get_stream(name)] == ["A", "B"]


def test_at_the_cap_the_longest_idle_connection_makes_room() -> None:
    with server_process("--max-connections", "5") as server:
        peers = [RawPeer(server.host, server.port) for _ in range(5)]
        try:
            for peer in peers:
                assert peer.ping_roundtrip()
            assert_serves(server.uri)  # a sixth connection
            assert peers[0].goaway(3) is not None  # the longest idle made room
        finally:
            for peer in peers:
                peer.close()
