"""A catch-up subscription (to a stream, to ``$all``) whose connection is cut in the middle
of a frame, while it catches up or while it is live.

With ``auto_resubscribe=True`` it resumes after the last event it delivered: every event
exactly once, in order. Without, its consumer gets the events that arrived whole, then
an exception: never a silent end, never a wait without end.
"""

from __future__ import annotations

import pytest

from esdb_wire import EventStoreDBClient, EventStoreDBClientException, RecordedEvent
from tests.faults.conftest import Connect
from tests.faults.drivers import Consumer, Driver
from tests.faults.support import (
    append_batches,
    assert_in_order_once,
    assert_prefix,
    new_stream,
    new_type,
    uri_of,
)
from tests.tcp_proxy import FaultProxy

RECORDED = 300  # events there before the subscription (~300 kB on the wire)
LIVE = 40  # events appended while it is live
# Where the cuts fall, in bytes after they are asked for: with ~1 kB messages, inside a
# DATA frame (and a gRPC message) all but by chance.
CATCHING_UP_CUT = 100_003
LIVE_CUT = 25_007
# What each event takes on the wire at most, and the largest HTTP/2 frame (a cut loses the
# frame it falls in): the events before it came whole and are delivered.
EVENT_BYTES = 1_200
MAX_FRAME = 16_384 + 9


def _subscribe(
    client: Driver, target: str, name: str, kind: str, start: int, resubscribe: bool
) -> Consumer:
    if target == "stream":
        return client.subscribe(
            "subscribe_to_stream", name, auto_resubscribe=resubscribe, timeout=60
        )
    return client.subscribe(
        "subscribe_to_all",
        commit_position=start,
        filter_include=[kind],
        auto_resubscribe=resubscribe,
        timeout=60,
    )


def _take_until_failure(
    consumer: Consumer, count: int
) -> tuple[list[RecordedEvent], BaseException | None]:
    """Up to ``count`` events, and what stopped the consumer before (None: nothing)."""
    received: list[RecordedEvent] = []
    try:
        for _ in range(count):
            received.append(consumer.next(wait=10))
    except Exception as error:
        return received, error
    return received, None


@pytest.mark.parametrize("resubscribe", [True, False], ids=["auto_resubscribe", "no_resubscribe"])
@pytest.mark.parametrize("phase", ["catching_up", "live"])
@pytest.mark.parametrize("target", ["stream", "$all"])
def test_a_catch_up_subscription_cut_mid_frame(
    target: str,
    phase: str,
    resubscribe: bool,
    proxy: FaultProxy,
    connect: Connect,
    direct: EventStoreDBClient,
) -> None:
    name, kind = new_stream(), new_type()
    start = direct.get_commit_position()
    sent = append_batches(direct, name, kind, batches=3, size=RECORDED // 3)
    client = connect(uri_of(proxy.port))
    client.call("get_commit_position")  # connected: what follows is the subscription's
    if phase == "catching_up":
        proxy.cut_after(CATCHING_UP_CUT, "downstream")
    consumer = _subscribe(client, target, name, kind, start, resubscribe)
    if phase == "live":
        received = consumer.take(RECORDED)
        proxy.cut_after(LIVE_CUT, "downstream")
        sent += append_batches(direct, name, kind, batches=4, size=LIVE // 4)
        more, failure = _take_until_failure(consumer, LIVE)
        received += more
    else:
        received, failure = _take_until_failure(consumer, RECORDED)
    assert proxy.wait_for_cut(5), "the cut never came"
    try:
        if resubscribe:
            assert failure is None, f"{failure!r} after {len(received)} events"
            assert_in_order_once(received, sent)
        else:
            assert isinstance(failure, EventStoreDBClientException), (
                f"{failure!r} after {len(received)} of {len(sent)} events"
            )
            assert len(received) < len(sent)
            assert_prefix(received, sent)
            cut = CATCHING_UP_CUT if phase == "catching_up" else LIVE_CUT
            whole = len(received) - (RECORDED if phase == "live" else 0)
            assert whole >= (cut - MAX_FRAME) // EVENT_BYTES, "events that came whole were lost"
    finally:
        consumer.stop()
