"""``esdb-wire-server --cluster N`` in a subprocess, driven through its stdin commands.

:class:`CliCluster` starts the CLI (``python -m esdb_wire.server --cluster N --port 0``:
free ports), reads where its nodes listen, and offers what the tests ask of a cluster:
the nodes (``uri``, ``port``, ``is_leader``, ``resign()``, ``kill()``...), the leader,
and any command's answer. Each node's state comes from a fresh ``status`` command.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

START_BOUND = 30.0  # seconds for the CLI to print where it listens
ANSWER_BOUND = 10.0  # seconds for a command's answer


class CliError(Exception):
    """The CLI did not start, or answered a command with ``error: ...``."""


@dataclass
class NodeStatus:
    """One ``status`` line: ``node1 127.0.0.1:2110 leader running epoch 0``."""

    name: str
    host: str
    port: int
    state: str
    health: str
    epoch: int

    @classmethod
    def parse(cls, line: str) -> NodeStatus:
        name, address, state, health, _, epoch = line.split()
        host, _, port = address.rpartition(":")
        return cls(name, host, int(port), state, health, int(epoch))


class CliNode:
    """A node of a :class:`CliCluster`."""

    def __init__(self, cluster: CliCluster, number: int, host: str, port: int) -> None:
        self._cluster = cluster
        self.number = number
        self.host = host
        self.port = port

    @property
    def uri(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def status(self) -> NodeStatus:
        return self._cluster.status()[self.number - 1]

    @property
    def is_leader(self) -> bool:
        return self.status.state == "leader"

    def command(self, verb: str) -> list[str]:
        return self._cluster.command(f"{verb} {self.number}")

    def kill(self) -> None:
        self.command("kill")

    def stop(self) -> None:
        self.command("stop")

    def restart(self) -> None:
        self.command("restart")

    def partition(self) -> None:
        self.command("partition")

    def heal(self) -> None:
        self.command("heal")

    def resign(self) -> None:
        self.command("resign")


class CliCluster:
    """The cluster CLI in a subprocess; ``options`` are more command-line options."""

    def __init__(self, size: int = 3, options: Sequence[str] = ()) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "esdb_wire.server",
                "--cluster",
                str(size),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--quiet",
                *options,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        # Its output, line by line (None at its end), read by a thread of its own.
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_output, name="cli-cluster-output", daemon=True).start()
        try:
            first = self._line(START_BOUND)
            if "listening on esdb://" not in first:
                raise CliError(f"the cluster CLI did not start: {first!r}")
            self.esdb_uri = first.split("listening on ", 1)[1]
            statuses = []  # a line per node (read-only replicas too), then the help
            while not (line := self._line(ANSWER_BOUND)).startswith("commands:"):
                statuses.append(NodeStatus.parse(line))
        except BaseException:
            self.close()
            raise
        self.nodes = [
            CliNode(self, number, status.host, status.port)
            for number, status in enumerate(statuses, start=1)
        ]

    def _read_output(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _line(self, bound: float) -> str:
        try:
            line = self._lines.get(timeout=bound)
        except queue.Empty:
            raise CliError(f"the cluster CLI said nothing within {bound} s") from None
        if line is None:
            raise CliError("the cluster CLI ended")
        return line

    def command(self, text: str) -> list[str]:
        """Send one command; its answer (``ok: ...`` and the status lines after it)."""
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        first = self._line(ANSWER_BOUND)
        if first.startswith("error:"):
            raise CliError(first)
        lines = [first]
        if not first.startswith("ok: commands"):  # every answer but help lists the nodes
            lines += [self._line(ANSWER_BOUND) for _ in range(len(self.nodes))]
        return lines

    def status(self) -> list[NodeStatus]:
        return [NodeStatus.parse(line) for line in self.command("status")[1:]]

    @property
    def leader(self) -> CliNode | None:
        for node, status in zip(self.nodes, self.status()):
            if status.state == "leader":
                return node
        return None

    def close(self) -> None:
        """SIGTERM (then kill, if need be) and wait."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdin is not None:
            self.process.stdin.close()

    def __enter__(self) -> CliCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
