from esdb_wire.protos import shared_pb2 as _shared_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ClusterInfo(_message.Message):
    __slots__ = ["members"]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[MemberInfo]
    def __init__(self, members: _Optional[_Iterable[_Union[MemberInfo, _Mapping]]] = ...) -> None: ...

class EndPoint(_message.Message):
    __slots__ = ["address", "port"]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    address: str
    port: int
    def __init__(self, address: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class MemberInfo(_message.Message):
    __slots__ = ["http_end_point", "instance_id", "is_alive", "state", "time_stamp"]
    class VNodeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = []
    CatchingUp: MemberInfo.VNodeState
    Clone: MemberInfo.VNodeState
    DiscoverLeader: MemberInfo.VNodeState
    Follower: MemberInfo.VNodeState
    HTTP_END_POINT_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    IS_ALIVE_FIELD_NUMBER: _ClassVar[int]
    Initializing: MemberInfo.VNodeState
    Leader: MemberInfo.VNodeState
    Manager: MemberInfo.VNodeState
    PreLeader: MemberInfo.VNodeState
    PreReadOnlyReplica: MemberInfo.VNodeState
    PreReplica: MemberInfo.VNodeState
    ReadOnlyLeaderless: MemberInfo.VNodeState
    ReadOnlyReplica: MemberInfo.VNodeState
    ResigningLeader: MemberInfo.VNodeState
    STATE_FIELD_NUMBER: _ClassVar[int]
    Shutdown: MemberInfo.VNodeState
    ShuttingDown: MemberInfo.VNodeState
    TIME_STAMP_FIELD_NUMBER: _ClassVar[int]
    Unknown: MemberInfo.VNodeState
    http_end_point: EndPoint
    instance_id: _shared_pb2.UUID
    is_alive: bool
    state: MemberInfo.VNodeState
    time_stamp: int
    def __init__(self, instance_id: _Optional[_Union[_shared_pb2.UUID, _Mapping]] = ..., time_stamp: _Optional[int] = ..., state: _Optional[_Union[MemberInfo.VNodeState, str]] = ..., is_alive: bool = ..., http_end_point: _Optional[_Union[EndPoint, _Mapping]] = ...) -> None: ...
