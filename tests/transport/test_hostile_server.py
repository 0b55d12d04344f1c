"""The client against a hostile server: a PING flood from a server that never reads.

Every PING needs an ACK; a server that floods PINGs and never reads makes those ACKs
pile up on the client. The asyncio driver must stop reading once its output stops
draining, so its memory stays bounded (the blocking driver's writes block by design).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from esdb_wire.transport.aio import AsyncChannel
from esdb_wire.transport.config import ConnectionConfig
from esdb_wire.transport.http2 import frames as f
from esdb_wire.transport.status import StatusError

# Both HTTP/2 engines; a memory bound under attack, so a timing test (see tests/timing.py).
pytestmark = [pytest.mark.usefixtures("http2_engine"), pytest.mark.timing]

FLOOD_SECONDS = 6.0
RSS_GROWTH_LIMIT = 20 * 1024 * 1024


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


class PingFlooder:
    """A TCP server on 127.0.0.1 that answers with SETTINGS, then sends PINGs for
    ``seconds`` without ever reading."""

    def __init__(self, seconds: float) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.seconds = seconds
        self.sent = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(0.5)
        burst = f.encode_frame(f.PING, 0, 0, b"flooding") * 4096
        deadline = time.monotonic() + self.seconds
        try:
            conn.sendall(f.encode_settings([]))
            while time.monotonic() < deadline:
                try:
                    self.sent += conn.send(burst)
                except socket.timeout:
                    continue  # the client stopped reading: keep trying until the end
        except OSError:
            pass
        finally:
            time.sleep(0.2)
            conn.close()

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)


@pytest.fixture
def flooder() -> Iterator[PingFlooder]:
    server = PingFlooder(FLOOD_SECONDS)
    try:
        yield server
    finally:
        server.close()


@pytest.mark.skipif(not hasattr(socket, "SO_SNDBUF"), reason="needs socket buffers")
def test_asyncio_client_memory_stays_bounded_under_a_ping_flood(flooder: PingFlooder) -> None:
    async def main() -> int:
        config = ConnectionConfig(keepalive_interval=None)
        async with AsyncChannel("127.0.0.1", flooder.port, config=config) as channel:
            before = _rss()
            peak = before
            call = asyncio.ensure_future(
                channel.unary_unary("/svc/Never", b"x", timeout=FLOOD_SECONDS + 2)
            )
            while not call.done():
                await asyncio.sleep(0.1)
                peak = max(peak, _rss())
            with pytest.raises(StatusError):
                call.result()
            return peak - before

    growth = asyncio.run(main())
    assert flooder.sent > 1_000_000  # the flood really happened
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew {growth / 2**20:.1f} MB under the flood"
