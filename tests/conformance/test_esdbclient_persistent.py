"""esdbclient 1.1.7 against the embedded server: persistent subscription timing.

The server retries a timed-out message on its clock tick, once a second
(``PersistentSubscriptionService``'s timer), not the moment the timeout passes: a message
timeout of 0.1 s really lasts until the next tick. esdbclient relies on it, as it sends
its acks in batches up to 0.2 s late (``max_ack_delay``).
"""

from __future__ import annotations

import os

from tests.conformance._peer import esdbclient_or_skip

esdbclient_or_skip()

from esdbclient import EventStoreDBClient, NewEvent, StreamState  # noqa: E402

from tests.conformance._support import SUBSCRIPTION_DEADLINE, new_stream  # noqa: E402


def test_subscription_to_all_read_with_max_retry_count_3(client: EventStoreDBClient) -> None:
    """esdbclient's own test of that name: an event never acked is delivered four times
    (retry counts 0 to 3), then parked, and the acked events that follow are each
    delivered once: their acks, sent late, arrive before a tick retries them."""
    group_name = f"retried-{os.urandom(8).hex()}"
    client.create_subscription_to_all(
        group_name=group_name, from_end=True, message_timeout=0.1, max_retry_count=3
    )
    never_acked, second, third = (
        NewEvent(type=name, data=os.urandom(16), metadata=b"{}")
        for name in ("OrderCreated", "OrderUpdated", "OrderDeleted")
    )
    client.append_to_stream(
        new_stream("retried"),
        current_version=StreamState.NO_STREAM,
        events=[never_acked, second, third],
    )
    subscription = client.read_subscription_to_all(
        group_name=group_name, event_buffer_size=1, timeout=SUBSCRIPTION_DEADLINE
    )
    received = []
    try:
        for event in subscription:
            received.append(event)
            if event.id != never_acked.id:
                subscription.ack(event)
            if len(received) == 6:
                break
    finally:
        subscription.stop()
    assert [event.id for event in received] == [never_acked.id] * 4 + [second.id, third.id]
    assert [event.retry_count for event in received[:4]] == [0, 1, 2, 3]
    assert [event.data for event in received[4:]] == [second.data, third.data]
