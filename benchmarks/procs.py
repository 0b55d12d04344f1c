"""Starting and stopping the benchmark's server and client processes."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from benchmarks.common import PROJECT_ROOT, PYTHON


class ServerProcess:
    """A server from :mod:`benchmarks.servers` in its own process; stops on ``stop()``."""

    def __init__(
        self,
        kind: str,
        *,
        lifetime: float,
        startup_timeout: float = 30.0,
        root: Path = PROJECT_ROOT,
    ) -> None:
        self.kind = kind
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "benchmarks.servers", kind, "--lifetime", str(lifetime)],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert self.proc.stdout is not None
            line = _read_line(self.proc.stdout, startup_timeout)
            word, _, port = line.partition(" ")
            if word != "PORT" or not port.strip().isdigit():
                raise RuntimeError(f"server {kind} did not report its port (got {line!r})")
            self.port = int(port)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Close its stdin (it exits by itself), then terminate, then kill."""
        proc = self.proc
        if proc.stdin is not None and not proc.stdin.closed:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        for action in (None, proc.terminate, proc.kill):
            if action is not None:
                action()
            try:
                proc.wait(5)
                break
            except subprocess.TimeoutExpired:
                continue
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _read_line(stream: IO[str], timeout: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError(f"no output within {timeout:g}s")
    return stream.readline().strip()


def snapshot_sources(destination: Path) -> Path:
    """Copy ``esdb_wire`` and ``benchmarks`` (code only) under ``destination``.

    Processes started there (``cwd``) import the copies, not the work tree (``python -m``
    puts the current directory first on sys.path, ahead of the editable install), so
    edits made to the work tree while a benchmark runs do not change what it measures.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "results")
    for package in ("esdb_wire", "benchmarks"):
        shutil.copytree(PROJECT_ROOT / package, destination / package, ignore=ignore)
    return destination


# Environment sizes for client processes, one per repeat (see layout_env).
LAYOUT_PADS = (0, 1552, 528, 3120, 2064, 3600, 1040, 2576)


def layout_env(repeat: int) -> dict[str, str]:
    """The environment for a client process of repeat number ``repeat``.

    The size of the environment moves the initial stack, and with it the alignment of
    everything the process does; on this machine one layout made the same client take
    45 or 67 µs of CPU per unary call depending on nothing else. Each repeat therefore
    runs every client with a different environment size (the same for all clients of
    that repeat), so the medians average over layouts instead of measuring one by luck.
    """
    pad = LAYOUT_PADS[repeat % len(LAYOUT_PADS)]
    return {**os.environ, "ESDB_WIRE_BENCH_LAYOUT": "x" * pad}


def run_client(
    client: str,
    op: str,
    port: int,
    n: int,
    timeout: float,
    *,
    root: Path = PROJECT_ROOT,
    repeat: int = 0,
) -> dict[str, Any]:
    """One client run in a fresh process; its JSON sample, or ``{"error": ...}``."""
    command = [
        PYTHON,
        "-m",
        "benchmarks.clients",
        client,
        op,
        "--port",
        str(port),
        "-n",
        str(n),
        "--timeout",
        str(timeout),
    ]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            check=False,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=timeout + 10,
            env=layout_env(repeat),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout + 10:g}s"}
    process_wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-3:]
        status = f"exit status {done.returncode}"
        if done.returncode == -signal.SIGALRM:
            status = "killed by its own watchdog (--timeout)"
        return {"error": f"{status}: " + " | ".join(tail)}
    sample: dict[str, Any] = json.loads(lines[-1])
    sample["process_wall"] = process_wall
    return sample
