"""Secure mode: a link never yields an event its reader may not read (issue 15).

The matrix: ``secret-1`` (and its metadata ``$$secret-1``, and ``$settings``) can be read
by admins only. alice, refused when she reads them directly, tries every indirect path
with ``resolve_links``: links she writes to her own stream, the standard projections'
streams (``$ce-``, ``$et-``, ``$category-``, ``$streams``), ``$all`` (plain and filtered),
catch-up subscriptions to a stream and to ``$all``, persistent subscriptions to a stream
and to ``$all``. None of the denied streams' bytes (data or metadata) may reach her; an
admin on the same paths still gets the resolved events. A refused link arrives unresolved
(the link record without its event), as a link to a deleted event does: the project's
client, like esdbclient, then yields nothing for it.

alice is granted ``$all``'s ``$r`` here (``$$$all``) so the ``$all`` paths can be tried. A
``$all`` reader sees every record as written, those of ``secret-1`` included (that is
what ``$all``'s ``$r`` grants, on a real node too), so the ``$all`` tests read the part of
``$all`` written after the secret's own records, or filter on alice's stream: only links
can carry the secret there.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from esdb_wire import EventStoreDBClient, NewEvent, StreamState
from esdb_wire.events import RecordedEvent
from esdb_wire.exceptions import AccessDeniedError
from esdb_wire.protos import persistent_pb2, streams_pb2
from esdb_wire.server.auth import AuthenticatedContext, StreamAccess, User
from esdb_wire.server.embedded import EmbeddedServer
from esdb_wire.server.persistent.service import PersistentSubscriptionsService
from esdb_wire.server.records import ANY
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams import StreamsService
from tests.server.fake_context import FakeContext
from tests.server.helpers import event, link, new_store, read_stream_req, run
from tests.server_persistent.support import create_stream, read_options

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles

SECRET_STREAM = "secret-1"
SECRET_TYPE = "SecretType"
OWN_STREAM = "alice-own"
LINKS_STREAM = "alice-links"
DENIED_STREAMS = frozenset({SECRET_STREAM, "$$" + SECRET_STREAM, "$settings"})
# The bytes that must never reach alice: the secret's data, metadata and ACL document,
# and what only $settings holds.
MARKERS = (b"TOPSECRET", b"$systemStreamAcl")
ADMINS_ONLY = {"$r": "$admins", "$mr": "$admins"}
ALICE_ACL = {"$r": ["$admins", "alice"]}
TARGETS = (
    f"0@{SECRET_STREAM}",
    f"1@{SECRET_STREAM}",
    f"0@$${SECRET_STREAM}",
    "0@$settings",
    f"0@{OWN_STREAM}",  # last: alice may read it, so every path ends on it
)
TIMEOUT = 20.0


# ---- checks ----------------------------------------------------------------------------


def leaks(events: Iterable[RecordedEvent]) -> list[str]:
    """What of the denied streams reached the reader (empty: nothing)."""
    found = []
    for item in events:
        for record in (item, item.link) if item.link is not None else (item,):
            payload = bytes(record.data) + bytes(record.metadata)
            if record.stream_name in DENIED_STREAMS or any(m in payload for m in MARKERS):
                found.append(f"{record.stream_name}@{record.stream_position}: {payload!r}")
    return found


def resolved_streams(events: Iterable[RecordedEvent]) -> set[str]:
    """The streams of the events delivered through a resolved link."""
    return {item.stream_name for item in events if item.link is not None}


def assert_nothing_leaks(alice_sees: list[RecordedEvent]) -> None:
    assert leaks(alice_sees) == []


def assert_admin_resolves(admin_sees: list[RecordedEvent], *streams: str) -> None:
    assert set(streams) <= resolved_streams(admin_sees)
    assert any(m in bytes(e.data) + bytes(e.metadata) for e in admin_sees for m in MARKERS)


# ---- the server and what is in it ------------------------------------------------------


@pytest.fixture(scope="module")
def server(certs: CertificateFiles) -> Iterator[EmbeddedServer]:
    """A secure server running the standard projections, with alice (no groups)."""
    with EmbeddedServer(
        certificate=certs.node_certificate,
        private_key=certs.node_key,
        ca=certs.ca_certificate,
        users={"alice": ("secret", [])},
        run_projections="all",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def admin(server: EmbeddedServer) -> Iterator[EventStoreDBClient]:
    client = EventStoreDBClient(server.connection_string("admin", "changeit"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def alice(server: EmbeddedServer) -> Iterator[EventStoreDBClient]:
    client = EventStoreDBClient(server.connection_string("alice", "secret"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def after_secret(admin: EventStoreDBClient, alice: EventStoreDBClient) -> int:
    """Write the secret (admins only), grant alice ``$all``, let her write her links.

    Returns the commit position of alice's first event: everything of ``secret-1`` in
    ``$all`` comes before it.
    """
    secret = [
        NewEvent(SECRET_TYPE, b'{"token":"TOPSECRET-DATA-%d"}' % n, b'{"m":"TOPSECRET-META"}')
        for n in range(2)
    ]
    admin.append_to_stream(SECRET_STREAM, current_version=StreamState.NO_STREAM, events=secret)
    admin.set_stream_metadata(
        SECRET_STREAM, metadata={"$acl": ADMINS_ONLY, "note": "TOPSECRET-ACL"}
    )
    admin.set_stream_metadata("$all", metadata={"$acl": ALICE_ACL})
    alice.append_to_stream(
        OWN_STREAM,
        current_version=StreamState.NO_STREAM,
        events=[NewEvent("Mine", b'{"mine":true}')],
    )
    links = [
        NewEvent("$>", target.encode(), content_type="application/octet-stream")
        for target in TARGETS
    ]
    alice.append_to_stream(LINKS_STREAM, current_version=StreamState.NO_STREAM, events=links)
    position = admin.get_stream(OWN_STREAM)[0].commit_position
    assert position is not None
    return position


def test_alice_is_refused_the_denied_streams_directly(
    alice: EventStoreDBClient, after_secret: int
) -> None:
    for stream in sorted(DENIED_STREAMS):
        with pytest.raises(AccessDeniedError):
            alice.get_stream(stream)


# ---- stream reads ---------------------------------------------------------------------


@pytest.mark.parametrize("backwards", [False, True])
def test_links_in_her_own_stream(
    alice: EventStoreDBClient, admin: EventStoreDBClient, after_secret: int, backwards: bool
) -> None:
    alice_sees = list(alice.get_stream(LINKS_STREAM, resolve_links=True, backwards=backwards))
    assert_nothing_leaks(alice_sees)
    assert resolved_streams(alice_sees) == {OWN_STREAM}  # links she may follow still resolve
    admin_sees = list(admin.get_stream(LINKS_STREAM, resolve_links=True, backwards=backwards))
    assert_admin_resolves(admin_sees, *DENIED_STREAMS, OWN_STREAM)


@pytest.mark.parametrize(
    ("stream", "denied_targets"),
    [
        ("$ce-secret", [SECRET_STREAM]),
        ("$ce-alice", list(DENIED_STREAMS)),  # the projection copies alice's links
        (f"$et-{SECRET_TYPE}", [SECRET_STREAM]),
        ("$et-$metadata", ["$$" + SECRET_STREAM]),
        ("$streams", [SECRET_STREAM, "$$" + SECRET_STREAM]),
    ],
)
def test_projection_streams(
    alice: EventStoreDBClient,
    admin: EventStoreDBClient,
    after_secret: int,
    stream: str,
    denied_targets: list[str],
) -> None:
    # The projections make their streams readable by everyone ($r: $all).
    assert alice.get_stream(stream)  # the links are there for her to read
    assert_nothing_leaks(list(alice.get_stream(stream, resolve_links=True)))
    assert_admin_resolves(list(admin.get_stream(stream, resolve_links=True)), *denied_targets)


def test_category_stream_holds_names_only(
    alice: EventStoreDBClient, admin: EventStoreDBClient, after_secret: int
) -> None:
    """``$category-`` holds stream references (``$@``), never resolved: the stream name
    is all anyone gets from it (a guard: there was no leak here to fix)."""
    alice_sees = list(alice.get_stream("$category-secret", resolve_links=True))
    assert [e.data for e in alice_sees] == [SECRET_STREAM.encode()]
    assert_nothing_leaks(alice_sees)


# ---- $all ----------------------------------------------------------------------------


def test_all_after_the_secret(
    alice: EventStoreDBClient, admin: EventStoreDBClient, after_secret: int
) -> None:
    def read(client: EventStoreDBClient) -> list[RecordedEvent]:
        response = client.read_all(
            commit_position=after_secret, resolve_links=True, filter_exclude=()
        )
        with response:
            return list(response)

    alice_sees = read(alice)
    assert_nothing_leaks(alice_sees)
    assert OWN_STREAM in resolved_streams(alice_sees)
    assert_admin_resolves(read(admin), *DENIED_STREAMS)


@pytest.mark.parametrize("backwards", [False, True])
def test_filtered_all(
    alice: EventStoreDBClient, admin: EventStoreDBClient, after_secret: int, backwards: bool
) -> None:
    def read(client: EventStoreDBClient) -> list[RecordedEvent]:
        response = client.read_all(
            backwards=backwards,
            resolve_links=True,
            filter_include=[LINKS_STREAM],
            filter_by_stream_name=True,
        )
        with response:
            return list(response)

    alice_sees = read(alice)
    assert_nothing_leaks(alice_sees)
    assert resolved_streams(alice_sees) == {OWN_STREAM}
    assert_admin_resolves(read(admin), *DENIED_STREAMS)


# ---- catch-up subscriptions ------------------------------------------------------------


def until_caught_up(subscription: Iterable[RecordedEvent]) -> list[RecordedEvent]:
    events = []
    for item in subscription:
        if item.is_caught_up:
            break
        if not item.is_checkpoint:
            events.append(item)
    return events


@pytest.mark.parametrize("stream", [LINKS_STREAM, "$ce-secret", "$streams"])
def test_catch_up_subscription_to_a_stream(
    alice: EventStoreDBClient, admin: EventStoreDBClient, after_secret: int, stream: str
) -> None:
    def subscribe(client: EventStoreDBClient) -> list[RecordedEvent]:
        with client.subscribe_to_stream(
            stream, resolve_links=True, include_caught_up=True, timeout=TIMEOUT
        ) as subscription:
            return until_caught_up(subscription)

    assert_nothing_leaks(subscribe(alice))
    assert_admin_resolves(subscribe(admin), SECRET_STREAM)


@pytest.mark.parametrize("filtered", [False, True])
def test_catch_up_subscription_to_all(
    alice: EventStoreDBClient, admin: EventStoreDBClient, after_secret: int, filtered: bool
) -> None:
    def subscribe(client: EventStoreDBClient) -> list[RecordedEvent]:
        if filtered:
            options: dict[str, Any] = {
                "filter_include": [LINKS_STREAM],
                "filter_by_stream_name": True,
            }
        else:
            options = {"commit_position": after_secret, "filter_exclude": ()}
        with client.subscribe_to_all(
            resolve_links=True, include_caught_up=True, timeout=TIMEOUT, **options
        ) as subscription:
            return until_caught_up(subscription)

    alice_sees = subscribe(alice)
    assert_nothing_leaks(alice_sees)
    assert OWN_STREAM in resolved_streams(alice_sees)
    assert_admin_resolves(subscribe(admin), *DENIED_STREAMS)


# ---- persistent subscriptions -------------------------------------------------------


def until_own_event(subscription: Any) -> list[RecordedEvent]:
    """Consume (and ack) until the event alice may read, the last one linked."""
    events: list[RecordedEvent] = []
    try:
        for item in subscription:
            events.append(item)
            subscription.ack(item)
            if item.stream_name == OWN_STREAM and item.link is not None:
                break
    finally:
        subscription.stop()
    return events


@pytest.mark.parametrize("source", ["stream", "all"])
def test_persistent_subscription(
    alice: EventStoreDBClient, admin: EventStoreDBClient, after_secret: int, source: str
) -> None:
    def consume(client: EventStoreDBClient, group: str) -> list[RecordedEvent]:
        if source == "stream":
            admin.create_subscription_to_stream(group, LINKS_STREAM, resolve_links=True)
            subscription = client.read_subscription_to_stream(group, LINKS_STREAM, timeout=TIMEOUT)
        else:
            admin.create_subscription_to_all(
                group, resolve_links=True, filter_include=[LINKS_STREAM], filter_by_stream_name=True
            )
            subscription = client.read_subscription_to_all(group, timeout=TIMEOUT)
        return until_own_event(subscription)

    alice_sees = consume(alice, f"alice-{source}")
    assert_nothing_leaks(alice_sees)
    assert resolved_streams(alice_sees) == {OWN_STREAM}
    assert_admin_resolves(consume(admin, f"admin-{source}"), *DENIED_STREAMS)


# ---- on the wire: a refused link arrives unresolved -------------------------------------

ReadResp = streams_pb2.ReadResp
ALICE = User("alice")
ADMIN = User("admin", ("$admins",))


def secret_store() -> EventStore:
    store = new_store()
    store.append(SECRET_STREAM, ANY, [event(SECRET_TYPE, b'{"token":"TOPSECRET"}')])
    acl = json.dumps({"$acl": ADMINS_ONLY}).encode()
    store.append("$$" + SECRET_STREAM, ANY, [event("$metadata", acl)])
    store.append(LINKS_STREAM, ANY, [link(0, SECRET_STREAM)])
    return store


def as_user(user: User) -> AuthenticatedContext:
    return AuthenticatedContext(FakeContext(), user)


def test_streams_answer_the_link_without_its_event() -> None:
    store = secret_store()
    svc = StreamsService(store, access=StreamAccess(store))

    async def read(user: User) -> Any:
        request = read_stream_req(LINKS_STREAM, resolve_links=True)
        return [
            ReadResp.FromString(item) if isinstance(item, bytes) else item
            async for item in svc.Read(request, as_user(user))
        ]

    (alice_sees,) = run(read(ALICE))
    assert alice_sees.event.HasField("link")
    assert not alice_sees.event.HasField("event")
    assert alice_sees.event.link.data == f"0@{SECRET_STREAM}".encode()
    (admin_sees,) = run(read(ADMIN))
    assert admin_sees.event.event.data == b'{"token":"TOPSECRET"}'


def test_persistent_delivery_answers_the_link_without_its_event() -> None:
    """One group, two consumers: each gets what it may read of the same message."""
    store = secret_store()
    access = StreamAccess(store)
    svc = PersistentSubscriptionsService(store, tick_interval=0.01, access=access)

    async def first_delivery(user: User) -> persistent_pb2.ReadResp.ReadEvent:
        async def requests() -> AsyncIterator[persistent_pb2.ReadReq]:
            yield read_options(LINKS_STREAM, "group")
            await asyncio.Event().wait()  # no acks: the call stays open

        responses = svc.Read(requests(), as_user(user))
        assert isinstance(responses, AsyncGenerator)  # to close it: the consumer leaves
        try:
            async for item in responses:
                response = (
                    persistent_pb2.ReadResp.FromString(item) if isinstance(item, bytes) else item
                )
                if response.WhichOneof("content") == "event":
                    return response.event
        finally:
            await responses.aclose()
        raise AssertionError("no event")

    async def main() -> None:
        create = create_stream(LINKS_STREAM, "group", resolve_links=True, message_timeout_ms=50)
        await svc.Create(create, FakeContext())
        alice_sees = await asyncio.wait_for(first_delivery(ALICE), TIMEOUT)
        assert alice_sees.HasField("link")
        assert not alice_sees.HasField("event")
        admin_sees = await asyncio.wait_for(first_delivery(ADMIN), TIMEOUT)  # the retry
        assert admin_sees.event.data == b'{"token":"TOPSECRET"}'
        svc.close()

    run(main())
