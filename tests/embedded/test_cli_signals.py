"""``python -m esdb_wire.server`` runs in the foreground and stops cleanly on a signal."""

from __future__ import annotations

import signal
import subprocess
import sys
from uuid import uuid4

import pytest

from esdb_wire import EsdbClient, NewEvent


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_stops_on_a_signal(sig: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "esdb_wire.server", "--port", "0", "--insecure"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on esdb://" in line
        address = line.split("esdb://")[1].split("?")[0]
        with EsdbClient(uri=address) as client:
            name = f"cli-{uuid4()}"
            client.append_events(name, None, [NewEvent("Started", b"{}")])
            assert client.get_stream_position(name) == 0
        process.send_signal(sig)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert process.returncode == 0
    assert "stopped" in out
    assert "connection from" in err  # each connection is logged
