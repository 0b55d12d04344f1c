"""Every public method (and property) of the classes esdb_wire exports has a docstring of
its own: the clients of both APIs and drivers, their subscriptions, read responses and
stats streams, and what they take and return (events, results, exceptions). The embedded
server's classes (:mod:`esdb_wire.server`) are not the client's."""

from __future__ import annotations

import inspect

import pytest

import esdb_wire


def exported_classes() -> list[type]:
    """The classes ``esdb_wire`` exports (each once: aliases share a class), but the
    embedded server's."""
    found: dict[type, None] = {}
    for name in esdb_wire.__all__:
        value = getattr(esdb_wire, name)
        if inspect.isclass(value) and not value.__module__.startswith("esdb_wire.server"):
            found[value] = None
    return list(found)


def _defined_in_esdb_wire(cls: type, name: str) -> bool:
    """Whether the class in ``cls``'s MRO that defines ``name`` is one of ours (not a
    builtin base such as ``tuple`` or ``Exception``, whose docstrings vary by interpreter:
    PyPy's ``tuple.count`` has none)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass.__module__.startswith("esdb_wire")
    return False


def undocumented(cls: type) -> list[str]:
    """The public callables and properties of ``cls`` (inherited ones included) whose
    own definition has no docstring (an override does not borrow its parent's)."""
    missing = []
    for name in dir(cls):
        if name.startswith("_") or not _defined_in_esdb_wire(cls, name):
            continue
        member = inspect.getattr_static(cls, name)
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if not (callable(member) or isinstance(member, property)):
            continue
        if not (member.__doc__ or "").strip():
            missing.append(name)
    return missing


def test_the_client_classes_are_found() -> None:
    names = {cls.__name__ for cls in exported_classes()}
    expected = {
        "EsdbClient",
        "AsyncEsdbClient",
        "EventStoreDBClient",
        "AsyncEventStoreDBClient",
        "ReadResponse",
        "AsyncReadResponse",
        "CatchupSubscription",
        "AsyncCatchupSubscription",
        "PersistentSubscription",
        "AsyncPersistentSubscription",
        "StatsStream",
        "AsyncStatsStream",
        "CallCredentials",
        "RecordedEvent",
        "SubscriptionInfo",
        "UndecodableResponse",
    }
    assert expected <= names
    assert esdb_wire.KurrentDBClient is esdb_wire.EventStoreDBClient
    assert esdb_wire.AsyncKurrentDBClient is esdb_wire.AsyncEventStoreDBClient


@pytest.mark.parametrize("cls", exported_classes(), ids=lambda cls: cls.__name__)
def test_public_members_have_docstrings(cls: type) -> None:
    assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring"
    assert undocumented(cls) == []
