"""Users, Operations, Monitoring and Projections on a secure server: users kept in their
streams with hashed passwords and usable at once, and the $admins / $ops policies."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from google.protobuf.message import Message

from esdb_wire.protos import (
    monitoring_pb2,
    operations_pb2,
    projections_pb2,
    shared_pb2,
    streams_pb2,
    users_pb2,
)
from esdb_wire.protos.wire_names import method_path
from esdb_wire.server.embedded import EmbeddedServer
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.status import StatusCode, StatusError
from esdb_wire.transport.tls import client_context
from tests.server.helpers import append_requests, proposed

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles

Metadata = list[tuple[str, str]]
USERS = users_pb2.DESCRIPTOR.services_by_name["Users"]
OPERATIONS = operations_pb2.DESCRIPTOR.services_by_name["Operations"]
MONITORING = monitoring_pb2.DESCRIPTOR.services_by_name["Monitoring"]
PROJECTIONS = projections_pb2.DESCRIPTOR.services_by_name["Projections"]
APPEND = method_path(streams_pb2.DESCRIPTOR.services_by_name["Streams"], "Append")


def basic(user: str, password: str) -> Metadata:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [("authorization", f"Basic {token}")]


ADMIN = basic("admin", "changeit")
OPS = basic("ops", "changeit")


@pytest.fixture(scope="module")
def server(certs: CertificateFiles) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(
        certificate=certs.node_certificate,
        private_key=certs.node_key,
        ca=certs.ca_certificate,
        run_projections="system",
    ) as running:
        yield running


@pytest.fixture
def channel(server: EmbeddedServer, certs: CertificateFiles) -> Iterator[Channel]:
    context = client_context(cafile=str(certs.ca_certificate))
    with Channel(server.host, server.port, ssl_context=context) as chan:
        yield chan


def unary(channel: Channel, service: str, method: str, request: Message, who: Metadata) -> bytes:
    descriptor = {"Users": USERS, "Operations": OPERATIONS, "Projections": PROJECTIONS}[service]
    path = method_path(descriptor, method)
    return channel.unary_unary(path, request.SerializeToString(), metadata=who, timeout=10)


def append(channel: Channel, stream: str, who: Metadata) -> None:
    requests = [r.SerializeToString() for r in append_requests(stream, [proposed("E")], -2)]
    channel.stream_unary(APPEND, requests, metadata=who, timeout=10)


def code_of(call: object) -> StatusCode:
    with pytest.raises(StatusError) as info:
        call()  # type: ignore[operator]
    return info.value.code


def details(channel: Channel, login: str, who: Metadata) -> list[users_pb2.DetailsResp]:
    request = users_pb2.DetailsReq(options=users_pb2.DetailsReq.Options(login_name=login))
    call = channel.unary_stream(
        method_path(USERS, "Details"), request.SerializeToString(), metadata=who, timeout=10
    )
    with call:
        return [users_pb2.DetailsResp.FromString(message) for message in call]


def test_a_created_user_can_write_at_once_and_a_disabled_one_cannot(
    server: EmbeddedServer, channel: Channel
) -> None:
    create = users_pb2.CreateReq.Options(
        login_name="bob", password="hunter2", full_name="Bob", groups=["staff"]
    )
    unary(channel, "Users", "Create", users_pb2.CreateReq(options=create), ADMIN)
    bob = basic("bob", "hunter2")
    append(channel, "bobs-stream", bob)

    store = server.store
    assert store is not None
    record = store.read_stream("$user-bob", None, 1, backwards=True).records[0]  # type: ignore[union-attr]
    stored = json.loads(record.data)
    assert record.event_type == "$UserCreated"
    assert set(stored) == {"loginName", "fullName", "groups", "hash", "salt", "disabled"}
    assert "hunter2" not in record.data.decode()
    listed = store.read_stream("$users", 0, 10).records  # type: ignore[union-attr]
    assert b"bob" in [r.data for r in listed]

    (found,) = details(channel, "bob", bob)  # a user may read their own details
    assert (found.user_details.full_name, list(found.user_details.groups)) == ("Bob", ["staff"])
    assert code_of(lambda: details(channel, "admin", bob)) == StatusCode.PERMISSION_DENIED
    assert {d.user_details.login_name for d in details(channel, "", ADMIN)} >= {
        "admin",
        "ops",
        "bob",
    }

    login = users_pb2.DisableReq.Options(login_name="bob")
    unary(channel, "Users", "Disable", users_pb2.DisableReq(options=login), ADMIN)
    assert code_of(lambda: append(channel, "bobs-stream", bob)) == StatusCode.UNAUTHENTICATED
    unary(
        channel,
        "Users",
        "Enable",
        users_pb2.EnableReq(options=users_pb2.EnableReq.Options(login_name="bob")),
        ADMIN,
    )
    append(channel, "bobs-stream", bob)

    change = users_pb2.ChangePasswordReq.Options(
        login_name="bob", current_password="hunter2", new_password="n3w"
    )
    unary(channel, "Users", "ChangePassword", users_pb2.ChangePasswordReq(options=change), bob)
    assert code_of(lambda: append(channel, "bobs-stream", bob)) == StatusCode.UNAUTHENTICATED
    append(channel, "bobs-stream", basic("bob", "n3w"))

    delete = users_pb2.DeleteReq(options=users_pb2.DeleteReq.Options(login_name="bob"))
    unary(channel, "Users", "Delete", delete, ADMIN)
    code = code_of(lambda: append(channel, "bobs-stream", basic("bob", "n3w")))
    assert code == StatusCode.UNAUTHENTICATED
    with pytest.raises(StatusError) as info:
        unary(channel, "Users", "Delete", delete, ADMIN)
    assert info.value.code == StatusCode.NOT_FOUND
    assert info.value.message == "User 'bob' is not found."


def test_only_admins_manage_users(channel: Channel) -> None:
    create = users_pb2.CreateReq(
        options=users_pb2.CreateReq.Options(login_name="eve", password="x", full_name="Eve")
    )
    assert code_of(lambda: unary(channel, "Users", "Create", create, OPS)) == (
        StatusCode.PERMISSION_DENIED
    )
    unary(channel, "Users", "Create", create, ADMIN)
    again = users_pb2.CreateReq(
        options=users_pb2.CreateReq.Options(login_name="eve", password="other", full_name="Eve")
    )
    assert code_of(lambda: unary(channel, "Users", "Create", again, ADMIN)) == (
        StatusCode.FAILED_PRECONDITION
    )


def test_operations_need_ops_or_admins(channel: Channel) -> None:
    unary(
        channel,
        "Users",
        "Create",
        users_pb2.CreateReq(
            options=users_pb2.CreateReq.Options(login_name="carl", password="pw", full_name="C")
        ),
        ADMIN,
    )
    carl = basic("carl", "pw")
    merge = shared_pb2.Empty()
    assert code_of(lambda: unary(channel, "Operations", "MergeIndexes", merge, carl)) == (
        StatusCode.PERMISSION_DENIED
    )
    unary(channel, "Operations", "MergeIndexes", merge, OPS)
    unary(channel, "Operations", "ResignNode", merge, ADMIN)
    priority = operations_pb2.SetNodePriorityReq(priority=3)
    unary(channel, "Operations", "SetNodePriority", priority, OPS)
    restart = shared_pb2.Empty()
    assert code_of(lambda: unary(channel, "Projections", "RestartSubsystem", restart, carl)) == (
        StatusCode.PERMISSION_DENIED
    )
    # Non-transient projections are written by $admins / $ops only (RunAs check).
    create = projections_pb2.CreateReq(
        options=projections_pb2.CreateReq.Options(
            continuous=projections_pb2.CreateReq.Options.Continuous(name="p1"), query=""
        )
    )
    with pytest.raises(StatusError) as info:
        unary(channel, "Projections", "Create", create, carl)
    assert info.value.message == (
        "Envelope callback expected Updated, received NotAuthorized instead"
    )
    call = channel.unary_stream(
        method_path(MONITORING, "Stats"),
        monitoring_pb2.StatsReq(refresh_time_period_in_ms=100).SerializeToString(),
        metadata=carl,
        timeout=10,
    )
    with call:
        stats = monitoring_pb2.StatsResp.FromString(next(iter(call))).stats
    assert int(stats["proc-tcp-connections"]) >= 1
    assert int(stats["es-queue-Users-totalItemsProcessed"]) >= 1
