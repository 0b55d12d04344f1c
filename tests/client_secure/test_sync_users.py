# Generated from tests/client_secure/test_async_users.py by scripts/unasync.py; do not edit.
"""Users created through EventStoreDBClient log in to the secure embedded server at
once; disabled, deleted or with a changed password they cannot; only admins manage users
(blocking: the source of ``test_sync_users.py``, made by ``scripts/unasync.py``)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from esdb_wire import CallCredentials, EventStoreDBClient, NewEvent, StreamState
from esdb_wire.exceptions import AccessDeniedError, UnauthenticatedError
from esdb_wire.server.embedded import EmbeddedServer


def append_as(client: EventStoreDBClient, credentials: CallCredentials) -> int:
    return client.append_to_stream(
        f"login-{uuid4()}",
        current_version=StreamState.NO_STREAM,
        events=NewEvent("LoggedIn", b"{}"),
        credentials=credentials,
    )


def test_a_created_user_logs_in_at_once(server: EmbeddedServer) -> None:
    login = f"jane-{uuid4().hex[:8]}"
    with EventStoreDBClient(server.connection_string("admin", "changeit")) as admin:
        with pytest.raises(UnauthenticatedError):
            append_as(admin, admin.construct_call_credentials(login, "first"))
        admin.create_user(login, "Jane", ["devs"], "first")
        jane = admin.construct_call_credentials(login, "first")
        assert append_as(admin, jane) > 0
        # Users may read their own details, not others' nor the list.
        assert (admin.get_user(login, credentials=jane)).groups == ("devs",)
        with pytest.raises(AccessDeniedError):
            admin.get_user("admin", credentials=jane)
        with pytest.raises(AccessDeniedError):
            admin.list_all_users(credentials=jane)
        with pytest.raises(AccessDeniedError):
            admin.create_user(f"x-{login}", "X", [], "x", credentials=jane)
        with pytest.raises(AccessDeniedError):
            admin.start_scavenge(credentials=jane)

        admin.disable_user(login)
        with pytest.raises(UnauthenticatedError):
            append_as(admin, jane)
        admin.enable_user(login)
        assert append_as(admin, jane) > 0

        # A user changes their own password (with the current one)...
        with pytest.raises(AccessDeniedError):
            admin.change_password(login, "wrong", "second", credentials=jane)
        admin.change_password(login, "first", "second", credentials=jane)
        with pytest.raises(UnauthenticatedError):
            append_as(admin, jane)
        assert append_as(admin, admin.construct_call_credentials(login, "second")) > 0
        # ...an admin resets it without.
        admin.reset_password(login, "third")
        third = admin.construct_call_credentials(login, "third")
        assert append_as(admin, third) > 0

        admin.delete_user(login)
        with pytest.raises(UnauthenticatedError):
            append_as(admin, third)


def test_ops_may_run_operations_and_read_stats(server: EmbeddedServer) -> None:
    with EventStoreDBClient(server.connection_string("ops", "changeit")) as ops:
        ops.merge_indexes()
        with ops.read_stats(refresh_period=0.1) as stats:
            assert "proc-id" in stats.__next__()
        with pytest.raises(AccessDeniedError):
            ops.list_all_users()
