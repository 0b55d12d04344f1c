"""esdbclient through each node of a secure cluster configured as esdbclient's own test
cluster is: its ``shared.env`` sets ``EVENTSTORE_RUN_PROJECTIONS=All`` and leaves
``START_STANDARD_PROJECTIONS`` at a node's default (false), so custom projections run and
the standard ones are registered but stopped (``--run-projections all
--start-standard-projections false`` here).

Nothing then writes to the log behind the client's back: an append is the last record in
``$all``, and a catch-up subscription's checkpoints never pass it. That is esdbclient's
``test_extra_checkpoint_bug_is_fixed`` (in ``TestESDBClusterNode1/2/3``), which fails
against a cluster whose standard projections write their links after each append.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import pytest

from tests.conformance._peer import esdbclient_or_skip
from tests.peers import require_peer

esdbclient = esdbclient_or_skip()

from esdbclient import NewEvent, StreamState  # noqa: E402
from esdbclient.events import Checkpoint  # noqa: E402
from esdbclient.exceptions import GrpcDeadlineExceeded  # noqa: E402

if TYPE_CHECKING:
    from esdbclient import EventStoreDBClient

RUN_PROJECTIONS = "all"
START_STANDARD_PROJECTIONS = "false"
STANDARD_PROJECTIONS = (
    "$streams",
    "$stream_by_category",
    "$by_category",
    "$by_event_type",
    "$by_correlation_id",
)
SUBSCRIPTION_SECONDS = 2  # how long the subscription may send checkpoints


def append_three(client: EventStoreDBClient) -> int:
    """Append three events to a new stream; the commit position of the last."""
    events = [NewEvent(type=t, data=b"{}") for t in ("Created", "Updated", "Deleted")]
    return client.append_events(
        str(uuid.uuid4()), current_version=StreamState.NO_STREAM, events=events
    )


@pytest.mark.parametrize("name", STANDARD_PROJECTIONS)
def test_the_standard_projections_are_stopped(client: EventStoreDBClient, name: str) -> None:
    assert client.get_projection_statistics(name=name).status == "Stopped"


def test_an_append_stays_the_last_record_in_all(client: EventStoreDBClient) -> None:
    position = append_three(client)
    (last,) = client.read_all(commit_position=position, filter_exclude=[], limit=1)
    assert last.commit_position == position
    assert client.get_commit_position(filter_exclude=[]) == position
    time.sleep(0.3)  # longer than the standard projections' lag, were they running
    assert client.get_commit_position(filter_exclude=[]) == position


def test_no_checkpoint_passes_the_last_append(client: EventStoreDBClient) -> None:
    position = append_three(client)
    assert client.get_commit_position(filter_exclude=[]) == position
    subscription = client.subscribe_to_all(
        include_checkpoints=True,
        window_size=10000,
        checkpoint_interval_multiplier=500,
        timeout=SUBSCRIPTION_SECONDS,
    )
    received: list[object] = []
    with pytest.raises(GrpcDeadlineExceeded):
        received.extend(subscription)  # until the deadline
    checkpoints = [item.commit_position for item in received if isinstance(item, Checkpoint)]
    assert checkpoints, "no checkpoint: the subscription did not reach the end of $all"
    assert all(c is not None and c <= position for c in checkpoints), (checkpoints, position)


def test_custom_projections_still_run(client: EventStoreDBClient) -> None:
    require_peer("py_mini_racer")
    stream_name = f"counted-{uuid.uuid4().hex}"
    name = f"count-{uuid.uuid4().hex}"
    client.create_projection(
        name=name,
        query=f"fromStream('{stream_name}').when({{$init: function() {{ return {{n: 0}}; }},"
        " $any: function(s, e) { s.n += 1; return s; }}).outputState()",
    )
    client.append_events(
        stream_name,
        current_version=StreamState.NO_STREAM,
        events=[NewEvent(type="Counted", data=b"{}") for _ in range(3)],
    )
    deadline = time.monotonic() + 10
    while client.get_projection_state(name=name).value != {"n": 3}:
        assert time.monotonic() < deadline, client.get_projection_state(name=name).value
        time.sleep(0.05)
    assert client.get_projection_statistics(name=name).status == "Running"
