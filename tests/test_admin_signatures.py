"""The projection methods of both 1.x clients accept every call esdbclient 1.1.7's accept
(names, defaults, keyword-only arguments), are coroutines exactly on the asyncio client,
and every management method has a docstring."""

from __future__ import annotations

import inspect

import pytest

import esdb_wire
from tests.peers import require_peer

ESDBCLIENT_PROJECTION_METHODS = [
    "create_projection",
    "update_projection",
    "delete_projection",
    "get_projection_statistics",
    "disable_projection",
    "enable_projection",
    "reset_projection",
    "get_projection_state",
    "restart_projections_subsystem",
]
# kurrentdbclient 1.3.5 adds these; .NET names in snake_case for the rest.
MANAGEMENT_METHODS = [
    *ESDBCLIENT_PROJECTION_METHODS,
    "list_all_projection_statistics",
    "list_continuous_projection_statistics",
    "abort_projection",
    "create_one_time_projection",
    "create_transient_projection",
    "get_projection_result",
    "create_user",
    "update_user",
    "delete_user",
    "enable_user",
    "disable_user",
    "get_user",
    "list_all_users",
    "change_password",
    "reset_password",
    "start_scavenge",
    "stop_scavenge",
    "shutdown",
    "merge_indexes",
    "resign_node",
    "set_node_priority",
    "restart_persistent_subscriptions",
    "read_stats",
]


def _accepts_every_call(theirs: inspect.Signature, ours: inspect.Signature, method: str) -> None:
    positional = [p.name for p in ours.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    theirs_positional = [
        p.name for p in theirs.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD
    ]
    assert positional[: len(theirs_positional)] == theirs_positional, method
    for parameter in theirs.parameters.values():
        if parameter.name == "self":
            continue
        assert parameter.name in ours.parameters, (method, parameter.name)
        mine = ours.parameters[parameter.name]
        assert mine.default == parameter.default, (method, parameter.name)
        assert mine.kind in (mine.KEYWORD_ONLY, mine.POSITIONAL_OR_KEYWORD), (method, mine)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_projection_methods_accept_esdbclients_calls(asynchronous: bool) -> None:
    esdbclient = require_peer("esdbclient")
    theirs_cls = (
        esdbclient.AsyncEventStoreDBClient if asynchronous else esdbclient.EventStoreDBClient
    )
    ours_cls = esdb_wire.AsyncEventStoreDBClient if asynchronous else esdb_wire.EventStoreDBClient
    for method in ESDBCLIENT_PROJECTION_METHODS:
        theirs = getattr(theirs_cls, method)
        ours = getattr(ours_cls, method)
        _accepts_every_call(inspect.signature(theirs), inspect.signature(ours), method)
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs), method


@pytest.mark.parametrize("asynchronous", [False, True])
def test_every_management_method_is_documented(asynchronous: bool) -> None:
    cls = esdb_wire.AsyncEventStoreDBClient if asynchronous else esdb_wire.EventStoreDBClient
    for method in MANAGEMENT_METHODS:
        function = getattr(cls, method)
        assert inspect.iscoroutinefunction(function) == asynchronous, method
        assert (function.__doc__ or "").strip(), method
        parameters = inspect.signature(function).parameters
        assert parameters["timeout"].default is None, method
        assert parameters["credentials"].default is None, method
    for stream in (esdb_wire.AsyncStatsStream, esdb_wire.StatsStream):
        assert stream.__doc__
        assert stream.stop.__doc__


def test_result_types_have_esdbclients_fields() -> None:
    require_peer("esdbclient")
    from dataclasses import fields  # noqa: PLC0415

    from esdbclient import projections  # noqa: PLC0415

    for name in ("ProjectionStatistics", "ProjectionState", "ProjectionResult"):
        theirs = [f.name for f in fields(getattr(projections, name))]
        assert [f.name for f in fields(getattr(esdb_wire, name))] == theirs, name
