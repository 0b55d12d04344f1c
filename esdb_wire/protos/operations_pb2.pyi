from esdb_wire.protos import shared_pb2 as _shared_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScavengeResp(_message.Message):
    __slots__ = ["scavenge_id", "scavenge_result"]
    class ScavengeResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = []
    InProgress: ScavengeResp.ScavengeResult
    SCAVENGE_ID_FIELD_NUMBER: _ClassVar[int]
    SCAVENGE_RESULT_FIELD_NUMBER: _ClassVar[int]
    Started: ScavengeResp.ScavengeResult
    Stopped: ScavengeResp.ScavengeResult
    scavenge_id: str
    scavenge_result: ScavengeResp.ScavengeResult
    def __init__(self, scavenge_id: _Optional[str] = ..., scavenge_result: _Optional[_Union[ScavengeResp.ScavengeResult, str]] = ...) -> None: ...

class SetNodePriorityReq(_message.Message):
    __slots__ = ["priority"]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    priority: int
    def __init__(self, priority: _Optional[int] = ...) -> None: ...

class StartScavengeReq(_message.Message):
    __slots__ = ["options"]
    class Options(_message.Message):
        __slots__ = ["start_from_chunk", "thread_count"]
        START_FROM_CHUNK_FIELD_NUMBER: _ClassVar[int]
        THREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
        start_from_chunk: int
        thread_count: int
        def __init__(self, thread_count: _Optional[int] = ..., start_from_chunk: _Optional[int] = ...) -> None: ...
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: StartScavengeReq.Options
    def __init__(self, options: _Optional[_Union[StartScavengeReq.Options, _Mapping]] = ...) -> None: ...

class StopScavengeReq(_message.Message):
    __slots__ = ["options"]
    class Options(_message.Message):
        __slots__ = ["scavenge_id"]
        SCAVENGE_ID_FIELD_NUMBER: _ClassVar[int]
        scavenge_id: str
        def __init__(self, scavenge_id: _Optional[str] = ...) -> None: ...
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: StopScavengeReq.Options
    def __init__(self, options: _Optional[_Union[StopScavengeReq.Options, _Mapping]] = ...) -> None: ...
