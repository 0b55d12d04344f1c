"""Migrating from esdbclient 1.1.7: the same operations through esdbclient and through
esdb_wire, against one embedded server, give the same observable results.

Two ways of comparing: both clients read the SAME streams (events, versions, metadata,
subscription deliveries must be identical), and both clients run the SAME operation
sequence on two sets of stream names of equal length (the server's positions depend only
on record sizes, so position differences along the two sequences must be identical).
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from functools import partial
from typing import Any

import pytest

import esdb_wire
from esdb_wire import exceptions as wire_exceptions
from esdb_wire.client import paths
from esdb_wire.server.embedded import EmbeddedServer
from tests.client_v1._support import RecordingServer, rpc_name
from tests.peers import require_peer
from tests.tcp_proxy import BlackholeProxy

DEADLINE = 10.0


def _esdbclient() -> Any:
    try:
        return require_peer("esdbclient")
    except pytest.skip.Exception as skip:
        pytest.skip(str(skip), allow_module_level=True)


esdbclient = _esdbclient()
Ours = esdb_wire.EventStoreDBClient
Theirs = Any  # esdbclient.EventStoreDBClient (typed Any: the peer is optional)


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as embedded:
        yield embedded


@pytest.fixture(scope="module")
def theirs(server: EmbeddedServer) -> Iterator[Any]:
    client = esdbclient.EventStoreDBClient(uri=server.esdb_uri)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def ours(server: EmbeddedServer, http2_engine: str) -> Iterator[esdb_wire.EventStoreDBClient]:
    with esdb_wire.EventStoreDBClient(server.uri) as client:
        yield client


# ---- the two libraries' objects, side by side ----------------------------------------


class Lib:
    """One library's classes, so a scenario can be written once for both."""

    def __init__(self, name: str, module: Any) -> None:
        self.name = name
        self.NewEvent: Callable[..., Any] = module.NewEvent
        self.StreamState: Any = module.StreamState

    def events(self, count: int, kind: str = "Happened", start: int = 0) -> list[Any]:
        return [
            self.NewEvent(
                type=kind,
                data=b'{"n": %d}' % (start + i),
                metadata=b'{"m": %d}' % (start + i),
            )
            for i in range(count)
        ]

    def event(self, kind: str = "One", **kwargs: Any) -> Any:
        return self.NewEvent(type=kind, data=b"{}", **kwargs)


THEIRS = Lib("esdbclient", esdbclient)
OURS = Lib("esdb_wire", esdb_wire)


def stream_pair() -> tuple[str, str]:
    """Two fresh stream names of the same length."""
    return f"mig-{uuid.uuid4().hex}", f"mig-{uuid.uuid4().hex}"


def fields(event: Any) -> tuple[Any, ...]:
    """Everything observable of a recorded event but its time (compared separately)."""
    link = event.link
    return (
        type(event).__name__,
        event.type,
        event.data,
        event.metadata,
        event.content_type,
        event.id,
        event.stream_name,
        event.stream_position,
        event.commit_position,
        event.prepare_position,
        None if link is None else fields(link),
        event.retry_count,
        event.ack_id,
        event.is_checkpoint,
        event.is_caught_up,
        event.is_system_event,
        event.is_link_event,
        event.is_resolved_event,
    )


def assert_same_events(mine: Sequence[Any], reference: Sequence[Any]) -> None:
    assert [fields(e) for e in mine] == [fields(e) for e in reference]
    for a, b in zip(mine, reference):
        assert a.recorded_at is not None
        assert b.recorded_at is not None
        assert a.recorded_at.tzinfo is not None
        assert b.recorded_at.tzinfo is not None
        assert abs((a.recorded_at - b.recorded_at).total_seconds()) < 1


def esdbclient_name(error: BaseException) -> str:
    """The name of the nearest class of ``error`` that esdbclient also has (esdb_wire's
    ``StreamNotFound`` is a ``NotFound``); for esdbclient's own exceptions, their name."""
    for cls in type(error).__mro__:
        if isinstance(getattr(esdbclient.exceptions, cls.__name__, None), type):
            return cls.__name__
    return type(error).__name__


