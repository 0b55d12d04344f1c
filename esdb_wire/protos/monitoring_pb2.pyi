from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class StatsReq(_message.Message):
    __slots__ = ["refresh_time_period_in_ms", "use_metadata"]
    REFRESH_TIME_PERIOD_IN_MS_FIELD_NUMBER: _ClassVar[int]
    USE_METADATA_FIELD_NUMBER: _ClassVar[int]
    refresh_time_period_in_ms: int
    use_metadata: bool
    def __init__(self, use_metadata: bool = ..., refresh_time_period_in_ms: _Optional[int] = ...) -> None: ...

class StatsResp(_message.Message):
    __slots__ = ["stats"]
    class StatsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: _containers.ScalarMap[str, str]
    def __init__(self, stats: _Optional[_Mapping[str, str]] = ...) -> None: ...
