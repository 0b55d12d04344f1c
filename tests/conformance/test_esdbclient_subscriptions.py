"""esdbclient 1.1.7 against the embedded server: catch-up subscriptions to $all and streams.

Spec references are to /work/shared/research/server-spec.md (§3.6, §3.7). Every
subscription carries a gRPC deadline (``SUBSCRIPTION_DEADLINE``), so a missing event fails
the test instead of hanging it.
"""

from __future__ import annotations

import time

import pytest

from tests.conformance._peer import esdbclient_or_skip

esdbclient_or_skip()

from esdbclient import (  # noqa: E402
    CaughtUp,
    Checkpoint,
    EventStoreDBClient,
    NewEvent,
    RecordedEvent,
    StreamState,
)
from esdbclient.exceptions import DeadlineExceeded, StreamIsDeleted  # noqa: E402

from tests.conformance._support import (  # noqa: E402
    SUBSCRIPTION_DEADLINE,
    commit_position,
    ids,
    new_events,
    new_stream,
    new_type,
    take,
)

DELETED = 2**63 - 1


def append(client: EventStoreDBClient, stream_name: str, events: list[NewEvent]) -> int:
    return client.append_to_stream(stream_name, current_version=StreamState.ANY, events=events)


def positions_of(client: EventStoreDBClient, stream_name: str) -> list[int]:
    return [commit_position(e) for e in client.get_stream(stream_name)]


# ---- $all --------------------------------------------------------------------------


def test_subscribe_to_all_from_a_position_is_exclusive_then_live(
    client: EventStoreDBClient,
) -> None:
    stream_name = new_stream()
    events = new_events(5)
    append(client, stream_name, events)
    positions = positions_of(client, stream_name)

    with client.subscribe_to_all(
        commit_position=positions[1],
        filter_include=[stream_name],
        filter_by_stream_name=True,
        include_caught_up=True,
        timeout=SUBSCRIPTION_DEADLINE,
    ) as subscription:
        assert subscription.subscription_id
        history = take(subscription, 4)
        assert ids(history[:3]) == ids(events[2:])
        assert [e.commit_position for e in history[:3]] == positions[2:]
        assert isinstance(history[3], CaughtUp)

        live = new_events(2, start=5)
        append(client, stream_name, live)
        assert ids(take(subscription, 2)) == ids(live)


