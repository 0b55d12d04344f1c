"""Gossip answers decoded without protobuf (:mod:`esdb_wire.codec.gossip` on
:mod:`esdb_wire.codec.protobuf_wire`) give what the generated ``ClusterInfo`` gives.

Differential: each case decodes the same bytes with protobuf and with ours. Messages that
protobuf wrote (members of every state, alive or not, UUIDs in either form, unknown
fields, merged end points) must give the same members; arbitrary and damaged bytes must
be refused exactly when protobuf's default (upb) backend refuses them, and accepted with
the same members otherwise.
"""

from __future__ import annotations

import pytest
from google.protobuf.internal import api_implementation
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esdb_wire.cluster import (
    NODE_STATE_FOLLOWER,
    NODE_STATE_LEADER,
    NODE_STATE_OTHER,
    NODE_STATE_REPLICA,
)
from esdb_wire.codec.gossip import GOSSIP_REQUEST, cluster_members
from esdb_wire.codec.protobuf_wire import fields, read_varint
from esdb_wire.exceptions import UndecodableResponse
from esdb_wire.protos import gossip_pb2, shared_pb2

Member = tuple[str, str, int]
EXAMPLES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STATES = {
    gossip_pb2.MemberInfo.Leader: NODE_STATE_LEADER,
    gossip_pb2.MemberInfo.Follower: NODE_STATE_FOLLOWER,
    gossip_pb2.MemberInfo.ReadOnlyReplica: NODE_STATE_REPLICA,
}
ON_UPB = api_implementation.Type() == "upb"


def by_protobuf(data: bytes) -> list[Member] | None:
    """The alive members as the generated module reads them; None if it refuses."""
    try:
        info = gossip_pb2.ClusterInfo.FromString(data)
    except (DecodeError, UnicodeDecodeError):  # the pure-Python backend: the latter
        return None
    return [
        (STATES.get(m.state, NODE_STATE_OTHER), m.http_end_point.address, m.http_end_point.port)
        for m in info.members
        if m.is_alive
    ]


def by_us(data: bytes) -> list[Member] | None:
    """The alive members as we read them; None if we refuse (as UndecodableResponse
    naming the call and the message, protobuf's DecodeError as the cause)."""
    try:
        return [tuple(member) for member in cluster_members(data)]  # type: ignore[misc]
    except UndecodableResponse as error:
        refused = error
    assert (refused.method, refused.message_type) == (
        "Gossip.Read",
        "event_store.client.gossip.ClusterInfo",
    )
    assert isinstance(refused.__cause__, DecodeError)
    return None


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


int64s = st.integers(-(2**63), 2**63 - 1)
unknown_fields = st.lists(
    st.one_of(
        st.builds(
            lambda n, v: tag(n, 0) + varint(v), st.integers(6, 99), st.integers(0, 2**64 - 1)
        ),
        st.builds(lambda n, b: tag(n, 2) + varint(len(b)) + b, st.integers(6, 99), st.binary()),
        st.builds(
            lambda n, b: tag(n, 5) + b, st.integers(6, 99), st.binary(min_size=4, max_size=4)
        ),
        st.builds(
            lambda n, b: tag(n, 1) + b, st.integers(6, 99), st.binary(min_size=8, max_size=8)
        ),
        st.builds(lambda n: tag(n, 3) + tag(1, 0) + b"\x01" + tag(n, 4), st.integers(6, 99)),
    ),
    max_size=3,
).map(b"".join)


@st.composite
def members(draw: st.DrawFn) -> bytes:
    member = gossip_pb2.MemberInfo(
        time_stamp=draw(int64s),
        state=draw(st.sampled_from(gossip_pb2.MemberInfo.VNodeState.keys())),
        is_alive=draw(st.booleans()),
    )
    uuid_form = draw(st.sampled_from(["none", "structured", "string"]))
    if uuid_form == "structured":
        member.instance_id.structured.CopyFrom(
            shared_pb2.UUID.Structured(
                most_significant_bits=draw(int64s), least_significant_bits=draw(int64s)
            )
        )
    elif uuid_form == "string":
        member.instance_id.string = draw(st.text(max_size=40))
    if draw(st.booleans()):
        member.http_end_point.address = draw(st.text(max_size=30))
        member.http_end_point.port = draw(st.integers(0, 2**32 - 1))
    data = member.SerializeToString()
    if draw(st.booleans()):  # a second end point: protobuf merges the two
        end_point = gossip_pb2.EndPoint(port=draw(st.integers(0, 2**32 - 1)))
        encoded = end_point.SerializeToString()
        data += tag(5, 2) + varint(len(encoded)) + encoded
    if draw(st.booleans()):  # a later state wins, even one the enum does not name
        data += tag(3, 0) + varint(draw(st.integers(0, 2**64 - 1)))
    return data + draw(unknown_fields)


