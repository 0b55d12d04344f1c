"""``esdb-wire-server --db PATH``: the log in a journal file, killed (SIGKILL) and started
again on it. Everything acknowledged is there once, at the same positions; the append in
flight is there whole or not at all; a torn or corrupt tail is cut off and the rest is
served. Metadata, persistent subscription groups and their checkpoints, users and
projections come back too. Every server here is a real process on 127.0.0.1."""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from esdb_wire import EventStoreDBClient, NewEvent, StreamState
from esdb_wire.exceptions import EsdbClientException, NotFound, StreamIsDeleted
from esdb_wire.server.journal import SYNC_POLICIES
from tests.peers import require_peer

START_BOUND = 30.0
ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


class ServerProcess:
    """``python -m esdb_wire.server --db PATH ...`` on 127.0.0.1, any free port."""

    def __init__(self, db: Path, *options: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "esdb_wire.server",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--quiet",
                "--db",
                str(db),
                *options,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = selector.select(START_BOUND)
        line = self.process.stdout.readline() if ready else ""
        if "listening on esdb://" not in line:
            self.kill()
            raise RuntimeError(f"the server did not start: {line!r} {self.stderr()}")
        self.address = line.split("esdb://", 1)[1].split("?", 1)[0]

    def uri(self, credentials: str = "", options: str = "Tls=false") -> str:
        return f"esdb://{credentials}{self.address}?{options}&MaxDiscoverAttempts=1"

    def kill(self) -> None:
        """SIGKILL: no chance to flush or sync anything."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(20)

    def stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read()


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """Servers started by a test, killed at its end whatever happens."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()


@dataclass
class Appends:
    """What an appending client saw: each acknowledged append (stream, first revision,
    event ids, commit position of its last event), and the one in flight at the kill."""

    acknowledged: list[tuple[str, int, list[uuid.UUID], int]] = field(default_factory=list)
    in_flight: tuple[str, list[uuid.UUID]] | None = None
    failure: BaseException | None = None


def append_until_killed(uri: str, appends: Appends, streams: list[str]) -> None:
    """Append batches of 1 to 4 events to ``streams`` in turn, each with its expected
    version, until the server goes away."""
    versions: dict[str, int] = {}
    with EventStoreDBClient(uri) as client:
        for stream in streams:
            found = client.get_current_version(stream)
            if not isinstance(found, StreamState):
                versions[stream] = found
        for number in range(1_000_000):
            stream = streams[number % len(streams)]
            batch = [
                NewEvent(type="Appended", data=b'{"n": %d}' % number) for _ in range(1 + number % 4)
            ]
            last = versions.get(stream)
            current = StreamState.NO_STREAM if last is None else last
            appends.in_flight = (stream, [event.id for event in batch])
            try:
                position = client.append_to_stream(
                    stream, current_version=current, events=batch, timeout=10
                )
            except EsdbClientException as exc:
                appends.failure = exc
                return
            first = 0 if last is None else last + 1
            appends.acknowledged.append((stream, first, [e.id for e in batch], position))
            versions[stream] = first + len(batch) - 1
            appends.in_flight = None


def kill_while_appending(server: ServerProcess, streams: list[str]) -> Appends:
    """Let a client append in a loop, then SIGKILL the server at a random moment."""
    appends = Appends()
    appender = threading.Thread(
        target=append_until_killed, args=(server.uri(), appends, streams), daemon=True
    )
    appender.start()
    deadline = time.monotonic() + 30
    while len(appends.acknowledged) < 30:
        assert appender.is_alive(), appends.failure
        assert time.monotonic() < deadline, "the appends did not start"
        time.sleep(0.01)
    time.sleep(random.uniform(0.0, 0.5))
    server.kill()
    appender.join(60)
    assert not appender.is_alive()
    assert appends.failure is not None  # it ran until the kill
    return appends


def check_appends_survived(
    client: EventStoreDBClient, appends: Appends, streams: list[str]
) -> None:
    """Every acknowledged append is there once, where it was acknowledged; the append in
    flight is there whole (after them) or not at all; nothing else is."""
    expected: dict[str, list[uuid.UUID]] = {stream: [] for stream in streams}
    for stream, first, ids, position in appends.acknowledged:
        assert len(expected[stream]) == first
        expected[stream].extend(ids)
        recorded = client.get_stream(stream, stream_position=first, limit=len(ids))
        assert [event.id for event in recorded] == ids
        assert [event.stream_position for event in recorded] == list(range(first, first + len(ids)))
        assert recorded[-1].commit_position == position
    for stream in streams:
        found = [event.id for event in client.get_stream(stream)]
        extra = found[len(expected[stream]) :]
        assert found[: len(expected[stream])] == expected[stream]
        if extra:  # the append the kill interrupted was written before it, whole
            assert appends.in_flight is not None
            assert (stream, extra) == appends.in_flight
    every_id = [event.id for event in client.read_all() if event.stream_name in expected]
    assert len(every_id) == len(set(every_id))


@pytest.mark.parametrize("sync", SYNC_POLICIES)
def test_every_acknowledged_append_survives_a_sigkill(
    tmp_path: Path, servers: list[ServerProcess], sync: str
) -> None:
    db = tmp_path / "esdb.journal"
    streams = [f"order-{uuid.uuid4().hex[:8]}-{n}" for n in range(3)]
    servers.append(ServerProcess(db, "--insecure", "--db-sync", sync))
    appends = kill_while_appending(servers[-1], streams)
    assert len(appends.acknowledged) >= 30

    servers.append(ServerProcess(db, "--insecure", "--db-sync", sync))
    with EventStoreDBClient(servers[-1].uri()) as client:
        check_appends_survived(client, appends, streams)
        # The log goes on after the old end: new appends, new positions.
        last = max(position for *_, position in appends.acknowledged)
        position = client.append_to_stream(
            f"after-{uuid.uuid4().hex}", current_version=StreamState.ANY, events=NewEvent("X", b"")
        )
        assert position > last

    # Once more, killed while appending on the restarted server: both runs' appends stay.
    more = kill_while_appending(servers[-1], [streams[0], f"new-{uuid.uuid4().hex[:8]}"])
    servers.append(ServerProcess(db, "--insecure", "--db-sync", sync))
    with EventStoreDBClient(servers[-1].uri()) as client:
        for stream, first, ids, _ in appends.acknowledged + more.acknowledged:
            recorded = client.get_stream(stream, stream_position=first, limit=len(ids))
            assert [event.id for event in recorded] == ids
    servers[-1].stop()
    assert servers[-1].process.returncode == 0


def test_a_torn_tail_is_cut_off_and_the_rest_served(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    """The journal cut in the middle of its last record, as a crash during the write of
    an append leaves it: the server starts, says what it dropped, serves the rest."""
    db = tmp_path / "esdb.journal"
    stream = f"torn-{uuid.uuid4().hex}"
    servers.append(ServerProcess(db, "--insecure"))
    with EventStoreDBClient(servers[-1].uri()) as client:
        client.append_to_stream(
            stream, current_version=StreamState.NO_STREAM, events=NewEvent("Kept", b"{}")
        )
        size_before = db.stat().st_size
        client.append_to_stream(
            stream, current_version=0, events=[NewEvent("Torn", b"{}"), NewEvent("Torn", b"{}")]
        )
    servers[-1].stop()
    size_after = db.stat().st_size
    with db.open("r+b") as file:
        file.truncate(size_before + (size_after - size_before) // 2)

    servers.append(ServerProcess(db, "--insecure"))
    with EventStoreDBClient(servers[-1].uri()) as client:
        assert [event.type for event in client.get_stream(stream)] == ["Kept"]
        client.append_to_stream(stream, current_version=0, events=NewEvent("Next", b"{}"))
        assert [event.type for event in client.get_stream(stream)] == ["Kept", "Next"]
    servers[-1].stop()
    assert "dropped the last" in servers[-1].stderr()


def test_a_corrupt_record_is_cut_off_with_what_follows(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    """A byte flipped inside a record (its CRC no longer matches): the server keeps the
    records before it and drops it and everything after."""
    db = tmp_path / "esdb.journal"
    servers.append(ServerProcess(db, "--insecure"))
    good, bad, later = (f"{name}-{uuid.uuid4().hex}" for name in ("good", "bad", "later"))
    with EventStoreDBClient(servers[-1].uri()) as client:
        client.append_to_stream(good, current_version=StreamState.ANY, events=NewEvent("A", b""))
        offset = db.stat().st_size
        client.append_to_stream(
            bad, current_version=StreamState.ANY, events=NewEvent("B", b'{"payload": 1}')
        )
        client.append_to_stream(later, current_version=StreamState.ANY, events=NewEvent("C", b""))
    servers[-1].stop()
    content = bytearray(db.read_bytes())
    content[offset + 30] ^= 0xFF
    db.write_bytes(bytes(content))

    servers.append(ServerProcess(db, "--insecure"))
    with EventStoreDBClient(servers[-1].uri()) as client:
        assert [event.type for event in client.get_stream(good)] == ["A"]
        for gone in (bad, later):
            with pytest.raises(NotFound):
                client.get_stream(gone)
    servers[-1].stop()
    assert f"at offset {offset}" in servers[-1].stderr()


def test_one_server_per_journal(tmp_path: Path, servers: list[ServerProcess]) -> None:
    db = tmp_path / "esdb.journal"
    servers.append(ServerProcess(db, "--insecure"))
    second = subprocess.run(
        [sys.executable, "-m", "esdb_wire.server", "--insecure", "--port", "0", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
        check=False,
    )
    assert second.returncode == 1
    assert "is in use by another server" in second.stderr
    assert "Traceback" not in second.stderr


def test_a_file_that_is_not_a_journal_is_left_alone(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a journal\n")
    result = subprocess.run(
        [sys.executable, "-m", "esdb_wire.server", "--insecure", "--port", "0", "--db", str(notes)],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
        check=False,
    )
    assert result.returncode == 1
    assert "is not an esdb_wire journal" in result.stderr
    assert notes.read_text() == "not a journal\n"


COUNTER = """fromCategory('shop').when({
  $init: function () { return {count: 0}; },
  Sold: function (state, e) { state.count += 1; }
})"""


def wait_for(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_restart_keeps_metadata_groups_checkpoints_users_and_projections(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    """A secure server with projections, killed after a session of every kind of state,
    then started again on its journal: the state is all there and works."""
    require_peer("cryptography")
    require_peer("py_mini_racer")
    from esdb_wire.devcerts import generate  # noqa: PLC0415

    certs = generate(tmp_path / "certs")
    db = tmp_path / "esdb.journal"
    options = [
        "--certificate",
        str(certs.node_certificate),
        "--private-key",
        str(certs.node_key),
        "--ca",
        str(certs.ca_certificate),
        "--run-projections",
        "all",
    ]
    tls = f"Tls=true&TlsCaFile={certs.ca_certificate}"
    servers.append(ServerProcess(db, *options))
    admin = servers[-1].uri("admin:changeit@", tls)
    with EventStoreDBClient(admin) as client:
        client.append_to_stream(
            "shop-1",
            current_version=StreamState.NO_STREAM,
            events=[NewEvent("Sold", b"{}") for _ in range(3)],
        )
        client.append_to_stream(
            "ledger", current_version=StreamState.ANY, events=[NewEvent("L", b"") for _ in range(3)]
        )
        client.set_stream_metadata("ledger", metadata={"$maxCount": 2, "owner": "sales"})
        client.tombstone_stream("gone-1", current_version=StreamState.ANY)
        client.append_to_stream("soft", current_version=StreamState.ANY, events=NewEvent("S", b""))
        client.delete_stream("soft", current_version=0)
        client.create_user("carol", "Carol", ["devs"], "carols-password")
        client.append_to_stream(
            "jobs",
            current_version=StreamState.NO_STREAM,
            events=[NewEvent("Job", b"{}") for _ in range(5)],
        )
        client.create_subscription_to_stream(
            "workers", "jobs", min_checkpoint_count=1, max_checkpoint_count=1
        )
        reading = client.read_subscription_to_stream(
            "workers", "jobs", timeout=20, max_ack_batch_size=1
        )
        with reading as workers:
            for _ in range(3):
                workers.ack(next(workers))

            def checkpointed() -> bool:
                try:
                    found = client.get_stream("$persistentsubscription-jobs::workers-checkpoint")
                except NotFound:
                    return False
                return bool(found) and found[-1].data == b'"2"'

            wait_for(checkpointed)
        client.create_projection(name="counter", query=COUNTER)
        wait_for(lambda: client.get_projection_state("counter").value == {"count": 3})
        wait_for(lambda: len(client.get_stream("$ce-shop")) == 3)
        positions = [(e.id, e.commit_position) for e in client.read_all(filter_exclude=[])]
    servers[-1].kill()

    servers.append(ServerProcess(db, *options))
    admin = servers[-1].uri("admin:changeit@", tls)
    with EventStoreDBClient(admin) as client:
        assert [(e.id, e.commit_position) for e in client.read_all(filter_exclude=[])][
            : len(positions)
        ] == positions
        assert len(client.get_stream("ledger")) == 2  # $maxCount
        metadata, _ = client.get_stream_metadata("ledger")
        assert metadata == {"$maxCount": 2, "owner": "sales"}
        with pytest.raises(StreamIsDeleted):
            client.get_stream("gone-1")
        with pytest.raises(NotFound):
            client.get_stream("soft")
        info = client.get_subscription_info("workers", "jobs")
        assert (info.min_checkpoint_count, info.max_checkpoint_count) == (1, 1)
        with client.read_subscription_to_stream("workers", "jobs", timeout=20) as workers:
            resumed = next(workers)  # after the checkpoint (revision 2)
            assert resumed.stream_position == 3
        assert client.get_projection_statistics("counter").status == "Running"
        client.append_to_stream(
            "shop-2", current_version=StreamState.ANY, events=NewEvent("Sold", b"{}")
        )
        wait_for(lambda: client.get_projection_state("counter").value == {"count": 4})
        wait_for(lambda: len(client.get_stream("$ce-shop")) == 4)
        assert len(client.get_stream("$ce-shop")) == 4  # none projected twice
    carol = servers[-1].uri("carol:carols-password@", tls)
    with EventStoreDBClient(carol) as client:
        client.append_to_stream(
            "carols", current_version=StreamState.ANY, events=NewEvent("Hi", b"")
        )
    servers[-1].stop()
