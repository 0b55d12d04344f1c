"""``esdb-wire-server --cluster N``: startup, the fault commands read from stdin and their
answers, the options a cluster adds (``--read-only-replicas``, ``--advertise-host``), usage
errors, and a clean stop on SIGTERM."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from esdb_wire import EventStoreDBClient, NewEvent, StreamState
from tests.cluster.cli_cluster import CliCluster, CliError
from tests.server_hostile.raw import NATIVE_SERVER_SETTINGS, first_settings


@pytest.fixture(scope="module")
def cli() -> Iterator[CliCluster]:
    with CliCluster(3, ["--insecure"]) as running:
        yield running


def refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def states(cli: CliCluster) -> list[tuple[str, str]]:
    return [(status.state, status.health) for status in cli.status()]


def test_it_starts_three_nodes_with_one_leader(cli: CliCluster) -> None:
    seeds = ",".join(node.uri for node in cli.nodes)
    assert cli.esdb_uri == f"esdb://{seeds}?Tls=false"
    assert states(cli) == [
        ("leader", "running"),
        ("follower", "running"),
        ("follower", "running"),
    ]
    with EventStoreDBClient(cli.esdb_uri) as client:
        client.append_to_stream(
            "cli-cluster", current_version=StreamState.ANY, events=[NewEvent("T", b"{}")]
        )
        assert client.connection_target == cli.nodes[0].uri


def test_kill_and_restart(cli: CliCluster) -> None:
    cli.command(f"resign {cli.nodes[1].number}")  # no-op unless node2 leads
    cli.command(f"resign {cli.nodes[2].number}")
    assert cli.leader is cli.nodes[0]
    successor = min(cli.nodes[1:], key=lambda node: node.port)  # elections: lowest port
    answer = cli.command("kill 1")
    assert answer[0] == f"ok: kill node1; leader node{successor.number}"
    assert answer[1].startswith(f"node1 {cli.nodes[0].uri} unknown killed epoch 1")
    assert refuses(cli.nodes[0].port)
    answer = cli.command(f"restart {cli.nodes[0].port}")  # by port, too
    assert answer[0] == f"ok: restart node1; leader node{successor.number}"
    assert states(cli)[0] == ("follower", "running")
    assert not refuses(cli.nodes[0].port)


def test_partition_and_heal(cli: CliCluster) -> None:
    cli.command("partition 3")
    assert states(cli)[2] == ("unknown", "partitioned")
    cli.command("heal 3")
    assert states(cli)[2] == ("follower", "running")


def test_resign_the_leader(cli: CliCluster) -> None:
    leader = cli.leader
    assert leader is not None
    answer = cli.command("resign")
    assert answer[0].startswith(f"ok: resign node{leader.number}; leader ")
    assert cli.leader is not leader


def test_stop_then_restart(cli: CliCluster) -> None:
    cli.command("stop 2")
    assert states(cli)[1] == ("shutdown", "stopped")
    cli.command("restart 2")
    assert states(cli)[1][1] == "running"


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("bogus", "unknown command 'bogus'"),
        ("kill", "kill takes one node number or port"),
        ("kill 9", "no node 9"),
        ("kill one", "not a node number or port"),
    ],
)
def test_bad_commands_are_answered_with_an_error(cli: CliCluster, command: str, error: str) -> None:
    with pytest.raises(CliError, match=error):
        cli.command(command)


def test_help(cli: CliCluster) -> None:
    (answer,) = cli.command("help")
    assert answer.startswith("ok: commands: status | kill N")


def test_read_only_replicas_and_the_advertised_host() -> None:
    options = ["--insecure", "--read-only-replicas", "1", "--advertise-host", "localhost"]
    with CliCluster(3, options) as cli:
        statuses = cli.status()
        assert [s.state for s in statuses] == [
            "leader",
            "follower",
            "follower",
            "read_only_replica",
        ]
        assert {s.host for s in statuses} == {"localhost"}
        assert cli.esdb_uri.startswith("esdb://localhost:")
        cli.close()
        assert cli.process.returncode == 0


def test_the_nodes_run_the_http2_engine_asked_for() -> None:
    with CliCluster(3, ["--insecure", "--http2-engine", "native"]) as cli:
        ports = [status.port for status in cli.status()]
        assert [first_settings("127.0.0.1", port) for port in ports] == [NATIVE_SERVER_SETTINGS] * 3
        client = EventStoreDBClient(cli.esdb_uri)
        try:
            client.append_to_stream(
                "engine", current_version=StreamState.NO_STREAM, events=NewEvent("Ran", b"{}")
            )
            assert [event.type for event in client.get_stream("engine")] == ["Ran"]
        finally:
            client.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--read-only-replicas", "1", "--insecure"], "--read-only-replicas needs --cluster"),
        (["--cluster", "3"], "a certificate is required"),
        (["--cluster", "-1", "--insecure"], "take a positive number"),
    ],
)
def test_usage_errors(options: list[str], message: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "esdb_wire.server", "--port", "0", *options],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 2
    assert message in run.stderr
