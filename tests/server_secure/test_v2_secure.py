"""Secure mode and the v2 Streams API / secondary indexes, over TLS: writes need the
streams' ``$w`` (checked streams their ``$r``), refusals are rich ACCESS_DENIED errors, and
index reads need what ``$all`` reads need (``$admins`` by default)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from esdb_wire.codec import v2, v2_errors
from esdb_wire.events import NewEvent
from esdb_wire.records import NewEvents, NewRecord, StreamStateCheck
from esdb_wire.server.embedded import EmbeddedServer
from esdb_wire.streams import StreamState
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.status import StatusCode, StatusError
from tests.server.helpers import read_all_req
from tests.server.test_streams_v2_wire import APPEND_RECORDS, APPEND_SESSION
from tests.server_secure.test_secure_server import (
    ADMIN,
    ALICE,
    ANONYMOUS,
    BOB,
    Metadata,
    connect,
    read,
    set_acl,
)

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles


@pytest.fixture
def channel(server: EmbeddedServer, certs: CertificateFiles) -> Iterator[Channel]:
    with connect(server, certs) as chan:
        yield chan


def session(channel: Channel, stream: str, metadata: Metadata) -> int:
    batch = [NewEvents(stream, [NewEvent("T", b"{}")], StreamState.ANY)]
    requests = v2.append_requests(batch)
    data = channel.stream_unary(APPEND_SESSION, requests, metadata=metadata, timeout=10)
    return v2.append_session_result(data).commit_position


def records(channel: Channel, request: bytes, metadata: Metadata) -> object:
    data = channel.unary_unary(APPEND_RECORDS, request, metadata=metadata, timeout=10)
    return v2.append_records_result(data)


def denied(error: pytest.ExceptionInfo[StatusError]) -> v2_errors.AccessDenied:
    assert error.value.code is StatusCode.PERMISSION_DENIED
    decoded = v2_errors.rich_error_of(error.value)
    assert decoded is not None
    assert (decoded.reason, decoded.domain) == ("ACCESS_DENIED", "server")
    assert decoded.message.startswith("Access denied. Insufficient permissions to perform ")
    assert isinstance(decoded.detail, v2_errors.AccessDenied)
    return decoded.detail


def test_v2_appends_need_write_access(channel: Channel) -> None:
    name = f"ledger-{uuid.uuid4().hex[:8]}"
    assert session(channel, name, ADMIN) > 0
    assert session(channel, name, ALICE) > 0  # user streams: $w is $all by default
    with pytest.raises(StatusError) as error:
        session(channel, name, ANONYMOUS)
    assert denied(error) == v2_errors.AccessDenied(f"streams:write:{name}")
    set_acl(channel, name, {"$w": "bob", "$r": "bob"})
    with pytest.raises(StatusError) as error:
        session(channel, name, ALICE)
    assert denied(error) == v2_errors.AccessDenied(f"streams:write:{name}", "alice")
    assert session(channel, name, BOB) > 0


def test_checked_streams_need_read_access(channel: Channel) -> None:
    private = f"private-{uuid.uuid4().hex[:8]}"
    session(channel, private, ADMIN)
    set_acl(channel, private, {"$r": "$admins"})
    target = f"target-{uuid.uuid4().hex[:8]}"
    request = v2.append_records_request(NewRecord(target, "T", b"{}"), StreamStateCheck(private, 0))
    with pytest.raises(StatusError) as error:
        records(channel, request, ALICE)
    assert denied(error).operation == f"streams:read:{private}"
    records(channel, request, ADMIN)


def test_index_reads_need_admins(channel: Channel) -> None:
    category = f"idx{uuid.uuid4().hex[:8]}"
    session(channel, f"{category}-1", ADMIN)
    options = read_all_req().options.filter
    options.stream_identifier.prefix.append(f"$idx-ce-{category}")
    options.max = 32
    options.checkpointIntervalMultiplier = 1
    request = read_all_req(filter_options=options)
    assert read(channel, request, ADMIN) == ["event"]
    for user in (ALICE, BOB):
        with pytest.raises(StatusError) as error:
            read(channel, request, user)
        assert error.value.code is StatusCode.PERMISSION_DENIED
