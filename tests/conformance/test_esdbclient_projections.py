"""esdbclient 1.1.7 (the independent peer) against the embedded server's projections:
the cases of its own projection tests (``tests/test_client.py``) and of its README's
"Projections" section, on a server running all projections (``--run-projections=All``,
standard projections started) with the JavaScript engine (the ``projections`` extra).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from esdb_wire.server.embedded import EmbeddedServer
from tests.conformance._peer import esdbclient_or_skip
from tests.peers import require_peer

esdbclient = esdbclient_or_skip()

from esdbclient import NewEvent, StreamState  # noqa: E402
from esdbclient.exceptions import (  # noqa: E402
    AlreadyExists,
    DeadlineExceeded,
    ExceptionThrownByHandler,
    NotFound,
    OperationFailed,
)

if TYPE_CHECKING:
    from esdbclient import EventStoreDBClient

COUNT_QUERY = """fromStream('%s')
.when({
  $init: function(){
    return {
      count: 0
    };
  }
})
.outputState()
"""


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    """One server for the module: all projections run."""
    require_peer("py_mini_racer")
    embedded = EmbeddedServer(run_projections="all").start()
    try:
        yield embedded
    finally:
        embedded.stop()


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something true (what it returns)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_create_projection(client: EventStoreDBClient) -> None:
    client.create_projection(query="", name=str(uuid.uuid4()))
    client.create_projection(query="", name=str(uuid.uuid4()), emit_enabled=True)
    name = str(uuid.uuid4())
    client.create_projection(query="", name=name, emit_enabled=True, track_emitted_streams=True)
    with pytest.raises(AlreadyExists):
        client.create_projection(query="", name=name, emit_enabled=True, track_emitted_streams=True)
    with pytest.raises(ExceptionThrownByHandler):
        client.create_projection(
            query="", name=name, emit_enabled=False, track_emitted_streams=True
        )


@pytest.mark.parametrize(
    "call",
    [
        lambda c, n: c.update_projection(name=n, query=""),
        lambda c, n: c.delete_projection(n),
        lambda c, n: c.get_projection_statistics(name=n),
        lambda c, n: c.disable_projection(name=n),
        lambda c, n: c.enable_projection(name=n),
        lambda c, n: c.reset_projection(name=n),
        lambda c, n: c.get_projection_state(name=n),
    ],
)
def test_unknown_projections_are_not_found(
    client: EventStoreDBClient, call: Callable[[EventStoreDBClient, str], Any]
) -> None:
    with pytest.raises(NotFound):
        call(client, str(uuid.uuid4()))


def test_management_calls_on_an_existing_projection(client: EventStoreDBClient) -> None:
    name = str(uuid.uuid4())
    client.create_projection(query="", name=name)
    client.update_projection(name=name, query="")
    client.update_projection(name=name, query="", emit_enabled=True)
    client.update_projection(name=name, query="", emit_enabled=False)
    client.disable_projection(name=name)
    client.enable_projection(name=name)
    client.reset_projection(name=name)
    client.delete_projection(
        name=name,
        delete_emitted_streams=True,
        delete_state_stream=True,
        delete_checkpoint_stream=True,
    )
    with pytest.raises(NotFound):
        client.delete_projection(name=name)
    client.restart_projections_subsystem()


def test_state_of_a_projection_that_never_ran_does_not_answer(client: EventStoreDBClient) -> None:
    name = str(uuid.uuid4())
    client.create_projection(query="", name=name)  # faults: no source
    with pytest.raises(DeadlineExceeded):
        client.get_projection_state(name=name, timeout=1)
    statistics = client.get_projection_statistics(name=name)
    assert statistics.status == "Faulted"
    assert statistics.state_reason == "None of streams and categories are included"

    name = str(uuid.uuid4())
    client.create_projection(query=COUNT_QUERY % f"app-{name}", name=name)
    assert client.get_projection_state(name=name).value == {}
    statistics = client.get_projection_statistics(name=name)
    assert statistics.name == name
    assert statistics.status == "Running"
    assert statistics.mode == "Continuous"


def test_projection_example(client: EventStoreDBClient) -> None:
    """esdbclient's ``test_projection_example``, polling where it sleeps."""
    stream = f"account-{uuid.uuid4()}"
    emitted = f"emitted-{uuid.uuid4()}"
    query = (
        f"fromStream('{stream}')"
        ".when({$init: function(){ return {count: 0, list: [null, '2.10', true]}; },"
        " SomethingHappened: function(s,e){ s.count += 1;"
        f" emit('{emitted}', 'Emitted', {{}}, {{}}); }}"
        "}).outputState()"
    )
    name = f"projection-{uuid.uuid4()}"
    client.create_projection(query=query, name=name, emit_enabled=True, track_emitted_streams=True)
    client.disable_projection(name=name)
    client.update_projection(query=query, name=name, emit_enabled=False)
    client.update_projection(query=query, name=name, emit_enabled=True)
    assert client.get_projection_statistics(name=name).name == name
    client.enable_projection(name=name)

    events = [
        NewEvent(type="SomethingHappened", data=b"{}"),
        NewEvent(type="SomethingElseHappened", data=b"{}"),
        NewEvent(type="SomethingHappened", data=b"{}"),
    ]
    client.append_events(stream, current_version=StreamState.ANY, events=events)

    def processed(count: int) -> bool:
        stats = client.get_projection_statistics(name=name)
        return bool(stats.events_processed_after_restart >= count)

    assert eventually(lambda: processed(2))
    state = client.get_projection_state(name)
    assert state.value["count"] == 2
    assert state.value["list"] == [None, "2.10", True]

    result_stream = f"$projections-{name}-result"
    results = client.get_stream(result_stream)
    assert [e.type for e in results] == ["Result", "Result"]
    assert json.loads(results[0].data) == {"count": 1, "list": [None, "2.10", True]}
    assert json.loads(results[1].data) == {"count": 2, "list": [None, "2.10", True]}
    assert json.loads(results[0].metadata)["$causedBy"] == str(events[0].id)
    assert json.loads(results[1].metadata)["$causedBy"] == str(events[2].id)
    assert len(client.get_stream(emitted)) == 2
    assert client.get_projection_statistics(name=name).status == "Running"

    # Reset while running starts again from the beginning.
    client.reset_projection(name=name)
    assert eventually(lambda: processed(2))
    assert client.get_projection_statistics(name=name).status == "Running"
    assert "count" in client.get_projection_state(name).value

    with pytest.raises(OperationFailed):
        client.delete_projection(
            name,
            delete_emitted_streams=True,
            delete_state_stream=True,
            delete_checkpoint_stream=True,
        )

    client.disable_projection(name)
    assert client.get_projection_statistics(name=name).status == "Stopped"
    assert "count" in client.get_projection_state(name).value  # from the checkpoint

    client.reset_projection(name=name)
    stats = client.get_projection_statistics(name=name)
    assert (stats.status, stats.events_processed_after_restart) == ("Stopped", 0)
    assert "count" not in client.get_projection_state(name).value

    client.enable_projection(name=name)
    assert eventually(lambda: client.get_projection_state(name).value.get("count") == 2)
    assert client.get_projection_statistics(name=name).status == "Running"

    client.disable_projection(name=name)
    client.delete_projection(
        name, delete_emitted_streams=True, delete_state_stream=True, delete_checkpoint_stream=True
    )
    for call in (
        lambda: client.get_projection_statistics(name=name),
        lambda: client.get_projection_state(name),
        lambda: client.enable_projection(name),
        lambda: client.disable_projection(name),
    ):
        with pytest.raises(NotFound):
            call()
    assert len(client.get_stream(result_stream)) == 2  # the result stream stays
    with pytest.raises(NotFound):
        client.get_stream(emitted)  # tracked emitted streams are deleted


