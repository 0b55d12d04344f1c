"""The embedded esdb_wire server in its own process, for the whole suite run."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from benchmarks.common import HOST, PROJECT_ROOT, PYTHON
from benchmarks.procs import ServerProcess, _read_line
from benchmarks.suite.measure import kib_to_mb, proc_status_kb, process_cpu

_LISTENING = re.compile(r"listening on esdb://[^:]+:(\d+)")


class EmbeddedServerProcess(ServerProcess):
    """``python -m esdb_wire.server --host 127.0.0.1 --port 0 --insecure --quiet`` (under a
    watchdog), plus ``extra_args``.

    Reuses :class:`benchmarks.procs.ServerProcess`'s stop (close stdin, terminate, kill).
    """

    def __init__(
        self,
        *,
        lifetime: float,
        root: Path = PROJECT_ROOT,
        max_append_size: int | None = None,
        startup_timeout: float = 60.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.kind = "esdb_wire.server"
        command = [
            PYTHON,
            "-m",
            "benchmarks.suite.serve",
            "--lifetime",
            str(lifetime),
            "--",
            "--host",
            HOST,
            "--port",
            "0",
            "--insecure",
            "--quiet",
        ]
        if max_append_size is not None:
            command += ["--max-append-size", str(max_append_size)]
        command += extra_args
        self.proc = subprocess.Popen(
            command, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            assert self.proc.stdout is not None
            line = _read_line(self.proc.stdout, startup_timeout)
            match = _LISTENING.search(line)
            if match is None:
                raise RuntimeError(f"the embedded server did not report its port (got {line!r})")
            self.port = int(match.group(1))
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return process_cpu(self.proc.pid)

    def rss_mb(self) -> float:
        return kib_to_mb(proc_status_kb("VmRSS", self.proc.pid))

    def __enter__(self) -> EmbeddedServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
