"""Gossip on the wire: the request of ``Gossip.Read`` and its answer, a ``ClusterInfo``,
decoded into :class:`~esdb_wire.cluster.ClusterMember` entries.

The answer is read with :mod:`esdb_wire.codec.protobuf_wire`, not the generated module:
a client reads gossip when it discovers its node, before any call that needs protobuf,
so connecting imports no protobuf. The messages (``gossip.proto``, ``shared.proto``)::

    ClusterInfo { repeated MemberInfo members = 1; }
    MemberInfo  { UUID instance_id = 1; int64 time_stamp = 2; VNodeState state = 3;
                  bool is_alive = 4; EndPoint http_end_point = 5; }
    EndPoint    { string address = 1; uint32 port = 2; }
    UUID        { oneof value { Structured structured = 1; string string = 2; } }
    Structured  { int64 most_significant_bits = 1; int64 least_significant_bits = 2; }
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from esdb_wire.cluster import (
    NODE_STATE_FOLLOWER,
    NODE_STATE_LEADER,
    NODE_STATE_OTHER,
    NODE_STATE_REPLICA,
    ClusterMember,
)
from esdb_wire.codec.protobuf_wire import VARINT, fields, int32, text, uint32
from esdb_wire.exceptions import UndecodableResponse
from esdb_wire.lazy_import import lazy_module

if TYPE_CHECKING:
    from google.protobuf import message as protobuf_message
else:
    protobuf_message = lazy_module("google.protobuf.message")  # only when one fails

GOSSIP_REQUEST = b""
"""An encoded ``Empty``: the request of ``Gossip.Read``."""

_METHOD = "Gossip.Read"
_MESSAGE_TYPE = "event_store.client.gossip.ClusterInfo"
# MemberInfo.VNodeState numbers -> esdbclient's state names (any other: NODE_STATE_OTHER).
_STATES = {8: NODE_STATE_LEADER, 6: NODE_STATE_FOLLOWER, 14: NODE_STATE_REPLICA}


def cluster_members(data: bytes) -> list[ClusterMember]:
    """The alive members an encoded ``ClusterInfo`` lists; bytes that are no
    ``ClusterInfo`` raise :class:`~esdb_wire.exceptions.UndecodableResponse` (protobuf's
    ``DecodeError`` as its cause)."""
    try:
        members = [_member(value) for number, _, value in fields(data) if number == 1]
    except protobuf_message.DecodeError as error:
        raise UndecodableResponse(
            f"the server's response to {_METHOD} is not a valid {_MESSAGE_TYPE}: {error}",
            method=_METHOD,
            message_type=_MESSAGE_TYPE,
        ) from error
    return [member for member in members if member is not None]


def _member(value: int | bytes) -> ClusterMember | None:
    """A ``MemberInfo``'s member, None if it is not alive (or ``value`` is of another
    wire type than a message: protobuf keeps that as an unknown field)."""
    if not isinstance(value, bytes):
        return None
    state, alive, address, port = 0, False, "", 0
    for number, wire_type, field in fields(value):
        if isinstance(field, bytes):
            if number == 1:
                _check_uuid(field)
            elif number == 5:  # an embedded message met twice is merged, as protobuf does
                address, port = _end_point(field, address, port)
        elif wire_type == VARINT:
            if number == 3:
                state = int32(field)
            elif number == 4:
                alive = field != 0
    if not alive:
        return None
    return ClusterMember(_STATES.get(state, NODE_STATE_OTHER), address, port)


def _end_point(data: bytes, address: str, port: int) -> tuple[str, int]:
    """An ``EndPoint`` merged into ``address`` and ``port``."""
    for number, wire_type, field in fields(data):
        if number == 1 and isinstance(field, bytes):
            address = text(field)
        elif number == 2 and wire_type == VARINT:
            port = uint32(field)
    return address, port


def _check_uuid(data: bytes) -> None:
    """Raise ``DecodeError`` where protobuf would on the member's ``UUID`` (unused)."""
    for number, _, field in fields(data):
        if isinstance(field, bytes):
            if number == 1:
                for _ in fields(field):  # Structured: two varints
                    pass
            elif number == 2:
                text(field)
