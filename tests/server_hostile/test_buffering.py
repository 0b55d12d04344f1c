"""Request bytes a peer can make the server hold (issue 15, server item 3), and a gzip bomb.

Bytes of an unfinished message are handed back (flow control) before the message is
consumed only under a reservation from the connection's budget (16 MiB by default, one
message always admitted); other streams stay within their window (64 KiB).
"""

from __future__ import annotations

import gzip
import threading
import time

from hyperframe.frame import SettingsFrame, WindowUpdateFrame

from tests.server_hostile.raw import RawPeer, grpc_message, header_value, request_headers
from tests.server_hostile.support import (
    MIB,
    STRICT,
    assert_serves,
    growth_mib,
    report,
    server_process,
)

MESSAGE = 16 * MIB - 64  # just under the 16 MiB limit
FRAME = 16384


class WindowedSender:
    """Sends unfinished messages on many streams as fast as the server's flow-control
    windows allow (a well-behaved sender, a hostile intent), never finishing them."""

    def __init__(self, peer: RawPeer, streams: list[int], message: int) -> None:
        self.peer = peer
        self.streams = streams
        self.left = {sid: message + 5 - 1 for sid in streams}  # one byte short of complete
        self.started = dict.fromkeys(streams, False)
        self.windows = dict.fromkeys(streams, 65535)
        self.connection = 65535
        self.message = message
        self.lock = threading.Condition()
        self.sent = 0
        self.reader = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        for frame in self.peer.frames(60):
            with self.lock:
                if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
                    initial = frame.settings.get(SettingsFrame.INITIAL_WINDOW_SIZE)
                    if initial is not None:
                        for sid in self.windows:
                            self.windows[sid] += initial - 65535
                elif isinstance(frame, WindowUpdateFrame):
                    if frame.stream_id == 0:
                        self.connection += frame.window_increment
                    elif frame.stream_id in self.windows:
                        self.windows[frame.stream_id] += frame.window_increment
                self.lock.notify_all()

    def run(self, stall: float = 1.5) -> int:
        """Send until no stream can make progress for ``stall`` seconds; bytes sent."""
        for sid in self.streams:
            self.peer.send(self.peer.headers(sid, request_headers()))
        self.reader.start()
        payload = bytes(FRAME)
        last_progress = time.monotonic()
        while time.monotonic() - last_progress < stall and not self.peer.closed:
            frames = []
            with self.lock:
                for sid in self.streams:
                    room = min(self.windows[sid], self.connection, self.left[sid], FRAME)
                    if room <= 0:
                        continue
                    if not self.started[sid]:
                        self.started[sid] = True
                        chunk = grpc_message(b"")[:1] + self.message.to_bytes(4, "big")
                        chunk += payload[: room - 5]
                    else:
                        chunk = payload[:room]
                    self.windows[sid] -= len(chunk)
                    self.connection -= len(chunk)
                    self.left[sid] -= len(chunk)
                    frames.append(self.peer.data(sid, chunk))
                if not frames:
                    self.lock.wait(0.1)
                    continue
            if not self.peer.send(*frames):
                break
            self.sent += sum(len(f.data) for f in frames)
            last_progress = time.monotonic()
        return self.sent


def test_unfinished_huge_messages_stay_within_the_buffer_bounds() -> None:
    """The issue's target: 100 unfinished 16 MiB messages over 4 connections keep the
    server's RSS growth under 200 MB."""
    with server_process() as server:
        assert_serves(server.uri)
        before = server.rss()
        peers = [RawPeer(server.host, server.port) for _ in range(4)]
        try:
            senders = [WindowedSender(p, [1 + 2 * i for i in range(25)], MESSAGE) for p in peers]
            threads = [threading.Thread(target=s.run) for s in senders]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            time.sleep(0.3)
            after = server.rss()
            took = assert_serves(server.uri)
            assert all(not p.closed for p in peers), "the server dropped a sender"
        finally:
            for peer in peers:
                peer.close()
    sent = sum(s.sent for s in senders)
    report(
        "unfinished messages",
        [
            f"100 streams x {MESSAGE / MIB:.0f} MiB offered, {sent / MIB:.0f} MiB accepted",
            f"RSS {before / MIB:.0f} -> {after / MIB:.0f} MiB",
            f"healthy client {took * 1000:.0f} ms",
        ],
    )
    assert not STRICT or growth_mib(before, after) < 200
    # 4 x (one admitted message + 24 windows): what a connection may hold.
    assert sent < 4 * (MESSAGE + 24 * 65535) + MIB


def test_a_large_message_still_gets_through_next_to_blocked_ones() -> None:
    with server_process() as server:
        with RawPeer(server.host, server.port) as peer:
            sender = WindowedSender(peer, [1 + 2 * i for i in range(5)], MESSAGE)
            thread = threading.Thread(target=sender.run, daemon=True)
            thread.start()
            thread.join(60)
            # Another connection's 900 KB event is not held up by this one's budget.
            took = assert_serves(server.uri)
        assert took < 5


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(bytes(256 * MIB), compresslevel=9)  # ~250 KB inflating to 256 MiB
    with server_process() as server:
        before = server.rss()
        with RawPeer(server.host, server.port) as peer:
            statuses = []
            for index in range(8):
                sid = 1 + 2 * index
                headers = request_headers(grpc_encoding="gzip")
                assert peer.send(peer.headers(sid, headers))
                message = grpc_message(bomb, compressed=True)
                for offset in range(0, len(message), FRAME):
                    peer.send(peer.data(sid, message[offset : offset + FRAME]))
                answer = peer.response(sid, timeout=20)
                statuses.append(header_value(answer["headers"], "grpc-status"))
        after = server.rss()
        assert_serves(server.uri)
    report(
        "gzip bomb", [f"statuses {statuses}", f"RSS {before / MIB:.0f} -> {after / MIB:.0f} MiB"]
    )
    assert statuses == ["8"] * 8  # RESOURCE_EXHAUSTED
    assert not STRICT or growth_mib(before, after) < 60
