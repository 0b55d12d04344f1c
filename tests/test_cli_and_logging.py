"""The commands as a user meets them (``esdb-wire-server``, ``python -m esdb_wire.devcerts``)
and the client's logging of its connection events (never with credentials)."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from esdb_wire import (
    AsyncEventStoreDBClient,
    EmbeddedServer,
    EventStoreDBClient,
    NewEvent,
    StreamState,
)
from esdb_wire._version import __version__
from esdb_wire.client import paths
from esdb_wire.records import NewEvents
from tests.client_v2._support import events, failing_session, new_stream, not_leader, v2_server

PASSWORD = "changeit"


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )


# -- esdb-wire-server --------------------------------------------------------------------


def test_server_version() -> None:
    result = run("esdb_wire.server", "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"esdb_wire {__version__}"


def test_server_help_shows_defaults_and_no_password() -> None:
    result = run("esdb_wire.server", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # unwrapped
    for default in (
        "(default 127.0.0.1)",
        "(default 2113)",
        "(default 1048576)",
        "(default none; all with --dev)",
        "(default batch)",
        "default 1000",
    ):
        assert default in text
    # A password taken from the environment is a default, never shown.
    env = {**os.environ, "KURRENTDB_DEFAULT_ADMIN_PASSWORD": "s3cret-from-env"}
    hidden = subprocess.run(
        [sys.executable, "-m", "esdb_wire.server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert "s3cret-from-env" not in hidden.stdout


def test_bare_server_names_both_ways_out() -> None:
    result = run("esdb_wire.server")
    assert result.returncode == 2
    assert "a certificate is required" in result.stderr
    assert "--insecure" in result.stderr
    assert "python -m esdb_wire.devcerts certs" in result.stderr
    assert "--certificate certs/node.crt --private-key certs/node.key" in result.stderr
    assert "usage:" not in result.stderr  # the ways out, not a usage dump


# -- python -m esdb_wire.devcerts ---------------------------------------------------------


def test_devcerts_help_writes_nothing(tmp_path: Path) -> None:
    result = run("esdb_wire.devcerts", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "DIR" in result.stdout
    assert "--host" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_devcerts_without_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = run("esdb_wire.devcerts", cwd=tmp_path)
    assert result.returncode == 2
    assert "DIR" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(importlib.util.find_spec("cryptography") is None, reason="needs cryptography")
def test_devcerts_writes_certificates_for_the_hosts_asked(tmp_path: Path) -> None:
    from cryptography import x509  # noqa: PLC0415

    result = run(
        "esdb_wire.devcerts",
        str(tmp_path / "certs"),
        "--host",
        "node.example",
        "--host",
        "10.1.2.3",
        "--user",
        "ops",
    )
    assert result.returncode == 0, result.stderr
    names = {path.name for path in (tmp_path / "certs").iterdir()}
    assert names == {"ca.crt", "ca.key", "node.crt", "node.key", "user.crt", "user.key"}
    assert "esdb-wire-server --certificate" in result.stdout
    node = x509.load_pem_x509_certificate((tmp_path / "certs" / "node.crt").read_bytes())
    san = node.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["node.example"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    user = x509.load_pem_x509_certificate((tmp_path / "certs" / "user.crt").read_bytes())
    assert user.subject.rfc4514_string() == "CN=ops"


# -- client logging -----------------------------------------------------------------------


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every client record, formatted, with its raw arguments too."""
    records = [r for r in caplog.records if r.name.startswith("esdb_wire.client")]
    return "\n".join(f"{r.levelname} {r.getMessage()} {r.args!r}" for r in records)


@pytest.fixture
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as running:
        yield running


def test_discovery_and_reconnect_are_logged_without_credentials(
    server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="esdb_wire")
    uri = f"esdb+discover://admin:{PASSWORD}@{server.uri}?Tls=false"
    with EventStoreDBClient(uri, allow_plaintext_credentials=True) as client:
        client.append_to_stream(
            new_stream(), current_version=StreamState.ANY, events=NewEvent("A", b"{}")
        )
        client.reconnect()
        client.append_to_stream(
            new_stream(), current_version=StreamState.ANY, events=NewEvent("B", b"{}")
        )
    text = logged(caplog)
    assert f"discovery: asking {server.uri} for gossip" in text
    assert f"INFO discovery: chose {server.uri} (NODE_STATE_LEADER" in text
    assert "dropping the connection" in text
    assert text.count(f"connecting to {server.uri}") == 2
    assert PASSWORD not in text
    assert PASSWORD not in caplog.text


def test_failed_discovery_is_logged_without_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="esdb_wire")
    uri = (
        f"esdb+discover://admin:{PASSWORD}@127.0.0.1:1?Tls=false"
        "&MaxDiscoverAttempts=2&DiscoveryInterval=10&GossipTimeout=1"
    )

    async def connect() -> None:
        client = AsyncEventStoreDBClient(uri, allow_plaintext_credentials=True)
        try:
            with pytest.raises(Exception, match="discovery attempts"):
                await client.connect()
        finally:
            await client.close()

    asyncio.run(connect())
    text = logged(caplog)
    assert "discovery: 127.0.0.1:1 failed" in text
    assert "WARNING discovery attempt 2 of 2 found no suitable node" in text
    assert PASSWORD not in text
    assert PASSWORD not in caplog.text


def test_not_leader_redirect_is_logged_without_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="esdb_wire")
    with v2_server("embedded") as leader:
        handlers = {paths.APPEND_SESSION: failing_session(not_leader("127.0.0.1", leader.port))}
        with v2_server("embedded", handlers=handlers) as follower:
            uri = f"esdb://admin:{PASSWORD}@{follower.uri}?Tls=false"
            with EventStoreDBClient(uri, allow_plaintext_credentials=True) as client:
                name = new_stream()
                client.multi_append_to_stream(NewEvents(name, events("A"), StreamState.ANY))
                assert client.connection_target == leader.uri
    text = logged(caplog)
    assert f"INFO {follower.uri} is not the leader: redirected to {leader.uri}" in text
    assert f"INFO reconnecting to {leader.uri}" in text
    assert PASSWORD not in text
    assert PASSWORD not in caplog.text