cluster_infos = st.lists(members(), max_size=5).map(
    lambda encoded: b"".join(tag(1, 2) + varint(len(m)) + m for m in encoded)
)


@EXAMPLES
@given(cluster_infos, unknown_fields)
def test_what_protobuf_writes_decodes_to_the_same_members(data: bytes, extra: bytes) -> None:
    data += extra
    expected = by_protobuf(data)
    assert expected is not None
    assert by_us(data) == expected


@pytest.mark.skipif(not ON_UPB, reason="the pure-Python backend refuses other bytes than upb")
@EXAMPLES
@given(cluster_infos, st.data())
def test_damaged_answers_are_refused_exactly_when_protobuf_refuses_them(
    data: bytes, draw: st.DataObject
) -> None:
    damaged = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 3))):
        if damaged:
            damaged[draw.draw(st.integers(0, len(damaged) - 1))] = draw.draw(st.integers(0, 255))
    cut = draw.draw(st.integers(0, len(damaged)))
    for candidate in (bytes(damaged), bytes(damaged[:cut]), data[:cut]):
        assert by_us(candidate) == by_protobuf(candidate)


@pytest.mark.skipif(not ON_UPB, reason="the pure-Python backend refuses other bytes than upb")
@EXAMPLES
@given(st.binary(max_size=40))
def test_arbitrary_bytes_as_protobuf_reads_them(data: bytes) -> None:
    assert by_us(data) == by_protobuf(data)


def test_a_known_answer() -> None:
    info = gossip_pb2.ClusterInfo()
    for state, alive, port in (
        (gossip_pb2.MemberInfo.Leader, True, 2113),
        (gossip_pb2.MemberInfo.Follower, True, 2114),
        (gossip_pb2.MemberInfo.ReadOnlyReplica, True, 2115),
        (gossip_pb2.MemberInfo.Follower, False, 2116),
        (gossip_pb2.MemberInfo.CatchingUp, True, 2117),
    ):
        member = info.members.add(state=state, is_alive=alive)
        member.http_end_point.address = "node"
        member.http_end_point.port = port
    assert by_us(info.SerializeToString()) == [
        (NODE_STATE_LEADER, "node", 2113),
        (NODE_STATE_FOLLOWER, "node", 2114),
        (NODE_STATE_REPLICA, "node", 2115),
        (NODE_STATE_OTHER, "node", 2117),
    ]
    assert by_us(b"") == []
    assert shared_pb2.Empty().SerializeToString() == GOSSIP_REQUEST


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x0a\x05\x20", "truncated field"),
        (b"\x08", "truncated varint"),
        (b"\x08" + b"\xff" * 10 + b"\x01", "longer than 10 bytes"),
        (b"\x00\x01", "invalid field number 0"),
        (b"\x0e\x01", "invalid wire type 6"),
        (b"\x0c", "end of group outside a group"),
        (b"\x1b\x08\x01", "group 3 not ended"),
        (b"\x1b\x24", "group 3 ended by the end of group 4"),
        (b"\x0a\x07\x2a\x05\x0a\x03\xff\xfe\xfd", "not UTF-8"),
    ],
)
def test_what_is_refused_and_why(data: bytes, reason: str) -> None:
    if ON_UPB:  # the pure-Python backend lets a group end with another group's end
        assert by_protobuf(data) is None
    with pytest.raises(UndecodableResponse, match=reason):
        cluster_members(data)


def test_the_reader_yields_each_kind_of_field() -> None:
    data = tag(1, 0) + varint(300) + tag(2, 1) + bytes(range(8)) + tag(3, 2) + b"\x02hi"
    data += tag(4, 3) + tag(1, 0) + b"\x05" + tag(4, 4) + tag(5, 5) + b"\x01\x00\x00\x00"
    assert list(fields(data)) == [
        (1, 0, 300),
        (2, 1, int.from_bytes(bytes(range(8)), "little")),
        (3, 2, b"hi"),
        (5, 5, 1),
    ]
    assert read_varint(varint(2**64 - 1), 0) == (2**64 - 1, 10)
