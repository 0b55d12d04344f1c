"""Users created through AsyncEventStoreDBClient log in to the secure embedded server at
once; disabled, deleted or with a changed password they cannot; only admins manage users
(asyncio: the source of ``test_sync_users.py``, made by ``scripts/unasync.py``)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from esdb_wire import AsyncEventStoreDBClient, CallCredentials, NewEvent, StreamState
from esdb_wire.exceptions import AccessDeniedError, UnauthenticatedError
from esdb_wire.server.embedded import EmbeddedServer


async def append_as(client: AsyncEventStoreDBClient, credentials: CallCredentials) -> int:
    return await client.append_to_stream(
        f"login-{uuid4()}",
        current_version=StreamState.NO_STREAM,
        events=NewEvent("LoggedIn", b"{}"),
        credentials=credentials,
    )


async def test_a_created_user_logs_in_at_once(server: EmbeddedServer) -> None:
    login = f"jane-{uuid4().hex[:8]}"
    async with AsyncEventStoreDBClient(server.connection_string("admin", "changeit")) as admin:
        with pytest.raises(UnauthenticatedError):
            await append_as(admin, admin.construct_call_credentials(login, "first"))
        await admin.create_user(login, "Jane", ["devs"], "first")
        jane = admin.construct_call_credentials(login, "first")
        assert await append_as(admin, jane) > 0
        # Users may read their own details, not others' nor the list.
        assert (await admin.get_user(login, credentials=jane)).groups == ("devs",)
        with pytest.raises(AccessDeniedError):
            await admin.get_user("admin", credentials=jane)
        with pytest.raises(AccessDeniedError):
            await admin.list_all_users(credentials=jane)
        with pytest.raises(AccessDeniedError):
            await admin.create_user(f"x-{login}", "X", [], "x", credentials=jane)
        with pytest.raises(AccessDeniedError):
            await admin.start_scavenge(credentials=jane)

        await admin.disable_user(login)
        with pytest.raises(UnauthenticatedError):
            await append_as(admin, jane)
        await admin.enable_user(login)
        assert await append_as(admin, jane) > 0

        # A user changes their own password (with the current one)...
        with pytest.raises(AccessDeniedError):
            await admin.change_password(login, "wrong", "second", credentials=jane)
        await admin.change_password(login, "first", "second", credentials=jane)
        with pytest.raises(UnauthenticatedError):
            await append_as(admin, jane)
        assert await append_as(admin, admin.construct_call_credentials(login, "second")) > 0
        # ...an admin resets it without.
        await admin.reset_password(login, "third")
        third = admin.construct_call_credentials(login, "third")
        assert await append_as(admin, third) > 0

        await admin.delete_user(login)
        with pytest.raises(UnauthenticatedError):
            await append_as(admin, third)


async def test_ops_may_run_operations_and_read_stats(server: EmbeddedServer) -> None:
    async with AsyncEventStoreDBClient(server.connection_string("ops", "changeit")) as ops:
        await ops.merge_indexes()
        async with await ops.read_stats(refresh_period=0.1) as stats:
            assert "proc-id" in await stats.__anext__()
        with pytest.raises(AccessDeniedError):
            await ops.list_all_users()
