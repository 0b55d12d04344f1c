from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
SERVER_ERROR_ACCESS_DENIED: ServerError
SERVER_ERROR_BAD_REQUEST: ServerError
SERVER_ERROR_NOT_LEADER_NODE: ServerError
SERVER_ERROR_OPERATION_TIMEOUT: ServerError
SERVER_ERROR_SERVER_MALFUNCTION: ServerError
SERVER_ERROR_SERVER_NOT_READY: ServerError
SERVER_ERROR_SERVER_OVERLOADED: ServerError
SERVER_ERROR_SERVER_SHUTTING_DOWN: ServerError
UNSPECIFIED: ServerError

class AccessDeniedErrorDetails(_message.Message):
    __slots__ = ["operation", "permission", "username"]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    operation: str
    permission: str
    username: str
    def __init__(self, operation: _Optional[str] = ..., username: _Optional[str] = ..., permission: _Optional[str] = ...) -> None: ...

class NotLeaderNodeErrorDetails(_message.Message):
    __slots__ = ["current_leader"]
    class NodeInfo(_message.Message):
        __slots__ = ["host", "node_id", "port"]
        HOST_FIELD_NUMBER: _ClassVar[int]
        NODE_ID_FIELD_NUMBER: _ClassVar[int]
        PORT_FIELD_NUMBER: _ClassVar[int]
        host: str
        node_id: str
        port: int
        def __init__(self, host: _Optional[str] = ..., port: _Optional[int] = ..., node_id: _Optional[str] = ...) -> None: ...
    CURRENT_LEADER_FIELD_NUMBER: _ClassVar[int]
    current_leader: NotLeaderNodeErrorDetails.NodeInfo
    def __init__(self, current_leader: _Optional[_Union[NotLeaderNodeErrorDetails.NodeInfo, _Mapping]] = ...) -> None: ...

class ServerError(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