def plain(value: Any) -> Any:
    """``StreamState`` members of either library by name; other values as they are."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def outcome(call: Callable[[], Any]) -> Any:
    """The result of ``call``, or the (esdbclient) name of the exception it raised."""
    try:
        return plain(call())
    except Exception as error:
        return ("raised", esdbclient_name(error))


def append(client: Any, name: str, version: Any, events: Any, **kwargs: Any) -> int:
    result: int = client.append_to_stream(name, current_version=version, events=events, **kwargs)
    return result


def stream_positions(client: Any, name: str) -> list[int]:
    return [event.stream_position for event in client.get_stream(name)]


def count(items: Any) -> int:
    return len(list(items))


def exception_names(call: Callable[[], Any]) -> list[str]:
    """The class names of the exception ``call`` raises (the class and its bases)."""
    try:
        call()
    except Exception as error:
        return [cls.__name__ for cls in type(error).__mro__]
    return []


# ---- appending and reading -----------------------------------------------------------


def run_write_sequence(client: Any, lib: Lib, name: str) -> list[int]:
    """The same writes with either client; returns the commit positions they report."""
    ss = lib.StreamState
    positions = [
        client.append_to_stream(name, current_version=ss.NO_STREAM, events=lib.event("First")),
        client.append_to_stream(name, current_version=0, events=lib.events(3)),
        client.append_event(name, current_version=3, event=lib.event("Second")),
        client.append_events(name, current_version=4, events=lib.events(2, "Pair", start=3)),
        client.append_to_stream(name, current_version=ss.ANY, events=lib.events(1, "Any", 5)),
        client.append_to_stream(name, current_version=ss.EXISTS, events=lib.event("Exists")),
    ]
    octet = lib.NewEvent(
        type="Octet", data=b"\x00\xff", metadata=b"m", content_type="application/octet-stream"
    )
    positions.append(client.append_to_stream(name, current_version=8, events=[octet]))
    positions.append(client.append_to_stream(name, current_version=ss.ANY, events=[]))
    return positions


def test_writes_report_the_same_positions(ours: Ours, theirs: Theirs) -> None:
    name_theirs, name_ours = stream_pair()
    positions_theirs = run_write_sequence(theirs, THEIRS, name_theirs)
    positions_ours = run_write_sequence(ours, OURS, name_ours)
    assert all(isinstance(p, int) for p in positions_theirs + positions_ours)
    deltas_theirs = [p - positions_theirs[0] for p in positions_theirs]
    deltas_ours = [p - positions_ours[0] for p in positions_ours]
    assert deltas_ours == deltas_theirs
    # Both clients read back both streams identically.
    for name in (name_theirs, name_ours):
        reference = theirs.get_stream(name)
        assert_same_events(ours.get_stream(name), reference)
        assert reference[-1].commit_position == (
            positions_theirs[-2] if name == name_theirs else positions_ours[-2]
        )
        assert ours.get_current_version(name) == theirs.get_current_version(name) == 9
    # The stream written by esdb_wire, event by event, equals the one by esdbclient but
    # for ids, stream names and positions.
    a, b = theirs.get_stream(name_theirs), theirs.get_stream(name_ours)
    assert [(e.type, e.data, e.metadata, e.content_type, e.stream_position) for e in a] == [
        (e.type, e.data, e.metadata, e.content_type, e.stream_position) for e in b
    ]
    assert ours.get_commit_position() == theirs.get_commit_position() == positions_ours[-2]
    # An empty append reports where the next event will go (the end of the log).
    assert positions_ours[-1] > positions_ours[-2]


def test_reads_with_every_argument_agree(ours: Ours, theirs: Theirs) -> None:
    name, _ = stream_pair()
    kind_a, kind_b = f"A{uuid.uuid4().hex}", f"B{uuid.uuid4().hex}"
    events = [*THEIRS.events(3, kind_a), *THEIRS.events(3, kind_b, start=3)]
    last = theirs.append_to_stream(name, current_version=THEIRS.StreamState.ANY, events=events)
    first = theirs.get_stream(name)[0].commit_position
    stream_reads: list[dict[str, Any]] = [
        {},
        {"stream_position": 2},
        {"backwards": True},
        {"limit": 2},
        {"stream_position": 4, "backwards": True, "limit": 3},
        {"stream_position": 10},
        {"resolve_links": True},
    ]
    for kwargs in stream_reads:
        assert_same_events(ours.get_stream(name, **kwargs), theirs.get_stream(name, **kwargs))
        assert_same_events(
            list(ours.read_stream(name, **kwargs)), list(theirs.read_stream(name, **kwargs))
        )
    all_reads: list[dict[str, Any]] = [
        {"commit_position": first},
        {"commit_position": first, "limit": 2},
        {"commit_position": last, "backwards": True, "limit": 4},
        {"backwards": True, "limit": 3},
        {"limit": 5},
        {"commit_position": first, "filter_include": [kind_b]},
        {"commit_position": first, "filter_include": [kind_a, kind_b]},
        {"commit_position": first, "filter_exclude": [kind_a]},
        {"filter_by_stream_name": True, "filter_include": [name]},
        {"commit_position": first, "filter_by_stream_name": True, "filter_exclude": [name]},
        {"filter_exclude": (), "limit": 3},
        {"filter_exclude": (), "filter_include": [r"\$.*"]},
        {"commit_position": first, "resolve_links": True},
    ]
    for kwargs in all_reads:
        assert_same_events(list(ours.read_all(**kwargs)), list(theirs.read_all(**kwargs)))
    commit_positions: list[dict[str, Any]] = [
        {},
        {"filter_include": [kind_a]},
        {"filter_by_stream_name": True, "filter_include": [name]},
        {"filter_include": ["NeverWritten"]},
        {"filter_exclude": ()},
    ]
    for kwargs in commit_positions:
        assert ours.get_commit_position(**kwargs) == theirs.get_commit_position(**kwargs)
    missing = f"missing-{uuid.uuid4().hex}"
    assert plain(ours.get_current_version(missing)) == plain(theirs.get_current_version(missing))
    assert ours.get_current_version(missing) is esdb_wire.StreamState.NO_STREAM
    assert theirs.get_current_version(missing) is THEIRS.StreamState.NO_STREAM


def test_idempotent_appends_agree(ours: Ours, theirs: Theirs) -> None:
    results = {}
    for client, lib, name in ((theirs, THEIRS, stream_pair()[0]), (ours, OURS, stream_pair()[1])):
        ss = lib.StreamState
        events = lib.events(2)
        one = lib.event()
        first = client.append_to_stream(name, current_version=ss.NO_STREAM, events=events)
        results[lib.name] = [
            client.append_to_stream(name, current_version=ss.NO_STREAM, events=events) - first,
            client.append_to_stream(name, current_version=ss.ANY, events=events) - first,
            client.append_to_stream(name, current_version=ss.NO_STREAM, events=events[0]) - first,
            outcome(partial(append, client, name, ss.NO_STREAM, [events[0], lib.event()])),
            client.append_to_stream(name, current_version=1, events=one) - first,
            client.append_to_stream(name, current_version=1, events=one) - first,
            len(client.get_stream(name)),
        ]
    assert results["esdb_wire"] == results["esdbclient"]


# ---- failures ------------------------------------------------------------------------


def failure_scenarios(client: Any, lib: Lib) -> dict[str, Callable[[], Any]]:
    """Operations that fail, each on its own fresh streams."""
    ss = lib.StreamState

    def existing(count: int = 2) -> str:
        name = f"fail-{uuid.uuid4().hex}"
        client.append_to_stream(name, current_version=ss.NO_STREAM, events=lib.events(count))
        return name

    def tombstoned() -> str:
        name = existing()
        client.tombstone_stream(name, current_version=ss.ANY)
        return name

    def missing() -> str:
        return f"fail-{uuid.uuid4().hex}"

    big = lib.NewEvent(type="Big", data=b"x" * (1024 * 1024 + 1))
    return {
        "append one, wrong version": lambda: client.append_to_stream(
            existing(), current_version=5, events=lib.event()
        ),
        "append list, wrong version": lambda: client.append_to_stream(
            existing(), current_version=0, events=lib.events(2)
        ),
        "append one, no stream expected": lambda: client.append_to_stream(
            existing(), current_version=ss.NO_STREAM, events=lib.event()
        ),
        "append list, no stream expected": lambda: client.append_to_stream(
            existing(), current_version=ss.NO_STREAM, events=lib.events(1)
        ),
        "append one, exists expected": lambda: client.append_to_stream(
            missing(), current_version=ss.EXISTS, events=lib.event()
        ),
        "append list, exists expected": lambda: client.append_to_stream(
            missing(), current_version=ss.EXISTS, events=lib.events(1)
        ),
        "append one, revision on missing stream": lambda: client.append_to_stream(
            missing(), current_version=0, events=lib.event()
        ),
        "append one, too big": lambda: client.append_to_stream(
            missing(), current_version=ss.ANY, events=big
        ),
        "append list, too big": lambda: client.append_to_stream(
            missing(), current_version=ss.ANY, events=[big]
        ),
        "get_stream, missing": lambda: client.get_stream(missing()),
        "read_stream, missing": lambda: list(client.read_stream(missing())),
        "delete, missing": lambda: client.delete_stream(missing(), current_version=ss.ANY),
        "delete, missing, revision": lambda: client.delete_stream(missing(), current_version=0),
        "delete, wrong version": lambda: client.delete_stream(existing(), current_version=0),
        "delete, no stream expected": lambda: client.delete_stream(
            existing(), current_version=ss.NO_STREAM
        ),
        "tombstone, wrong version": lambda: client.tombstone_stream(existing(), current_version=3),
        "set metadata, wrong version": lambda: client.set_stream_metadata(
            existing(), metadata={}, current_version=1
        ),
        "tombstoned: get_stream": lambda: client.get_stream(tombstoned()),
        "tombstoned: read_stream": lambda: list(client.read_stream(tombstoned())),
        "tombstoned: append one": lambda: client.append_to_stream(
            tombstoned(), current_version=ss.ANY, events=lib.event()
        ),
        "tombstoned: append list": lambda: client.append_to_stream(
            tombstoned(), current_version=ss.ANY, events=lib.events(1)
        ),
        "tombstoned: delete": lambda: client.delete_stream(tombstoned(), current_version=ss.ANY),
        "tombstoned: tombstone": lambda: client.tombstone_stream(
            tombstoned(), current_version=ss.ANY
        ),
        "tombstoned: get_current_version": lambda: client.get_current_version(tombstoned()),
        "tombstoned: get metadata": lambda: client.get_stream_metadata(tombstoned()),
        "tombstoned: subscribe_to_stream": lambda: next(
            iter(client.subscribe_to_stream(tombstoned(), timeout=DEADLINE))
        ),
    }


def test_failures_raise_the_same_exceptions(ours: Ours, theirs: Theirs) -> None:
    reference = {
        key: exception_names(call) for key, call in failure_scenarios(theirs, THEIRS).items()
    }
    mine = {key: exception_names(call) for key, call in failure_scenarios(ours, OURS).items()}
    # Every scenario fails with esdbclient, and esdb_wire raises an exception of the same
    # class name (or a subclass of it, like StreamNotFound for NotFound) but where
    # esdbclient's Append path has no specific class (oversized append, tombstoned stream).
    better = {
        "append one, too big": ("GrpcError", "MaximumAppendSizeExceededError"),
        "tombstoned: append one": ("FailedPrecondition", "StreamIsDeleted"),
    }
    for key, names in reference.items():
        assert names, f"esdbclient did not fail: {key}"
        if key in better:
            assert (names[0], mine[key][0]) == better[key]
            continue
        assert names[0] in mine[key], (key, names[0], mine[key])
    exact = {key: names[0] for key, names in reference.items()}
    assert exact == {
        "append one, wrong version": "WrongCurrentVersion",
        "append list, wrong version": "WrongCurrentVersion",
        "append one, no stream expected": "WrongCurrentVersion",
        "append list, no stream expected": "WrongCurrentVersion",
        "append one, exists expected": "WrongCurrentVersion",
        "append list, exists expected": "WrongCurrentVersion",
        "append one, revision on missing stream": "WrongCurrentVersion",
        "append one, too big": "GrpcError",
        "append list, too big": "MaximumAppendSizeExceededError",
        "get_stream, missing": "NotFound",
        "read_stream, missing": "NotFound",
        "delete, missing": "NotFound",
        "delete, missing, revision": "NotFound",
        "delete, wrong version": "WrongCurrentVersion",
        "delete, no stream expected": "WrongCurrentVersion",
        "tombstone, wrong version": "WrongCurrentVersion",
        "set metadata, wrong version": "WrongCurrentVersion",
        "tombstoned: get_stream": "StreamIsDeleted",
        "tombstoned: read_stream": "StreamIsDeleted",
        "tombstoned: append one": "FailedPrecondition",
        "tombstoned: append list": "StreamIsDeleted",
        "tombstoned: delete": "StreamIsDeleted",
        "tombstoned: tombstone": "StreamIsDeleted",
        "tombstoned: get_current_version": "StreamIsDeleted",
        "tombstoned: get metadata": "StreamIsDeleted",
        "tombstoned: subscribe_to_stream": "StreamIsDeleted",
    }


def test_unknown_server_errors_raise_the_same_exception(ours: Ours, theirs: Theirs) -> None:
    name = f"zero-{uuid.uuid4().hex}"
    theirs.append_to_stream(name, current_version=THEIRS.StreamState.ANY, events=THEIRS.events(1))
    # A read of zero events: the server answers UNKNOWN "Unexpected ReadStreamResult: Error".
    reference = exception_names(partial(theirs.get_stream, name, limit=0))
    assert reference[0] == "UnknownError"
    assert exception_names(partial(ours.get_stream, name, limit=0))[0] == "UnknownError"


def test_deadlines_raise_the_same_exceptions(server: EmbeddedServer) -> None:
    proxy = BlackholeProxy(server.port)
    try:
        theirs = esdbclient.EventStoreDBClient(uri=f"esdb://127.0.0.1:{proxy.port}?Tls=false")
        ours = esdb_wire.EventStoreDBClient(f"127.0.0.1:{proxy.port}")
        name = f"late-{uuid.uuid4().hex}"
        for client, lib in ((theirs, THEIRS), (ours, OURS)):
            client.append_to_stream(name, current_version=lib.StreamState.ANY, events=[lib.event()])
        proxy.blackhole()
        results: dict[str, list[list[str]]] = {}
        for client, lib in ((theirs, THEIRS), (ours, OURS)):
            ss = lib.StreamState
            calls: list[Callable[[], Any]] = [
                partial(append, client, name, ss.ANY, lib.event(), timeout=0.1),
                partial(append, client, name, ss.ANY, [lib.event()], timeout=0.1),
                partial(client.get_stream, name, timeout=0.1),
                partial(client.get_commit_position, timeout=0.1),
                partial(client.delete_stream, name, current_version=ss.ANY, timeout=0.1),
                partial(client.subscribe_to_all, timeout=0.1),
            ]
            results[lib.name] = [exception_names(call) for call in calls]
        for theirs_names, our_names in zip(results["esdbclient"], results["esdb_wire"]):
            assert "DeadlineExceeded" in theirs_names
            assert theirs_names[0] in our_names
        theirs.close()
        ours.close()
    finally:
        proxy.close()


def test_every_esdbclient_exception_exists_in_esdb_wire() -> None:
    theirs = {
        name
        for name, value in vars(esdbclient.exceptions).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    missing = sorted(name for name in theirs if not hasattr(wire_exceptions, name))
    assert missing == []
    for name in theirs:  # the same hierarchy
        bases = {cls.__name__ for cls in getattr(esdbclient.exceptions, name).__mro__}
        our_bases = {cls.__name__ for cls in getattr(wire_exceptions, name).__mro__}
        assert bases - {"object", "BaseException"} <= our_bases, name


# ---- deleting and metadata -----------------------------------------------------------


def metadata_history(writer: Any, lib: Lib, readers: Sequence[Any]) -> list[list[Any]]:
    """Writes, soft-deletes, recreates and tombstones a stream with ``writer``; after each
    step, what each of ``readers`` sees (one list per reader)."""
    ss = lib.StreamState
    name = f"meta-{uuid.uuid4().hex}"
    views: list[list[Any]] = [[] for _ in readers]

    def observe() -> None:
        for view, reader in zip(views, readers):
            metadata, version = reader.get_stream_metadata(name)
            view.append(
                (
                    metadata,
                    plain(version),
                    outcome(partial(reader.get_current_version, name)),
                    outcome(partial(stream_positions, reader, name)),
                )
            )

    observe()
    writer.append_to_stream(name, current_version=ss.NO_STREAM, events=lib.events(4))
    writer.set_stream_metadata(name, metadata=METADATA)
    observe()
    writer.set_stream_metadata(name, metadata={"owner": "me"}, current_version=0)
    observe()
    writer.delete_stream(name, current_version=3)
    observe()
    writer.append_to_stream(name, current_version=ss.ANY, events=lib.events(1))
    observe()
    writer.tombstone_stream(name, current_version=ss.ANY)
    for view, reader in zip(views, readers):
        view.append(outcome(partial(reader.get_stream_metadata, name)))
    return views


METADATA: dict[str, Any] = {"$maxCount": 2, "custom": {"nested": [1, "x", None, True, 2.5]}}


def test_delete_and_metadata_round_trip_agree(ours: Ours, theirs: Theirs) -> None:
    for writer, lib in ((theirs, THEIRS), (ours, OURS)):
        theirs_view, ours_view = metadata_history(writer, lib, (theirs, ours))
        # What both clients saw at each step is the same.
        assert ours_view == theirs_view
        assert theirs_view == [
            ({}, "NO_STREAM", "NO_STREAM", ("raised", "NotFound")),
            (METADATA, 0, 3, [2, 3]),
            ({"owner": "me"}, 1, 3, [0, 1, 2, 3]),
            ({"$tb": 2**63 - 1}, 2, "NO_STREAM", ("raised", "NotFound")),
            # (The soft delete replaced the metadata; recreating the stream sets "$tb".)
            ({"$tb": 4}, 3, 4, [4]),
            ("raised", "StreamIsDeleted"),
        ]


# ---- subscriptions -------------------------------------------------------------------


def describe(item: Any) -> tuple[Any, ...]:
    """A subscription item, leaving out the fields of CaughtUp/Checkpoint that differ."""
    if item.is_caught_up:
        return ("CaughtUp",)
    if item.is_checkpoint:
        return ("Checkpoint", item.commit_position, item.prepare_position, item.id)
    return fields(item)


def take_until_caught_up(subscription: Any, limit: int = 1000) -> list[Any]:
    items = []
    for item in subscription:
        items.append(item)
        if item.is_caught_up or len(items) >= limit:
            break
    return items


def test_subscription_deliveries_agree(ours: Ours, theirs: Theirs) -> None:
    name = f"sub-{uuid.uuid4().hex}"
    kind_a, kind_b = f"A{uuid.uuid4().hex}", f"B{uuid.uuid4().hex}"
    start = theirs.get_commit_position(filter_exclude=())
    for kind in [kind_a, kind_b] * 6:
        theirs.append_to_stream(
            name, current_version=THEIRS.StreamState.ANY, events=THEIRS.events(1, kind)
        )
    first = theirs.get_stream(name)[0].commit_position
    variants: list[dict[str, Any]] = [
        {"commit_position": start, "include_caught_up": True},
        {"commit_position": first, "filter_include": [kind_a], "include_caught_up": True},
        {
            "commit_position": start,
            "filter_include": [kind_a],
            "include_checkpoints": True,
            "window_size": 2,
            "checkpoint_interval_multiplier": 2,
            "include_caught_up": True,
        },
        {
            "commit_position": start,
            "filter_by_stream_name": True,
            "filter_include": [name],
            "include_checkpoints": True,
            "window_size": 3,
            "checkpoint_interval_multiplier": 1,
            "include_caught_up": True,
        },
        {
            "commit_position": start,
            "filter_exclude": [kind_b],
            "include_checkpoints": True,
            "include_caught_up": True,
        },
        {"from_end": True, "include_caught_up": True},
        {"include_caught_up": True, "resolve_links": True},
    ]
    for kwargs in variants:
        with theirs.subscribe_to_all(timeout=DEADLINE, **kwargs) as subscription:
            reference = take_until_caught_up(subscription)
        with ours.subscribe_to_all(timeout=DEADLINE, **kwargs) as subscription:
            mine = take_until_caught_up(subscription)
        assert [describe(i) for i in mine] == [describe(i) for i in reference], kwargs
    stream_variants: list[dict[str, Any]] = [
        {"include_caught_up": True},
        {"stream_position": 5, "include_caught_up": True},
        {"from_end": True, "include_caught_up": True},
        {"resolve_links": True, "include_caught_up": True},
    ]
    for kwargs in stream_variants:
        with theirs.subscribe_to_stream(name, timeout=DEADLINE, **kwargs) as subscription:
            reference = take_until_caught_up(subscription)
        with ours.subscribe_to_stream(name, timeout=DEADLINE, **kwargs) as subscription:
            mine = take_until_caught_up(subscription)
        assert [describe(i) for i in mine] == [describe(i) for i in reference], kwargs
    # Live: both subscribed, then events appended by esdb_wire.
    theirs_sub = theirs.subscribe_to_stream(name, stream_position=11, timeout=DEADLINE)
    ours_sub = ours.subscribe_to_stream(name, stream_position=11, timeout=DEADLINE)
    theirs_all = theirs.subscribe_to_all(from_end=True, filter_include=[kind_b], timeout=DEADLINE)
    ours_all = ours.subscribe_to_all(from_end=True, filter_include=[kind_b], timeout=DEADLINE)
    ours.append_to_stream(name, current_version=11, events=OURS.events(3, kind_b))
    for reference_sub, my_sub in ((theirs_sub, ours_sub), (theirs_all, ours_all)):
        reference = [next(reference_sub) for _ in range(3)]
        mine = [next(my_sub) for _ in range(3)]
        assert_same_events(mine, reference)
        reference_sub.stop()
        my_sub.stop()


def test_checkpoint_and_caught_up_fields_agree(ours: Ours, theirs: Theirs) -> None:
    kwargs: dict[str, Any] = {
        "from_end": True,
        "include_checkpoints": True,
        "include_caught_up": True,
        "window_size": 1,
        "checkpoint_interval_multiplier": 1,
        "filter_include": ["Nothing"],
    }
    with theirs.subscribe_to_all(timeout=DEADLINE, **kwargs) as subscription:
        reference = next(subscription)
    with ours.subscribe_to_all(timeout=DEADLINE, **kwargs) as subscription:
        mine = next(subscription)
    assert fields(mine) == fields(reference)
    start = theirs.get_commit_position(filter_exclude=())
    theirs.append_to_stream(
        f"cp-{uuid.uuid4().hex}", current_version=THEIRS.StreamState.ANY, events=THEIRS.events(2)
    )
    kwargs = {"commit_position": start, "include_checkpoints": True, "window_size": 1}
    kwargs["checkpoint_interval_multiplier"] = 1
    with theirs.subscribe_to_all(timeout=DEADLINE, **kwargs) as subscription:
        reference = next(i for i in subscription if i.is_checkpoint)
    with ours.subscribe_to_all(timeout=DEADLINE, **kwargs) as subscription:
        mine = next(i for i in subscription if i.is_checkpoint)
    assert fields(mine) == fields(reference)


def test_stop_and_close_end_iteration_alike(server: EmbeddedServer, theirs: Theirs) -> None:
    name = f"stop-{uuid.uuid4().hex}"
    theirs.append_to_stream(name, current_version=THEIRS.StreamState.ANY, events=THEIRS.events(3))
    results: dict[str, list[Any]] = {}
    for lib in (THEIRS, OURS):
        client = (
            esdbclient.EventStoreDBClient(uri=server.esdb_uri)
            if lib is THEIRS
            else esdb_wire.EventStoreDBClient(server.uri)
        )
        read = client.read_stream(name)
        next(read)
        read.stop()
        subscription = client.subscribe_to_stream(name, timeout=DEADLINE)
        next(subscription)
        subscription.stop()
        open_subscription = client.subscribe_to_all(from_end=True, timeout=DEADLINE)
        client.close()
        results[lib.name] = [
            outcome(partial(count, read)),
            outcome(partial(count, subscription)),
            outcome(partial(count, open_subscription)),
        ]
    assert results["esdbclient"] == [0, 0, 0]
    assert results["esdb_wire"] == results["esdbclient"]


# ---- links ---------------------------------------------------------------------------


def test_resolved_links_agree() -> None:
    with EmbeddedServer(run_projections="all") as server:
        theirs = esdbclient.EventStoreDBClient(uri=server.esdb_uri)
        ours = esdb_wire.EventStoreDBClient(server.uri)
        category = "lnk" + uuid.uuid4().hex[:10]
        kept, gone = f"{category}-{uuid.uuid4().hex}", f"{category}-{uuid.uuid4().hex}"
        kind = f"Linked{uuid.uuid4().hex}"
        theirs.append_to_stream(
            kept, current_version=THEIRS.StreamState.ANY, events=THEIRS.events(2, kind)
        )
        ours.append_to_stream(
            gone, current_version=OURS.StreamState.ANY, events=OURS.events(2, kind)
        )
        ours.append_to_stream(kept, current_version=1, events=OURS.events(1, kind))
        reads: list[tuple[str, dict[str, Any]]] = [
            (f"$ce-{category}", {}),
            (f"$ce-{category}", {"resolve_links": True}),
            (f"$ce-{category}", {"resolve_links": True, "backwards": True, "limit": 2}),
            (f"$et-{kind}", {"resolve_links": True}),
            (f"$et-{kind}", {"resolve_links": True, "stream_position": 2}),
        ]

        def compare_reads() -> None:
            for stream, kwargs in reads:
                assert_same_events(
                    ours.get_stream(stream, **kwargs), theirs.get_stream(stream, **kwargs)
                )
            all_kwargs: dict[str, Any] = {
                "resolve_links": True,
                "filter_exclude": (),
                "filter_by_stream_name": True,
                "filter_include": [rf"\$ce-{category}"],
            }
            assert_same_events(
                list(ours.read_all(**all_kwargs)), list(theirs.read_all(**all_kwargs))
            )
            for subscribe in ("subscribe_to_stream", "subscribe_to_all"):
                args: tuple[Any, ...] = (
                    (f"$ce-{category}",) if subscribe == "subscribe_to_stream" else ()
                )
                extra = (
                    {} if args else {k: v for k, v in all_kwargs.items() if k != "resolve_links"}
                )
                with getattr(theirs, subscribe)(
                    *args, resolve_links=True, include_caught_up=True, timeout=DEADLINE, **extra
                ) as subscription:
                    reference = take_until_caught_up(subscription)
                with getattr(ours, subscribe)(
                    *args, resolve_links=True, include_caught_up=True, timeout=DEADLINE, **extra
                ) as subscription:
                    mine = take_until_caught_up(subscription)
                assert [describe(i) for i in mine] == [describe(i) for i in reference], subscribe

        compare_reads()
        # Links whose target was deleted: both skip them (or both show the same).
        theirs.delete_stream(gone, current_version=1)
        compare_reads()
        ours.tombstone_stream(gone, current_version=esdb_wire.StreamState.ANY)
        compare_reads()
        theirs.close()
        ours.close()


# ---- which rpcs, which headers -------------------------------------------------------


def method_calls(client: Any, lib: Lib) -> list[tuple[str, Callable[[], Any]]]:
    ss = lib.StreamState
    name = f"hdr-{uuid.uuid4().hex}"
    return [
        (
            "append one",
            lambda: client.append_to_stream(name, current_version=ss.NO_STREAM, events=lib.event()),
        ),
        (
            "append list",
            lambda: client.append_to_stream(name, current_version=0, events=lib.events(2)),
        ),
        ("append_event", lambda: client.append_event(name, current_version=2, event=lib.event())),
        (
            "append_events",
            lambda: client.append_events(name, current_version=3, events=lib.events(1)),
        ),
        ("get_stream", lambda: client.get_stream(name)),
        ("read_stream", lambda: list(client.read_stream(name))),
        ("read_all", lambda: list(client.read_all(limit=1))),
        ("get_current_version", lambda: client.get_current_version(name)),
        ("get_commit_position", client.get_commit_position),
        ("set_stream_metadata", lambda: client.set_stream_metadata(name, metadata={"a": 1})),
        ("get_stream_metadata", lambda: client.get_stream_metadata(name)),
        ("subscribe_to_all", lambda: next(iter(client.subscribe_to_all(timeout=DEADLINE)))),
        (
            "subscribe_to_stream",
            lambda: next(iter(client.subscribe_to_stream(name, timeout=DEADLINE))),
        ),
        ("read_gossip", client.read_gossip),
        ("delete_stream", lambda: client.delete_stream(name, current_version=4)),
        ("tombstone_stream", lambda: client.tombstone_stream(name, current_version=ss.ANY)),
    ]


def record_calls(make_client: Callable[[str], Any], lib: Lib) -> dict[str, list[tuple[str, str]]]:
    """Per method: the rpcs it made and their requires-leader header (no authorization)."""
    server = RecordingServer("embedded")
    try:
        client = make_client(server.uri)
        seen: dict[str, list[tuple[str, str]]] = {}
        for label, call in method_calls(client, lib):
            server.clear()
            call()
            calls = [c for c in server.calls if c.path != paths.SUPPORTED_METHODS]
            assert not [c for c in calls if "authorization" in c.metadata]
            seen[label] = [(rpc_name(c.path), c.metadata.get("requires-leader", "")) for c in calls]
        client.close()
        return seen
    finally:
        server.stop()


def test_the_same_rpcs_for_the_same_methods() -> None:
    theirs = record_calls(
        lambda uri: esdbclient.EventStoreDBClient(uri=f"esdb://{uri}?Tls=false"), THEIRS
    )
    ours = record_calls(esdb_wire.EventStoreDBClient, OURS)
    assert {k: [rpc for rpc, _ in v] for k, v in ours.items()} == {
        k: [rpc for rpc, _ in v] for k, v in theirs.items()
    }
    assert theirs["append one"] == [("Streams.Append", "true")]
    assert theirs["append list"] == [("Streams.BatchAppend", "true")]
    writes = ["append one", "append list", "append_event", "append_events", "set_stream_metadata"]
    for label in [*writes, "delete_stream", "tombstone_stream"]:
        assert ours[label] == theirs[label], label


def test_reads_require_the_leader_like_esdbclient() -> None:
    theirs = record_calls(
        lambda uri: esdbclient.EventStoreDBClient(uri=f"esdb://{uri}?Tls=false"), THEIRS
    )
    ours = record_calls(esdb_wire.EventStoreDBClient, OURS)
    assert ours == theirs


# ---- the API surface -----------------------------------------------------------------

IN_SCOPE_METHODS = [
    "append_to_stream",
    "append_event",
    "append_events",
    "get_stream",
    "read_stream",
    "read_all",
    "get_current_version",
    "get_commit_position",
    "delete_stream",
    "tombstone_stream",
    "get_stream_metadata",
    "set_stream_metadata",
    "subscribe_to_all",
    "subscribe_to_stream",
    "read_gossip",
    "close",
    "construct_call_credentials",
]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_method_signatures_accept_the_same_arguments(asynchronous: bool) -> None:
    theirs_cls = (
        esdbclient.AsyncEventStoreDBClient if asynchronous else esdbclient.EventStoreDBClient
    )
    ours_cls = esdb_wire.AsyncEventStoreDBClient if asynchronous else esdb_wire.EventStoreDBClient
    for method in IN_SCOPE_METHODS:
        if not hasattr(theirs_cls, method):
            continue  # esdbclient's async client has no append_event / read_gossip
        theirs_sig = inspect.signature(getattr(theirs_cls, method))
        ours_sig = inspect.signature(getattr(ours_cls, method))
        for parameter in theirs_sig.parameters.values():
            if parameter.name == "self":
                continue
            assert parameter.name in ours_sig.parameters, (method, parameter.name)
            mine = ours_sig.parameters[parameter.name]
            assert plain(mine.default) == plain(parameter.default), (method, parameter.name)
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
                assert mine.kind is inspect.Parameter.KEYWORD_ONLY, (method, parameter.name)
        assert inspect.iscoroutinefunction(getattr(ours_cls, method)) == (
            inspect.iscoroutinefunction(getattr(theirs_cls, method))
        ), method


def test_public_names() -> None:
    in_scope = [
        "DEFAULT_EXCLUDE_FILTER",
        "ESDB_PERSISTENT_CONFIG_EVENTS_REGEX",
        "ESDB_SYSTEM_EVENTS_REGEX",
        "AsyncCatchupSubscription",
        "AsyncEventStoreDBClient",
        "AsyncReadResponse",
        "CatchupSubscription",
        "Checkpoint",
        "CaughtUp",
        "EventStoreDBClient",
        "NewEvent",
        "RecordedEvent",
        "ReadResponse",
        "StreamState",
    ]
    for name in in_scope:
        assert hasattr(esdb_wire, name), name
    for name in ("DEFAULT_EXCLUDE_FILTER", "ESDB_SYSTEM_EVENTS_REGEX"):
        assert tuple(getattr(esdb_wire, name)) == tuple(getattr(esdbclient, name)) or getattr(
            esdb_wire, name
        ) == getattr(esdbclient, name)
    assert {s.name for s in esdb_wire.StreamState} == {s.name for s in esdbclient.StreamState}


# ---- asyncio -------------------------------------------------------------------------


async def async_write_sequence(client: Any, lib: Lib, name: str) -> list[Any]:
    """Writes, then failing writes and reads, with either async client."""
    ss = lib.StreamState
    positions = [
        await client.append_to_stream(
            name, current_version=ss.NO_STREAM, events=lib.event("First")
        ),
        await client.append_to_stream(name, current_version=0, events=lib.events(3)),
        await client.append_events(name, current_version=3, events=lib.events(1)),
    ]
    failures: list[str] = []
    failing: list[Callable[[], Awaitable[Any]]] = [
        lambda: client.append_to_stream(name, current_version=ss.NO_STREAM, events=lib.events(1)),
        lambda: client.append_to_stream(name, current_version=0, events=lib.events(1)),
        lambda: client.append_to_stream(name, current_version=9, events=lib.event()),
        lambda: client.get_stream(f"missing-{uuid.uuid4().hex}"),
        lambda: client.delete_stream(f"missing-{uuid.uuid4().hex}", current_version=ss.ANY),
    ]
    for call in failing:
        try:
            await call()
        except Exception as error:
            failures.append(esdbclient_name(error))
    return [
        [p - positions[0] for p in positions],
        plain(await client.get_current_version(name)),
        failures,
    ]


async def take_until_caught_up_async(subscription: Any) -> list[Any]:
    items = []
    async for item in subscription:
        items.append(item)
        if item.is_caught_up:
            break
    return items


def test_async_clients_agree(server: EmbeddedServer) -> None:
    async def main() -> None:
        theirs = esdbclient.AsyncEventStoreDBClient(uri=server.esdb_uri)
        await theirs.connect()
        async with esdb_wire.AsyncEventStoreDBClient(server.uri) as ours:
            name_theirs, name_ours = stream_pair()
            reference = await async_write_sequence(theirs, THEIRS, name_theirs)
            mine = await async_write_sequence(ours, OURS, name_ours)
            assert mine == reference
            assert reference[1] == 4
            assert reference[2] == [
                "WrongCurrentVersion",
                "WrongCurrentVersion",
                "WrongCurrentVersion",
                "NotFound",
                "NotFound",
            ]
            for name in (name_theirs, name_ours):
                events = await theirs.get_stream(name)
                assert_same_events(await ours.get_stream(name), events)
                start = events[0].commit_position
                read_theirs = [e async for e in await theirs.read_all(commit_position=start)]
                read_ours = [e async for e in await ours.read_all(commit_position=start)]
                assert_same_events(read_ours, read_theirs)
            assert await ours.get_commit_position() == await theirs.get_commit_position()
            metadata, version = await ours.get_stream_metadata(name_ours)
            assert (metadata, plain(version)) == ({}, "NO_STREAM")
            await theirs.set_stream_metadata(name_ours, metadata={"k": [1]})
            assert plain(await ours.get_stream_metadata(name_ours)) == plain(
                await theirs.get_stream_metadata(name_ours)
            )
            delivered = []
            for client in (theirs, ours):
                subscription = await client.subscribe_to_stream(
                    name_theirs, stream_position=1, include_caught_up=True, timeout=DEADLINE
                )
                items = await take_until_caught_up_async(subscription)
                delivered.append([describe(i) for i in items])
                if client is theirs:
                    await subscription.stop()
                else:
                    subscription.stop()
            assert delivered[1] == delivered[0]
            assert len(delivered[0]) == 4  # positions 2, 3, 4 and caught up
        await theirs.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_recorded_at_is_utc_and_close_to_esdbclients(ours: Ours, theirs: Theirs) -> None:
    name = f"time-{uuid.uuid4().hex}"
    ours.append_to_stream(name, current_version=OURS.StreamState.ANY, events=OURS.events(1))
    (mine,) = ours.get_stream(name)
    (reference,) = theirs.get_stream(name)
    assert mine.recorded_at is not None
    assert mine.recorded_at.tzinfo is not None
    assert mine.recorded_at.utcoffset() == datetime.timedelta(0)
    assert abs((mine.recorded_at - reference.recorded_at).total_seconds()) < 1e-3
