"""Secure mode's logic without a network: authentication, stream ACLs, per-rpc policies and
the Streams service's checks (spec §7, §3.10, §4)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from google.protobuf import empty_pb2

from esdb_wire.protos import shared_pb2, streams_pb2
from esdb_wire.server import auth
from esdb_wire.server.auth import (
    DELETE,
    READ,
    WRITE,
    AuthenticatedContext,
    Authenticator,
    Security,
    StreamAccess,
    User,
    secure_methods,
    user_of,
)
from esdb_wire.server.embedded import build_methods
from esdb_wire.server.features import GossipService
from esdb_wire.server.records import ANY, SETTINGS
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams import StreamsService
from esdb_wire.transport.status import StatusCode, StatusError
from tests.server.fake_context import FakeContext
from tests.server.helpers import (
    aiter_of,
    append_requests,
    event,
    ident,
    new_store,
    proposed,
    read_all_req,
    read_stream_req,
    run,
)

ADMIN = User("admin", ("$admins",))
OPS = User("ops", ("$ops",))
ALICE = User("alice", ("readers",))


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def users() -> dict[str, tuple[str, tuple[str, ...]]]:
    table = auth.default_users()
    table["alice"] = ("secret", ("readers",))
    return table


def unauthenticated(call: Any) -> StatusError:
    with pytest.raises(StatusError) as info:
        call()
    assert info.value.code is StatusCode.UNAUTHENTICATED
    assert info.value.message == "Unauthenticated"
    assert info.value.trailing_metadata == ()  # no "exception" key
    return info.value


def assert_access_denied(error: StatusError) -> None:
    assert error.code is StatusCode.PERMISSION_DENIED
    assert error.message == "Access Denied"
    assert error.trailing_metadata == (("exception", "access-denied"),)


# ---- authentication ------------------------------------------------------------------


def test_basic_credentials_name_the_user() -> None:
    authenticator = Authenticator(users())
    assert authenticator.authenticate(FakeContext(basic("admin", "changeit"))) == ADMIN
    assert authenticator.authenticate(FakeContext(basic("ops", "changeit"))) == OPS
    assert authenticator.authenticate(FakeContext(basic("alice", "secret"))) == ALICE
    # Cached headers give the same answer.
    assert authenticator.authenticate(FakeContext(basic("alice", "secret"))) == ALICE
    # A password may contain ':' (only the first one splits).
    colon = Authenticator({"carol": ("a:b", ())})
    assert colon.authenticate(FakeContext(basic("carol", "a:b"))) == User("carol")


def test_no_credentials_is_anonymous() -> None:
    assert Authenticator(users()).authenticate(FakeContext()) is None


@pytest.mark.parametrize(
    "headers",
    [
        basic("admin", "wrong"),
        basic("nobody", "changeit"),
        basic("admin", ""),
        {"authorization": "Basic not-base64!"},
        {"authorization": "Basic"},
    ],
    ids=["wrong-password", "unknown-user", "empty-password", "bad-base64", "no-parameter"],
)
def test_bad_basic_credentials_are_unauthenticated(headers: dict[str, str]) -> None:
    authenticator = Authenticator(users())
    unauthenticated(lambda: authenticator.authenticate(FakeContext(headers)))


def test_headers_no_provider_handles_leave_the_caller_anonymous() -> None:
    """As on a node: the Basic provider skips values without ':' and other schemes
    (``Bearer`` without an OAuth plugin, ``basic`` spelled in lower case)."""
    authenticator = Authenticator(users())
    no_colon = base64.b64encode(b"admin").decode()
    for value in (f"Basic {no_colon}", "Bearer some-token", "basic YWRtaW46Y2hhbmdlaXQ="):
        assert authenticator.authenticate(FakeContext({"authorization": value})) is None


def test_bearer_tokens_when_configured() -> None:
    authenticator = Authenticator(users(), bearer_tokens={"t0k3n": "alice", "stale": "gone"})
    assert authenticator.authenticate(FakeContext({"authorization": "Bearer t0k3n"})) == ALICE
    for token in ("nope", "stale"):
        context = FakeContext({"authorization": f"Bearer {token}"})
        unauthenticated(lambda context=context: authenticator.authenticate(context))


class CertContext(FakeContext):
    def __init__(self, certificate: dict[str, Any] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.peer_certificate = certificate


def user_certificate(common_name: str, **extra: Any) -> dict[str, Any]:
    return {"subject": ((("commonName", common_name),),), **extra}


def test_user_certificates() -> None:
    authenticator = Authenticator(users())
    assert authenticator.authenticate(CertContext(user_certificate("ops"))) == OPS
    assert authenticator.authenticate(CertContext(user_certificate("stranger"))) is None
    node = user_certificate("admin", subjectAltName=(("DNS", "localhost"),))
    assert authenticator.authenticate(CertContext(node)) is None  # a node certificate
    # Credentials in the header come first.
    both = CertContext(user_certificate("ops"), metadata=basic("admin", "changeit"))
    assert authenticator.authenticate(both) == ADMIN
    # Off unless enabled (the server turns it on when it trusts a CA).
    off = Authenticator(users(), certificate_users=False)
    assert off.authenticate(CertContext(user_certificate("ops"))) is None


def test_user_table_helpers() -> None:
    assert auth.parse_user("bob:pw") == ("bob", ("pw", ()))
    assert auth.parse_user("bob:p:w:g1,g2") == ("bob", ("p", ("w:g1", "g2")))
    assert auth.parse_user("bob:pw:g1,g2") == ("bob", ("pw", ("g1", "g2")))
    with pytest.raises(ValueError, match="NAME:PASSWORD"):
        auth.parse_user("bob")
    security = Security.with_users({"ops": ("other", ["$ops"])}, admin_password="pw")
    assert security.users["admin"] == ("pw", ("$admins",))
    assert security.users["ops"] == ("other", ("$ops",))


# ---- stream ACLs ---------------------------------------------------------------------


def set_metadata(store: EventStore, stream: str, metadata: dict[str, Any]) -> None:
    data = json.dumps(metadata).encode()
    store.append(f"$${stream}", ANY, [event("$metadata", data)])


def test_default_acls() -> None:
    access = StreamAccess(new_store())
    for user in (ADMIN, OPS, ALICE):
        for operation in (READ, WRITE, DELETE):
            assert access.allowed(user, operation, "orders")
            assert access.allowed(user, operation, "$$orders") is (operation != DELETE)
    # System streams and $all: $admins only.
    for stream in ("$settings", "$ce-orders", "$all", "$$$settings"):
        assert access.allowed(ADMIN, READ, stream)
        assert not access.allowed(OPS, READ, stream)
        assert not access.allowed(ALICE, READ, stream)
    # Writing or deleting $all, or deleting a metastream: nobody.
    assert not access.allowed(ADMIN, WRITE, "$all")
    assert not access.allowed(ADMIN, DELETE, "$all")
    assert not access.allowed(ADMIN, WRITE, "")  # "" is taken as $all
    assert not access.allowed(ADMIN, DELETE, "$$orders")
    assert not access.allowed(ADMIN, WRITE, None)


def test_anonymous_callers() -> None:
    store = new_store()
    assert not StreamAccess(store).allowed(None, READ, "orders")
    opened = StreamAccess(store, allow_anonymous=True)
    assert opened.allowed(None, READ, "orders")
    assert not opened.allowed(None, READ, "$settings")
    set_metadata(store, "private", {"$acl": {"$r": "alice"}})
    assert not opened.allowed(None, READ, "private")


def test_stream_acl_overrides_defaults_per_operation() -> None:
    store = new_store()
    access = StreamAccess(store)
    set_metadata(store, "private", {"$acl": {"$r": "alice", "$w": ["readers", "ops"]}})
    assert access.allowed(ALICE, READ, "private")
    assert not access.allowed(OPS, READ, "private")
    assert access.allowed(OPS, WRITE, "private")  # by name
    assert access.allowed(ALICE, WRITE, "private")  # by group
    assert access.allowed(OPS, DELETE, "private")  # $d not set: the default ($all)
    assert access.allowed(ADMIN, READ, "private")  # $admins pass everything
    set_metadata(store, "private", {"$acl": {"$r": [], "$mr": "alice", "$mw": "$admins"}})
    assert not access.allowed(ALICE, READ, "private")
    assert access.allowed(ALICE, READ, "$$private")
    assert not access.allowed(OPS, READ, "$$private")
    assert not access.allowed(ALICE, WRITE, "$$private")
    # An ACL on $all (metadata of $$$all) opens it.
    set_metadata(store, "$all", {"$acl": {"$r": "$all"}})
    assert access.allowed(ALICE, READ, "$all")
    assert not access.allowed(ALICE, WRITE, "$all")
    # A soft delete replaces the metadata: the ACL is gone.
    store.delete("private", ANY)
    assert access.allowed(OPS, READ, "private")


def test_settings_change_the_defaults() -> None:
    store = new_store()
    access = StreamAccess(store)
    assert access.allowed(OPS, WRITE, "orders")
    settings = {
        "$userStreamAcl": {"$r": "$all", "$w": "writers"},
        "$systemStreamAcl": {"$r": ["$admins", "$ops"]},
    }
    store.append(SETTINGS, ANY, [event("$settings", json.dumps(settings).encode())])
    assert access.allowed(OPS, READ, "orders")
    assert not access.allowed(OPS, WRITE, "orders")
    assert access.allowed(User("w", ("writers",)), WRITE, "orders")
    assert access.allowed(OPS, DELETE, "orders")  # not in $settings: built-in default
    assert access.allowed(OPS, READ, "$ce-orders")
    assert not access.allowed(OPS, WRITE, "$ce-orders")


# ---- per-rpc policies and the method wrapper ----------------------------------------


def test_policies() -> None:
    assert auth.policy_of("/event_store.client.gossip.Gossip/Read") == auth.ANONYMOUS
    assert auth.policy_of("/event_store.client.streams.Streams/Read") == auth.SERVICE
    assert auth.policy_of("/event_store.client.operations.Operations/Shutdown") == (
        auth.OPS_OR_ADMINS
    )
    assert auth.policy_of("/event_store.client.users.Users/Create") == auth.ADMINS_ONLY
    assert auth.policy_of("/event_store.client.users.Users/Details") == auth.AUTHENTICATED
    assert auth.policy_of("/some.Other/Thing") == auth.AUTHENTICATED


def test_wrapped_methods_authenticate_before_the_handler() -> None:
    calls: list[User | None] = []

    async def handler(request: Any, context: Any) -> str:
        calls.append(user_of(context))
        return "ok"

    gossip = GossipService("127.0.0.1", 2113)
    methods = build_methods(new_store(), gossip)
    shutdown = "/event_store.client.operations.Operations/Shutdown"
    template = methods["/event_store.client.gossip.Gossip/Read"]
    import dataclasses  # noqa: PLC0415

    mounted = {
        shutdown: dataclasses.replace(template, path=shutdown, handler=handler),
        template.path: dataclasses.replace(template, handler=handler),
    }
    wrapped = secure_methods(mounted, Authenticator(users()))
    assert run(wrapped[template.path].handler(None, FakeContext())) == "ok"
    assert run(wrapped[shutdown].handler(None, FakeContext(basic("ops", "changeit")))) == "ok"
    assert calls == [None, OPS]
    with pytest.raises(StatusError) as info:
        wrapped[shutdown].handler(None, FakeContext(basic("alice", "secret")))
    assert_access_denied(info.value)
    with pytest.raises(StatusError) as info:
        wrapped[shutdown].handler(None, FakeContext())
    assert_access_denied(info.value)
    unauthenticated(lambda: wrapped[template.path].handler(None, FakeContext(basic("a", "b"))))
    assert len(calls) == 2  # no handler ran for the rejected calls


def test_authenticated_context_delegates() -> None:
    inner = FakeContext({"k": "v"}, time_remaining=3.0)
    context = AuthenticatedContext(inner, ALICE)
    assert context.metadata == {"k": "v"}
    assert context.peer == inner.peer
    assert context.time_remaining() == 3.0
    context.set_trailers([("a", "b")])
    assert inner.trailers == [("a", "b")]
    assert user_of(context) == ALICE
    assert user_of(inner) is None


# ---- the Streams service's checks --------------------------------------------------


def as_user(user: User | None) -> AuthenticatedContext:
    return AuthenticatedContext(FakeContext(), user)


def secured_service(store: EventStore | None = None) -> StreamsService:
    store = store or new_store()
    return StreamsService(store, access=StreamAccess(store))


async def read(svc: StreamsService, request: streams_pb2.ReadReq, user: User | None) -> list[Any]:
    return [r async for r in svc.Read(request, as_user(user))]


def denied(awaitable: Any) -> None:
    with pytest.raises(StatusError) as info:
        run(awaitable)
    assert_access_denied(info.value)


def test_streams_service_reads() -> None:
    svc = secured_service()
    denied(read(svc, read_stream_req("orders"), None))
    assert run(read(svc, read_stream_req("orders"), ALICE))[0].HasField("stream_not_found")
    denied(read(svc, read_all_req(), OPS))
    assert run(read(svc, read_all_req(), ADMIN))
    denied(read(svc, read_stream_req("$settings"), OPS))
    subscription = read_all_req(subscribe=True)
    denied(read(svc, subscription, ALICE))
    # Option errors the server finds first still come first.
    request = read_stream_req("orders")
    request.options.ClearField("stream")
    with pytest.raises(StatusError) as info:
        run(read(svc, request, None))
    assert info.value.code is StatusCode.INVALID_ARGUMENT


def test_streams_service_writes_and_deletes() -> None:
    svc = secured_service()

    def append(stream: str, user: User | None) -> Any:
        requests = append_requests(stream, [proposed()])
        return svc.Append(aiter_of(requests), as_user(user))

    denied(append("orders", None))
    assert run(append("orders", OPS)).HasField("success")
    denied(append("$system", OPS))
    assert run(append("$system", ADMIN)).HasField("success")
    denied(append("", ADMIN))  # "" is $all: nobody writes there
    acl = json.dumps({"$acl": {"$w": "alice", "$d": "alice"}})
    metadata = [proposed("$metadata", acl.encode())]
    # $mw defaults to $all on user streams: alice may set the ACL.
    run(svc.Append(aiter_of(append_requests("$$orders", metadata)), as_user(ALICE)))
    denied(append("orders", OPS))
    assert run(append("orders", ALICE)).HasField("success")

    options = streams_pb2.DeleteReq.Options(
        stream_identifier=ident("orders"), any=shared_pb2.Empty()
    )
    denied(svc.Delete(streams_pb2.DeleteReq(options=options), as_user(OPS)))
    tombstone = streams_pb2.TombstoneReq.Options(
        stream_identifier=ident("orders"), any=shared_pb2.Empty()
    )
    denied(svc.Tombstone(streams_pb2.TombstoneReq(options=tombstone), as_user(OPS)))
    run(svc.Delete(streams_pb2.DeleteReq(options=options), as_user(ALICE)))


def test_batch_append_denies_per_write() -> None:
    svc = secured_service()

    def write(stream: str | None) -> streams_pb2.BatchAppendReq:
        options = streams_pb2.BatchAppendReq.Options(any=empty_pb2.Empty())
        if stream is not None:
            options.stream_identifier.CopyFrom(ident(stream))
        message = streams_pb2.BatchAppendReq.ProposedMessage(
            id=shared_pb2.UUID(string=str(uuid.uuid4())),
            metadata={"type": "T", "content-type": "application/json"},
            data=b"{}",
        )
        return streams_pb2.BatchAppendReq(
            correlation_id=shared_pb2.UUID(string=str(uuid.uuid4())),
            options=options,
            proposed_messages=[message],
            is_final=True,
        )

    async def batch(user: User | None, *requests: streams_pb2.BatchAppendReq) -> list[Any]:
        return [r async for r in svc.BatchAppend(aiter_of(requests), as_user(user))]

    ok, system, nameless = run(batch(OPS, write("orders"), write("$system"), write(None)))
    assert ok.HasField("success")
    for response in (system, nameless):
        assert response.error.code == StatusCode.PERMISSION_DENIED
        assert response.error.message == "AccessDenied"
        assert response.error.details.type_url.endswith("event_store.client.AccessDenied")
    assert system.stream_identifier.stream_name == b"$system"
    assert not nameless.HasField("stream_identifier")
    (anonymous,) = run(batch(None, write("orders")))
    assert anonymous.error.message == "AccessDenied"
    (admin,) = run(batch(ADMIN, write("$system")))
    assert admin.HasField("success")


def test_insecure_service_ignores_callers() -> None:
    svc = StreamsService(new_store())
    requests = append_requests("$system", [proposed()])
    assert run(svc.Append(aiter_of(requests), as_user(None))).HasField("success")
    assert run(read(svc, read_all_req(), None))
