"""A catastrophic filter regex sent by a client (issue 15, server item 5): refused at
once with INVALID_ARGUMENT, and the server keeps serving (it used to freeze for seconds).
The policy itself is tested in test_regex.py."""

from __future__ import annotations

import time
from uuid import uuid4

import pytest

from esdb_wire import EventStoreDBClient, NewEvent, StreamState
from tests.server_hostile.support import STRICT, LatencyProbe, report, server_process

REFUSAL = "not accepted by this server"
EVIL_TYPE = "a" * 24 + "!"  # (a+)+$ takes ~1.6 s on it with Python's re, x4 per 2 more a


def test_a_catastrophic_filter_is_refused_and_freezes_nothing() -> None:
    with server_process() as server, EventStoreDBClient(uri=server.uri) as client:
        client.append_to_stream(
            f"evil-{uuid4()}",
            current_version=StreamState.ANY,
            events=NewEvent(EVIL_TYPE, b"{}"),
        )
        with LatencyProbe(server.uri) as probe:
            time.sleep(0.2)
            started = time.monotonic()
            with pytest.raises(Exception, match=REFUSAL):
                list(client.read_all(filter_include=["(a+)+"], timeout=30))
            with pytest.raises(Exception, match=REFUSAL):
                next(iter(client.subscribe_to_all(filter_include=["(a+)+"], timeout=30)))
            with pytest.raises(Exception, match=REFUSAL):
                client.create_subscription_to_all(f"g-{uuid4()}", filter_include=["(a+)+"])
            took = time.monotonic() - started
            time.sleep(0.2)
        # A safe filter over the same event still works.
        found = [e.type for e in client.read_all(filter_include=["a+!"], timeout=30)]
    report("catastrophic regex", [f"3 refusals in {took * 1000:.0f} ms", probe.summary()])
    assert took < 2
    assert not STRICT or probe.percentile(0.99) < 0.050
    assert EVIL_TYPE in found
