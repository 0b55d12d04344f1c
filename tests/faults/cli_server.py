"""The server CLI (``python -m esdb_wire.server --insecure``) in a subprocess, to be sent
signals and started again on the same port."""

from __future__ import annotations

import selectors
import signal
import subprocess
import sys

START_BOUND = 20.0  # seconds for the CLI to print where it listens


class CliServer:
    """One run of the CLI on 127.0.0.1 (``port`` 0: any free port); :attr:`port` is the
    port it listens on. :meth:`restart` runs it again on that port (an empty log)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.process = self._start()

    def _start(self) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "esdb_wire.server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--insecure",
                "--quiet",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(START_BOUND)
        line = process.stdout.readline() if ready else ""
        if "listening on esdb://" not in line:
            process.kill()
            process.wait(5)
            raise RuntimeError(f"the server CLI did not start: {line!r}")
        self.port = int(line.split("esdb://", 1)[1].split("?", 1)[0].rsplit(":", 1)[1])
        return process

    def send(self, sig: signal.Signals, wait: float = 10.0) -> int:
        """Send ``sig``; return the exit status once the process has ended."""
        self.process.send_signal(sig)
        return self.process.wait(wait)

    def restart(self) -> None:
        """Run the CLI again, on the same port (ending the old process if need be)."""
        self.stop()
        self.process = self._start()

    def stop(self) -> None:
        """End the process if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
