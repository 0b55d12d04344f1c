"""The server under attack, in its own process (so its memory and CPU can be measured),
and a well-behaved client measuring its latency meanwhile."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from uuid import uuid4

from esdb_wire import EventStoreDBClient, NewEvent, StreamState
from tests.engines import current_server_engine

_TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024
# The latency, CPU and memory targets are CPython's; under PyPy (JIT warm-up, a growing
# GC heap) only the behaviour is checked.
STRICT = platform.python_implementation() == "CPython"


def rss_of(pid: int) -> int:
    """Resident set size of a process, in bytes (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_of(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class ServerProcess:
    """``python -m esdb_wire.server --insecure`` with extra options, on a free port, on
    the server engine under test."""

    def __init__(self, *options: str) -> None:
        command = [sys.executable, "-m", "esdb_wire.server", "--insecure", "--port", "0"]
        command += ["--http2-engine", current_server_engine(), *options]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on esdb://" not in line:
            self.stop()
            raise RuntimeError(f"server did not start: {line!r}")
        self.uri = "esdb://" + line.split("esdb://")[1].strip()
        self.address = line.split("esdb://")[1].split("?")[0]
        host, port = self.address.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self._stderr: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    @property
    def log(self) -> str:
        return "".join(self._stderr)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> int:
        return rss_of(self.pid)

    def cpu(self) -> float:
        return cpu_of(self.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def server_process(*options: str) -> Iterator[ServerProcess]:
    server = ServerProcess("--quiet", *options)
    try:
        yield server
    finally:
        server.stop()


def assert_serves(uri: str, timeout: float = 10.0) -> float:
    """A well-behaved client appends and reads back an event; returns the seconds it took."""
    started = time.monotonic()
    client = EventStoreDBClient(uri=uri)
    try:
        name = f"healthy-{uuid4()}"
        client.append_to_stream(
            name,
            current_version=StreamState.NO_STREAM,
            events=NewEvent("Ok", b"{}"),
            timeout=timeout,
        )
        assert [e.type for e in client.get_stream(name, timeout=timeout)] == ["Ok"]
    finally:
        client.close()
    return time.monotonic() - started


class LatencyProbe:
    """A client on its own connection appending one event at a time, timing each."""

    def __init__(self, uri: str, pause: float = 0.005) -> None:
        self.client = EventStoreDBClient(uri=uri)
        self.latencies: list[float] = []
        self.errors: list[BaseException] = []
        self._pause = pause
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.client.append_to_stream(
            f"probe-{uuid4()}", current_version=StreamState.ANY, events=NewEvent("Warm", b"{}")
        )

    def _run(self) -> None:
        name = f"probe-{uuid4()}"
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                self.client.append_to_stream(
                    name,
                    current_version=StreamState.ANY,
                    events=NewEvent("Tick", b"{}"),
                    timeout=30,
                )
            except Exception as exc:  # reported by the test
                self.errors.append(exc)
                return
            self.latencies.append(time.perf_counter() - started)
            time.sleep(self._pause)

    def __enter__(self) -> LatencyProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        self.client.close()

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        assert ordered, "the probe made no call"
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]

    def summary(self) -> str:
        return (
            f"{len(self.latencies)} appends, p50 {self.percentile(0.5) * 1000:.1f} ms, "
            f"p99 {self.percentile(0.99) * 1000:.1f} ms, max {max(self.latencies) * 1000:.1f} ms"
        )


def growth_mib(before: int, after: int) -> float:
    return (after - before) / MIB


def report(name: str, lines: Sequence[str]) -> None:
    """Print measurements (shown with ``pytest -s`` or on failure)."""
    print(f"\n[{name}] " + "; ".join(lines))