def test_readme_projections_section(client: EventStoreDBClient) -> None:
    """The README's Projections section, in order."""
    stream_name2 = str(uuid.uuid4())
    client.append_to_stream(
        stream_name2,
        current_version=StreamState.NO_STREAM,
        events=[
            NewEvent(type="OrderCreated", data=b'{"name": "order-1"}'),
            NewEvent(type="OrderUpdated", data=b'{"name": "order-1"}'),
            NewEvent(type="OrderDeleted", data=b'{"name": "order-1"}'),
        ],
    )
    projection_name = str(uuid.uuid4())
    projection_query = """fromStream('STREAM')
.when({
  $init: function(){
    return {
      count: 0
    };
  },
  OrderCreated: function(s,e){
    s.count += 1;
  },
  OrderUpdated: function(s,e){
    s.count += 1;
  },
  OrderDeleted: function(s,e){
    s.count += 1;
  }
})
.outputState()
""".replace("STREAM", stream_name2)
    client.create_projection(name=projection_name, query=projection_query)
    assert eventually(
        lambda: client.get_projection_state(name=projection_name).value == {"count": 3}
    )
    statistics = client.get_projection_statistics(name=projection_name)
    assert statistics.events_processed_after_restart == 3
    assert statistics.position == f"{stream_name2}: 2"
    client.update_projection(name=projection_name, query=projection_query)
    client.enable_projection(name=projection_name)
    client.disable_projection(name=projection_name)
    client.reset_projection(name=projection_name)
    client.delete_projection(name=projection_name)
    client.restart_projections_subsystem()
    results = client.get_stream(f"$projections-{projection_name}-result")
    assert [json.loads(e.data) for e in results] == [{"count": n} for n in (1, 2, 3)]


def test_an_appends_position_is_the_last_in_all_right_after_it(client: EventStoreDBClient) -> None:
    """esdbclient's ``test_extra_checkpoint_bug_is_fixed``: the standard projections
    write their links after the append, not in it."""
    events = [NewEvent(type=t, data=b"{}") for t in ("OrderCreated", "OrderUpdated")]
    position = client.append_events(
        str(uuid.uuid4()), current_version=StreamState.NO_STREAM, events=events
    )
    assert client.get_commit_position(filter_exclude=[]) == position
    # ...and the links follow soon after.
    assert eventually(lambda: client.get_commit_position(filter_exclude=[]) > position)
