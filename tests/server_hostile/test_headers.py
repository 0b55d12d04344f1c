"""Header blocks (issue 15, server item 4): the HPACK bomb, the CONTINUATION flood, and
distinct huge blocks that used to be remembered by the hundred (~1 GB per connection).

The server advertises SETTINGS_MAX_HEADER_LIST_SIZE 16 KiB and ends a connection whose
request header list is larger; only blocks up to 2 KiB are remembered, 64 KiB in all.
"""

from __future__ import annotations

import time

from hyperframe.frame import HeadersFrame

from tests.server_hostile.raw import RawPeer, literal_field, request_headers
from tests.server_hostile.support import (
    MIB,
    STRICT,
    assert_serves,
    growth_mib,
    report,
    server_process,
)

FRAME = 16384


def _send_block(peer: RawPeer, stream_id: int, block: bytes) -> bool:
    """One header block split into HEADERS + CONTINUATION frames."""
    fragments = [block[i : i + FRAME] for i in range(0, len(block), FRAME)]
    first = HeadersFrame(stream_id, fragments[0])
    first.flags.add("END_STREAM")
    frames: list[object] = [first]
    for index, fragment in enumerate(fragments[1:], 1):
        frames.append(peer.continuation(stream_id, fragment, end=index == len(fragments) - 1))
    if len(fragments) == 1:
        first.flags.add("END_HEADERS")
    return peer.send(*frames)  # type: ignore[arg-type]


def test_distinct_huge_header_blocks_are_neither_accepted_nor_remembered() -> None:
    """100 distinct ~900 KB header blocks: the server used to decode and remember every
    one (block and decoded copy); now the first ends its connection."""
    with server_process() as server:
        before = server.rss()
        closed = 0
        peer = RawPeer(server.host, server.port)
        try:
            base = peer.block(request_headers())
            for index in range(100):
                pad = literal_field(b"x-pad", (b"%08d" % index) * (900_000 // 8))
                if not _send_block(peer, 1 + 2 * (index % 1000), base + pad) or (
                    peer.goaway(0.05) is not None or peer.closed
                ):
                    closed += 1
                    peer.close()
                    peer = RawPeer(server.host, server.port)
                    base = peer.block(request_headers())
            time.sleep(0.5)
            after = server.rss()
        finally:
            peer.close()
        assert_serves(server.uri)
    report(
        "huge header blocks",
        [f"{closed}/100 connections ended", f"RSS {before / MIB:.0f} -> {after / MIB:.0f} MiB"],
    )
    assert closed >= 90
    assert not STRICT or growth_mib(before, after) < 50


def test_hpack_bomb_ends_the_connection() -> None:
    """A 4 KB table entry referenced hundreds of times: 1-byte fields of 4 KB each."""
    with server_process() as server:
        before = server.rss()
        with RawPeer(server.host, server.port) as peer:
            table_entry = peer.block([("x-bomb", "x" * 4000)])  # literal with indexing
            block = peer.block(request_headers()) + table_entry + b"\xbe" * 4000
            assert _send_block(peer, 1, block)
            goaway = peer.goaway(5)
        after = server.rss()
        assert_serves(server.uri)
    assert goaway is not None
    assert goaway.error_code in (0x9, 0xB)  # COMPRESSION_ERROR or ENHANCE_YOUR_CALM
    assert not STRICT or growth_mib(before, after) < 20


def test_continuation_flood_ends_the_connection() -> None:
    with server_process() as server:
        before = server.rss()
        started = time.monotonic()
        with RawPeer(server.host, server.port) as peer:
            head = HeadersFrame(1, peer.block(request_headers()))
            peer.send(head)
            for _ in range(2000):  # empty CONTINUATION frames, never END_HEADERS
                if not peer.send(peer.continuation(1, b"")):
                    break
            for _ in range(200):  # and full ones
                if not peer.send(peer.continuation(1, literal_field(b"x-junk", bytes(FRAME - 20)))):
                    break
            closed = peer.wait_closed(5)
        took = time.monotonic() - started
        after = server.rss()
        assert_serves(server.uri)
    assert closed
    assert took < 5
    assert not STRICT or growth_mib(before, after) < 20
