"""Users, operations and monitoring through AsyncEventStoreDBClient against the insecure
embedded server (asyncio: the source of ``test_sync_admin.py``, made by
``scripts/unasync.py``; users logging in on a secure node are in
``tests/client_secure/test_async_users.py``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from uuid import uuid4

import pytest

from esdb_wire import (
    AsyncEventStoreDBClient,
    AsyncStatsStream,
    DatabaseScavengeResult,
    EmbeddedServer,
    NewEvent,
    RecordedEvent,
    ScavengeResult,
    StreamState,
)
from esdb_wire.client.aio_backend import async_sleep
from esdb_wire.exceptions import AlreadyExists, NotFound, ServiceUnavailable


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as running:
        yield running


async def test_users_round_trip(server: EmbeddedServer) -> None:
    login = f"user-{uuid4().hex[:8]}"
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        before = datetime.now(timezone.utc)
        await client.create_user(login, "Jane Doe", ["devs", "ops"], "secret-1")
        with pytest.raises(AlreadyExists):
            await client.create_user(login, "Someone Else", [], "another")
        details = await client.get_user(login)
        assert (details.login_name, details.full_name) == (login, "Jane Doe")
        assert (details.groups, details.disabled) == (("devs", "ops"), False)
        assert details.last_updated is not None
        assert abs((details.last_updated - before).total_seconds()) < 60
        assert login in {user.login_name for user in await client.list_all_users()}

        await client.update_user(login, "Jane Q. Doe", ["devs"])
        details = await client.get_user(login)
        assert (details.full_name, details.groups) == ("Jane Q. Doe", ("devs",))
        await client.disable_user(login)
        assert (await client.get_user(login)).disabled is True
        await client.enable_user(login)
        assert (await client.get_user(login)).disabled is False
        await client.change_password(login, "secret-1", "secret-2")
        await client.reset_password(login, "secret-3")

        await client.delete_user(login)
        with pytest.raises(NotFound):
            await client.get_user(login)
        assert login not in {user.login_name for user in await client.list_all_users()}
        with pytest.raises(NotFound):
            await client.delete_user(login)
        with pytest.raises(NotFound):
            await client.enable_user(login)
        with pytest.raises(NotFound):
            await client.reset_password(login, "x")


async def scavenge_completed(
    client: AsyncEventStoreDBClient, started: DatabaseScavengeResult
) -> RecordedEvent:
    """The ``$scavengeCompleted`` event of a scavenge, once it is written."""
    for _ in range(200):
        events = await client.get_stream(f"$scavenges-{started.scavenge_id}")
        completed = [event for event in events if event.type == "$scavengeCompleted"]
        if completed:
            return completed[0]
        await async_sleep(0.05)
    raise AssertionError(f"scavenge {started.scavenge_id} did not complete")


async def test_scavenge_drops_what_no_read_returns(server: EmbeddedServer) -> None:
    stream = f"scavenged-{uuid4().hex}"
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:

        async def in_all() -> int:
            events = await client.read_all(filter_exclude=())
            return len([event async for event in events if event.stream_name == stream])

        events = [NewEvent("Reading", b'{"n": %d}' % n) for n in range(5)]
        await client.append_to_stream(stream, current_version=StreamState.NO_STREAM, events=events)
        await client.set_stream_metadata(stream, metadata={"$maxCount": 1})
        assert len(await client.get_stream(stream)) == 1  # the others are hidden...
        assert await in_all() == 5  # ...but still in the log

        started = await client.start_scavenge()
        assert started.result in (ScavengeResult.STARTED, ScavengeResult.IN_PROGRESS)
        completed = json.loads((await scavenge_completed(client, started)).data)
        assert completed["result"] == "Success"
        assert completed["spaceSaved"] > 0
        assert await in_all() == 1  # now gone from $all too
        assert [e.stream_position for e in await client.get_stream(stream)] == [4]
        links = await client.get_stream("$scavenges", resolve_links=True)
        assert started.scavenge_id in {event.stream_name[len("$scavenges-") :] for event in links}

        with pytest.raises(NotFound):
            await client.stop_scavenge(started.scavenge_id)  # it has finished
        with pytest.raises(ValueError, match="thread_count"):
            await client.start_scavenge(thread_count=0)
        with pytest.raises(ValueError, match="start_from_chunk"):
            await client.start_scavenge(start_from_chunk=-1)


async def test_node_operations_are_accepted(server: EmbeddedServer) -> None:
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        await client.merge_indexes()
        await client.resign_node()
        await client.set_node_priority(5)
        await client.restart_persistent_subscriptions()
        (member,) = await client.read_gossip()  # still the leader
        assert member.state == "NODE_STATE_LEADER"


async def test_shutdown_stops_the_server() -> None:
    with EmbeddedServer() as own:
        async with AsyncEventStoreDBClient(own.esdb_uri) as client:
            await client.append_to_stream(
                f"s-{uuid4()}", current_version=StreamState.ANY, events=NewEvent("A", b"{}")
            )
            await client.shutdown()
            assert own.shut_down.wait(10)
            with pytest.raises(ServiceUnavailable):
                await client.get_commit_position()


async def test_stats_arrive_until_stopped(server: EmbeddedServer) -> None:
    async with AsyncEventStoreDBClient(server.esdb_uri) as client:
        stats = await client.read_stats(refresh_period=0.1)
        assert isinstance(stats, AsyncStatsStream)
        started = time.monotonic()
        sets = []
        async for found in stats:
            sets.append(found)
            if len(sets) == 3:
                break
        assert time.monotonic() - started >= 0.15  # two periods between three sets
        for found in sets:
            assert {"proc-id", "proc-cpu", "proc-startTime", "es-checksum"} <= set(found)
            assert all(isinstance(value, str) for value in found.values())
        assert int(sets[0]["proc-id"]) > 0
        assert await stats.__anext__()  # not stopped yet: more keep coming
        await stats.stop()
        with pytest.raises(StopAsyncIteration):
            await stats.__anext__()
        await stats.stop()  # twice is harmless

        async with await client.read_stats(refresh_period=0.05) as scoped:
            first = await scoped.__anext__()
        assert "es-checksum" in first
        with pytest.raises(StopAsyncIteration):
            await scoped.__anext__()
        with pytest.raises(ValueError, match="refresh_period"):
            await client.read_stats(refresh_period=-1)


async def test_closing_the_client_ends_a_stats_stream(server: EmbeddedServer) -> None:
    client = AsyncEventStoreDBClient(server.esdb_uri)
    stats = await client.read_stats(refresh_period=0.05)
    assert "proc-id" in await stats.__anext__()
    await client.close()
    with pytest.raises(StopAsyncIteration):
        await stats.__anext__()
