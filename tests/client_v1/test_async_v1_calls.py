"""AsyncEventStoreDBClient's calls themselves: gossip, deadlines, credentials and metadata,
which rpc serves which append, connection strings and the client's lifecycle (asyncio: the
source of ``test_sync_v1_calls.py``, made by ``scripts/unasync.py``)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest

from esdb_wire import (
    AsyncEventStoreDBClient,
    ClusterMember,
    DeadlineExceeded,
    NewEvent,
    ServiceUnavailable,
    StreamState,
    WrongCurrentVersion,
)
from esdb_wire.client import paths
from esdb_wire.server.embedded import EmbeddedServer
from tests.client_v1._async_helpers import collect, first_of
from tests.client_v1._support import (
    DEADLINE,
    new_events,
    new_stream,
    recording_server,
    rpc_name,
    skip_without_connection_strings,
)
from tests.servers import SERVER_KINDS
from tests.tcp_proxy import BlackholeProxy


async def test_read_gossip(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        members = await client.read_gossip()
        assert len(members) == 1
        (member,) = members
        assert isinstance(member, ClusterMember)
        assert member.state == "NODE_STATE_LEADER"
        assert member.address == "127.0.0.1"
        assert member.port == int(uri.rsplit(":", 1)[1])
        assert await client.read_gossip(timeout=DEADLINE) == members


async def test_every_method_times_out_with_deadline_exceeded(uri: str) -> None:
    port = int(uri.rsplit(":", 1)[1])
    proxy = BlackholeProxy(port)
    name = new_stream()
    try:
        async with AsyncEventStoreDBClient(f"127.0.0.1:{proxy.port}") as client:
            # Connect and learn the server's features before the path goes dead.
            await client.append_to_stream(
                name, current_version=StreamState.ANY, events=new_events(1)
            )
            proxy.blackhole()
            t = 0.1
            one = NewEvent(type="T", data=b"{}")
            calls: list[Callable[[], Awaitable[object]]] = [
                lambda: client.append_to_stream(
                    name, current_version=StreamState.ANY, events=one, timeout=t
                ),
                lambda: client.append_to_stream(
                    name, current_version=StreamState.ANY, events=[one], timeout=t
                ),
                lambda: client.append_event(
                    name, current_version=StreamState.ANY, event=one, timeout=t
                ),
                lambda: client.append_events(
                    name, current_version=StreamState.ANY, events=[one], timeout=t
                ),
                lambda: client.get_stream(name, timeout=t),
                lambda: first_of(client.read_stream(name, timeout=t)),
                lambda: first_of(client.read_all(timeout=t)),
                lambda: client.get_current_version(name, timeout=t),
                lambda: client.get_commit_position(timeout=t),
                lambda: client.delete_stream(name, current_version=StreamState.ANY, timeout=t),
                lambda: client.tombstone_stream(name, current_version=StreamState.ANY, timeout=t),
                lambda: client.get_stream_metadata(name, timeout=t),
                lambda: client.set_stream_metadata(name, metadata={}, timeout=t),
                lambda: client.subscribe_to_all(timeout=t),
                lambda: client.subscribe_to_stream(name, timeout=t),
                lambda: client.read_gossip(timeout=t),
            ]
            for call in calls:
                started = time.monotonic()
                with pytest.raises(DeadlineExceeded):
                    await call()
                assert time.monotonic() - started < 2
    finally:
        proxy.close()


async def test_first_batch_append_honours_its_timeout() -> None:
    with EmbeddedServer() as server:
        proxy = BlackholeProxy(server.port)
        try:
            async with AsyncEventStoreDBClient(f"127.0.0.1:{proxy.port}") as client:
                # GossipTimeout=2 instead of the default 5 s, to keep the test short.
                client.settings = client.settings._replace(gossip_timeout=2.0)
                await client.get_commit_position()  # connected
                proxy.blackhole()
                started = time.monotonic()
                with pytest.raises(DeadlineExceeded):
                    await client.append_to_stream(
                        new_stream(),
                        current_version=StreamState.ANY,
                        events=new_events(1),
                        timeout=0.2,
                    )
                assert time.monotonic() - started < 1.5
        finally:
            proxy.close()


@pytest.mark.parametrize("kind", SERVER_KINDS)
async def test_credentials_are_accepted_but_not_sent_over_plaintext(kind: str) -> None:
    with recording_server(kind) as server:
        async with AsyncEventStoreDBClient(server.uri) as client:
            credentials = client.construct_call_credentials("admin", "changeit")
            name = new_stream()
            one = NewEvent(type="T", data=b"{}")
            await client.append_to_stream(
                name, current_version=StreamState.NO_STREAM, events=one, credentials=credentials
            )
            await client.append_to_stream(
                name, current_version=0, events=new_events(2), credentials=credentials
            )
            await client.append_event(
                name, current_version=2, event=new_events(1)[0], credentials=credentials
            )
            await client.append_events(
                name, current_version=3, events=new_events(1), credentials=credentials
            )
            assert len(await client.get_stream(name, credentials=credentials)) == 5
            assert len(await collect(await client.read_stream(name, credentials=credentials))) == 5
            assert await collect(await client.read_all(credentials=credentials, limit=1))
            assert await client.get_current_version(name, credentials=credentials) == 4
            assert await client.get_commit_position(credentials=credentials) > 0
            await client.set_stream_metadata(name, metadata={"a": 1}, credentials=credentials)
            metadata = await client.get_stream_metadata(name, credentials=credentials)
            assert metadata == ({"a": 1}, 0)
            async with await client.subscribe_to_all(
                credentials=credentials, timeout=DEADLINE
            ) as sub:
                await sub.__anext__()
            async with await client.subscribe_to_stream(
                name, credentials=credentials, timeout=DEADLINE
            ) as sub:
                await sub.__anext__()
            assert await client.read_gossip(credentials=credentials)
            await client.delete_stream(name, current_version=4, credentials=credentials)
            await client.tombstone_stream(
                name, current_version=StreamState.ANY, credentials=credentials
            )
            calls = server.calls
            assert len(calls) >= 17
            for call in calls:
                assert "authorization" not in call.metadata, rpc_name(call.path)
            streams_calls = [call for call in calls if "/event_store.client.streams." in call.path]
            for call in streams_calls:
                assert call.metadata["connection-name"] == client.settings.connection_name
            writes = {paths.APPEND, paths.BATCH_APPEND, paths.DELETE, paths.TOMBSTONE}
            for call in streams_calls:
                if call.path in writes:
                    assert call.metadata["requires-leader"] == "true", rpc_name(call.path)


@pytest.mark.parametrize("kind", SERVER_KINDS)
async def test_one_event_uses_append_and_a_list_uses_batch_append(kind: str) -> None:
    with recording_server(kind) as server:
        async with AsyncEventStoreDBClient(server.uri) as client:
            name = new_stream()
            await client.append_to_stream(
                name, current_version=StreamState.NO_STREAM, events=new_events(1)[0]
            )
            assert [rpc_name(p) for p in server.paths()] == ["Streams.Append"]
            server.clear()
            await client.append_to_stream(name, current_version=0, events=new_events(2))
            # A list of one event is still a list.
            await client.append_to_stream(name, current_version=2, events=new_events(1))
            await client.append_events(name, current_version=3, events=new_events(1))
            await client.append_event(name, current_version=4, event=new_events(1)[0])
            await client.set_stream_metadata(name, metadata={})
            assert [rpc_name(p) for p in server.paths()] == [
                "ServerFeatures.GetSupportedMethods",  # asked once per connection
                "Streams.BatchAppend",
                "Streams.BatchAppend",
                "Streams.BatchAppend",
                "Streams.Append",
                "Streams.Append",
            ]
            assert await client.get_current_version(name) == 5


@pytest.mark.parametrize("server_features", [True, False])
@pytest.mark.parametrize("kind", SERVER_KINDS)
async def test_without_batch_append_a_list_uses_append(kind: str, server_features: bool) -> None:
    with recording_server(kind, batch_append=False, server_features=server_features) as server:
        client = AsyncEventStoreDBClient(server.uri)
        async with client:
            name = new_stream()
            events = new_events(3)
            position = await client.append_to_stream(
                name, current_version=StreamState.NO_STREAM, events=events
            )
            with pytest.raises(WrongCurrentVersion):
                await client.append_to_stream(name, current_version=0, events=new_events(2))
            await client.append_to_stream(name, current_version=2, events=new_events(2))
            rpcs = [rpc_name(p) for p in server.paths() if "Streams.Read" not in rpc_name(p)]
            # (Without the service the server answers UNIMPLEMENTED before the recorder.)
            asked = ["ServerFeatures.GetSupportedMethods"] if server_features else []
            assert rpcs == [*asked, "Streams.Append", "Streams.Append", "Streams.Append"]
            recorded = await client.get_stream(name)
            assert [e.id for e in recorded[:3]] == [e.id for e in events]
            assert recorded[2].commit_position == position


async def test_a_slow_feature_probe_does_not_disable_batch_append() -> None:
    with recording_server("embedded", features_delays=[1.0]) as server:
        client = AsyncEventStoreDBClient(server.uri)
        async with client:
            client.settings = client.settings._replace(gossip_timeout=0.3)
            name = new_stream()
            await client.append_to_stream(
                name, current_version=StreamState.NO_STREAM, events=new_events(2)
            )
            server.clear()
            await client.append_to_stream(name, current_version=1, events=new_events(2))
            assert "Streams.BatchAppend" in [rpc_name(p) for p in server.paths()]


async def test_close_and_context_manager(uri: str) -> None:
    async with AsyncEventStoreDBClient(uri) as client:
        assert not client.is_closed
        assert client.connection_target == uri
        await client.connect()
        await client.get_commit_position()
    assert client.is_closed
    # (esdbclient 1.1.7 silently reconnects here instead.)
    with pytest.raises(ServiceUnavailable):
        await client.get_commit_position()
    await client.close()  # closing twice is harmless


async def test_esdb_connection_string(uri: str) -> None:
    esdb_uri = f"esdb://{uri}?Tls=false"
    skip_without_connection_strings(esdb_uri)
    async with AsyncEventStoreDBClient(esdb_uri) as client:
        name = new_stream()
        position = await client.append_to_stream(
            name, current_version=StreamState.NO_STREAM, events=new_events(2)
        )
        assert (await client.get_stream(name))[-1].commit_position == position
        assert (await client.read_gossip())[0].port == int(uri.rsplit(":", 1)[1])


async def test_unreachable_server_is_service_unavailable() -> None:
    async with AsyncEventStoreDBClient("127.0.0.1:1") as client:
        with pytest.raises(ServiceUnavailable):
            await client.get_commit_position()
