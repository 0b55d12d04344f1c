"""PING and SETTINGS floods (issue 15, server item 6).

PING and SETTINGS frames (and empty DATA frames) spend tokens of a per-connection bucket
(1000 at once, 100 per second, one back per request frame); an empty bucket ends the
connection with GOAWAY(ENHANCE_YOUR_CALM). A peer that does not read its replies is no
longer read from once 1 MiB of them is queued.
"""

from __future__ import annotations

import socket
import time

import pytest
from hyperframe.frame import SettingsFrame

from tests.server_hostile.raw import ENHANCE_YOUR_CALM, RawPeer
from tests.server_hostile.support import (
    MIB,
    STRICT,
    LatencyProbe,
    assert_serves,
    growth_mib,
    report,
    server_process,
)

FLOOD = 200_000


def _flood_frames(kind: str, count: int) -> bytes:
    if kind == "ping":
        frame = RawPeer.ping().serialize()
    else:
        frame = SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 70000}).serialize()
    return frame * count


def _send_without_reading(attacker: RawPeer, flood: bytes, stall: float = 2.0) -> tuple[int, str]:
    """Send ``flood`` in 64 KiB writes, never reading the replies, until it is all sent,
    the server ends the connection, or a write waits ``stall`` seconds (the server stopped
    reading). The bytes sent, and why the sending ended."""
    attacker.sock.settimeout(stall)
    sent = 0
    for offset in range(0, len(flood), 65536):
        chunk = flood[offset : offset + 65536]
        try:
            attacker.sock.sendall(chunk)
        except socket.timeout:
            return sent, f"a write waited {stall} s (the server stopped reading)"
        except OSError as exc:  # what the server sent before may still be read
            return sent, f"the connection ended ({exc!r})"
        sent += len(chunk)
    return sent, "the whole flood was sent"


@pytest.mark.parametrize("kind", ["ping", "settings"])
def test_a_flood_is_cut_off_and_its_replies_do_not_pile_up(kind: str) -> None:
    flood = _flood_frames(kind, FLOOD)
    with server_process() as server:
        assert_serves(server.uri)
        rss_before, cpu_before = server.rss(), server.cpu()
        with LatencyProbe(server.uri) as probe:
            time.sleep(0.3)
            with RawPeer(server.host, server.port) as attacker:
                attacker.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                started = time.monotonic()
                sent, ended = _send_without_reading(attacker, flood)
                flooded = time.monotonic() - started
                goaway = attacker.goaway(10)
            time.sleep(0.3)
        rss_after, cpu_after = server.rss(), server.cpu()
        assert_serves(server.uri)
    report(
        f"{kind} flood",
        [
            f"{sent / MIB:.1f} of {len(flood) / MIB:.1f} MiB sent",
            f"server CPU {cpu_after - cpu_before:.2f} s",
            f"RSS {rss_before / MIB:.0f} -> {rss_after / MIB:.0f} MiB",
            probe.summary(),
        ],
    )
    assert not probe.errors
    assert goaway is not None, (
        f"no GOAWAY: {sent} bytes sent in {flooded:.2f} s, then {ended};"
        f" the server's log:\n{server.log[-3000:]}"
    )
    assert goaway.error_code == ENHANCE_YOUR_CALM
    assert not STRICT or probe.percentile(0.99) < 0.050
    assert not STRICT or growth_mib(rss_before, rss_after) < 20


def test_keepalive_pings_at_a_sane_rate_are_fine() -> None:
    with server_process() as server, RawPeer(server.host, server.port) as peer:
        for _ in range(300):  # 100 per second for 3 s: within the budget
            assert peer.ping_roundtrip()
            time.sleep(0.01)
        assert not peer.closed