def test_subscribe_to_all_without_filter_gets_every_event(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    position = append(client, stream_name, new_events(1))

    with client.subscribe_to_all(
        commit_position=position, filter_exclude=(), timeout=SUBSCRIPTION_DEADLINE
    ) as subscription:
        client.set_stream_metadata(stream_name, metadata={"a": 1})
        (live,) = new_events(1)
        append(client, stream_name, [live])
        metadata_event, user_event = take(subscription, 2)
    assert (metadata_event.stream_name, metadata_event.type) == ("$$" + stream_name, "$metadata")
    assert user_event.id == live.id


def test_subscribe_to_all_from_end_gets_only_new_events(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    append(client, stream_name, new_events(3))

    with client.subscribe_to_all(
        from_end=True,
        filter_include=[stream_name],
        filter_by_stream_name=True,
        include_caught_up=True,
        timeout=SUBSCRIPTION_DEADLINE,
    ) as subscription:
        assert isinstance(next(subscription), CaughtUp)
        live = new_events(2, start=3)
        append(client, stream_name, live)
        assert ids(take(subscription, 2)) == ids(live)


def test_subscribe_to_all_default_filter_skips_system_events(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    with client.subscribe_to_all(from_end=True, timeout=SUBSCRIPTION_DEADLINE) as subscription:
        client.set_stream_metadata(stream_name, metadata={"a": 1})
        (event,) = new_events(1)
        append(client, stream_name, [event])
        received = next(subscription)
    assert received.id == event.id


def test_subscribe_to_all_filters_on_event_type(client: EventStoreDBClient) -> None:
    wanted, unwanted = new_type("Wanted"), new_type("Unwanted")
    stream_name = new_stream()
    start = append(client, stream_name, new_events(1, unwanted))
    history = new_events(2, wanted)
    append(client, stream_name, [*new_events(1, unwanted), history[0]])
    append(client, stream_name, [history[1], *new_events(1, unwanted)])

    with client.subscribe_to_all(
        commit_position=start, filter_include=[wanted], timeout=SUBSCRIPTION_DEADLINE
    ) as subscription:
        assert ids(take(subscription, 2)) == ids(history)
        live = new_events(1, wanted)
        append(client, stream_name, [*new_events(2, unwanted), *live])
        assert ids(take(subscription, 1)) == ids(live)

    with client.subscribe_to_all(
        commit_position=start,
        filter_exclude=[unwanted, r"\$.+"],
        filter_include=(),
        timeout=SUBSCRIPTION_DEADLINE,
    ) as subscription:
        assert ids(take(subscription, 3)) == ids([*history, *live])


def test_checkpoints_of_a_filtered_subscription(client: EventStoreDBClient) -> None:
    """Checkpoint every window x multiplier considered events, and when catch-up ends (§3.6)."""
    wanted, other = new_type("Wanted"), new_type("Other")
    stream_name = new_stream()
    marker = append(client, stream_name, new_events(1, other))
    events = [
        new_events(1, wanted if i % 2 == 0 else other, start=i)[0] for i in range(10)
    ]  # e0 wanted, e1 other, e2 wanted, ...
    append(client, stream_name, events)
    positions = positions_of(client, stream_name)[1:]

    with client.subscribe_to_all(
        commit_position=marker,
        filter_include=[wanted],
        include_checkpoints=True,
        include_caught_up=True,
        window_size=2,
        checkpoint_interval_multiplier=1,
        timeout=SUBSCRIPTION_DEADLINE,
    ) as subscription:
        received: list[RecordedEvent] = []
        while not received or not isinstance(received[-1], CaughtUp):
            received.append(next(subscription))

        delivered = [e for e in received if type(e) is RecordedEvent]
        assert ids(delivered) == ids(events[0::2])
        checkpoints = [e for e in received if isinstance(e, Checkpoint)]
        assert checkpoints, received
        # One after every 2 considered events: after e1, e3, e5, e7 and e9 (the real server
        # may repeat the last one when catch-up ends).
        assert len(checkpoints) >= 5
        next_events = [*positions[2::2], positions[-1] + 1]
        for pair, checkpoint in enumerate(checkpoints[:5]):
            assert positions[2 * pair + 1] <= commit_position(checkpoint) < next_events[pair]
        for checkpoint in checkpoints:
            assert checkpoint.prepare_position == checkpoint.commit_position
        # A checkpoint's position is at least that of the events it follows.
        last_seen = marker
        for item in received:
            if isinstance(item, (Checkpoint, CaughtUp)):
                if isinstance(item, Checkpoint):
                    assert last_seen <= commit_position(item) <= positions[-1]
                    last_seen = commit_position(item)
                continue
            assert commit_position(item) > last_seen
            last_seen = commit_position(item)
        # The last item before CaughtUp is a checkpoint at the end of what was read.
        assert isinstance(received[-2], Checkpoint)
        assert received[-2].commit_position == positions[-1]

        # Live: another checkpoint after 2 more considered events.
        append(client, stream_name, new_events(2, other))
        live_checkpoint = next(subscription)
        assert isinstance(live_checkpoint, Checkpoint)
        assert live_checkpoint.commit_position == positions_of(client, stream_name)[-1]


def test_checkpoints_only_when_asked(client: EventStoreDBClient) -> None:
    wanted, other = new_type("Wanted"), new_type("Other")
    stream_name = new_stream()
    marker = append(client, stream_name, new_events(1, other))
    append(client, stream_name, [*new_events(6, other), *new_events(1, wanted)])

    with client.subscribe_to_all(
        commit_position=marker,
        filter_include=[wanted],
        window_size=1,
        checkpoint_interval_multiplier=1,
        timeout=SUBSCRIPTION_DEADLINE,
    ) as subscription:
        assert next(subscription).type == wanted


def test_no_checkpoints_without_a_filter(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    start = append(client, stream_name, new_events(1))
    events = new_events(12)
    append(client, stream_name, events)

    with client.subscribe_to_all(
        commit_position=start,
        filter_exclude=(),
        include_checkpoints=True,
        include_caught_up=True,
        window_size=1,
        checkpoint_interval_multiplier=1,
        timeout=SUBSCRIPTION_DEADLINE,
    ) as subscription:
        received = take(subscription, 13)
    assert ids(received[:12]) == ids(events)
    assert isinstance(received[12], CaughtUp)


def test_stop_ends_a_subscription(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    subscription = client.subscribe_to_all(
        from_end=True,
        filter_include=[stream_name],
        filter_by_stream_name=True,
        timeout=SUBSCRIPTION_DEADLINE,
    )
    (event,) = new_events(1)
    append(client, stream_name, [event])
    assert next(subscription).id == event.id

    started = time.monotonic()
    subscription.stop()
    assert list(subscription) == []
    assert time.monotonic() - started < 2


# ---- streams -----------------------------------------------------------------------


def test_subscribe_to_stream_from_start_with_caught_up(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    history = new_events(3)
    append(client, stream_name, history)
    append(client, new_stream(), new_events(1))  # another stream: not delivered

    with client.subscribe_to_stream(
        stream_name, include_caught_up=True, timeout=SUBSCRIPTION_DEADLINE
    ) as subscription:
        received = take(subscription, 4)
        assert ids(received[:3]) == ids(history)
        assert [e.stream_position for e in received[:3]] == [0, 1, 2]
        assert isinstance(received[3], CaughtUp)

        live = new_events(2, start=3)
        append(client, stream_name, live)
        received = take(subscription, 2)
        assert ids(received) == ids(live)
        assert [e.stream_position for e in received] == [3, 4]


def test_subscribe_to_stream_from_a_position_is_exclusive(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    history = new_events(4)
    append(client, stream_name, history)

    with client.subscribe_to_stream(
        stream_name, stream_position=1, timeout=SUBSCRIPTION_DEADLINE
    ) as subscription:
        assert ids(take(subscription, 2)) == ids(history[2:])


def test_subscribe_to_stream_from_end(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    append(client, stream_name, new_events(3))

    with client.subscribe_to_stream(
        stream_name, from_end=True, include_caught_up=True, timeout=SUBSCRIPTION_DEADLINE
    ) as subscription:
        assert isinstance(next(subscription), CaughtUp)
        (live,) = new_events(1)
        append(client, stream_name, [live])
        received = next(subscription)
        assert (received.id, received.stream_position) == (live.id, 3)


def test_subscribe_to_a_stream_that_does_not_exist_yet(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    with client.subscribe_to_stream(
        stream_name, include_caught_up=True, timeout=SUBSCRIPTION_DEADLINE
    ) as subscription:
        assert isinstance(next(subscription), CaughtUp)
        events = new_events(2)
        append(client, stream_name, events)
        assert ids(take(subscription, 2)) == ids(events)


def test_catch_up_over_many_events(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    before = append(client, new_stream(), new_events(1))
    events = new_events(700)
    append(client, stream_name, events)

    with client.subscribe_to_stream(
        stream_name, include_caught_up=True, timeout=SUBSCRIPTION_DEADLINE
    ) as subscription:
        received = take(subscription, 701)
        assert ids(received[:700]) == ids(events)
        assert [e.stream_position for e in received[:700]] == list(range(700))
        assert isinstance(received[700], CaughtUp)

    with client.subscribe_to_all(
        commit_position=before, include_caught_up=True, timeout=SUBSCRIPTION_DEADLINE
    ) as subscription:
        received = take(subscription, 701)
        assert ids(received[:700]) == ids(events)
        assert isinstance(received[700], CaughtUp)


def test_stream_subscription_across_a_soft_delete(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    history = new_events(3)
    append(client, stream_name, history)

    with client.subscribe_to_stream(
        stream_name, include_caught_up=True, timeout=SUBSCRIPTION_DEADLINE
    ) as subscription:
        assert ids(take(subscription, 3)) == ids(history)
        assert isinstance(next(subscription), CaughtUp)
        client.delete_stream(stream_name, current_version=2)
        (recreated,) = new_events(1, start=3)
        append(client, stream_name, [recreated])
        received = next(subscription)
        assert (received.id, received.stream_position) == (recreated.id, 3)

    # A new subscription from the start sees only the recreated stream.
    with client.subscribe_to_stream(
        stream_name, include_caught_up=True, timeout=SUBSCRIPTION_DEADLINE
    ) as subscription:
        received, caught_up = take(subscription, 2)
        assert (received.id, received.stream_position) == (recreated.id, 3)
        assert isinstance(caught_up, CaughtUp)


def test_subscribe_to_stream_resolves_links(client: EventStoreDBClient) -> None:
    target_stream, link_stream = new_stream("target"), new_stream("links")
    (target,) = new_events(1)
    append(client, target_stream, [target])
    link = NewEvent(
        type="$>", data=f"0@{target_stream}".encode(), content_type="application/octet-stream"
    )
    append(client, link_stream, [link])

    with client.subscribe_to_stream(
        link_stream, resolve_links=True, timeout=SUBSCRIPTION_DEADLINE
    ) as subscription:
        received = next(subscription)
    assert (received.id, received.stream_name) == (target.id, target_stream)
    assert received.link is not None
    assert received.link.id == link.id


def test_tombstone_ends_a_stream_subscription(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    history = new_events(2)
    append(client, stream_name, history)

    with client.subscribe_to_stream(
        stream_name, include_caught_up=True, timeout=SUBSCRIPTION_DEADLINE
    ) as subscription:
        received = take(subscription, 3)
        assert ids(received[:2]) == ids(history)
        assert isinstance(received[2], CaughtUp)

        client.tombstone_stream(stream_name, current_version=1)
        tombstone = next(subscription)
        assert (tombstone.type, tombstone.stream_position) == ("$streamDeleted", DELETED)
        with pytest.raises(StreamIsDeleted):
            next(subscription)


def test_subscription_to_a_tombstoned_stream(client: EventStoreDBClient) -> None:
    stream_name = new_stream()
    append(client, stream_name, new_events(1))
    client.tombstone_stream(stream_name, current_version=0)

    # The confirmation comes first, so subscribing works; the error follows it.
    subscription = client.subscribe_to_stream(stream_name, timeout=SUBSCRIPTION_DEADLINE)
    with pytest.raises(StreamIsDeleted):
        next(subscription)


def test_subscription_deadline(client: EventStoreDBClient) -> None:
    started = time.monotonic()
    subscription = client.subscribe_to_stream(new_stream(), timeout=0.3)
    with pytest.raises(DeadlineExceeded):
        next(subscription)
    assert 0.25 < time.monotonic() - started < 5
