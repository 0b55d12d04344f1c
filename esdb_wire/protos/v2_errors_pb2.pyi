from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
STREAMS_ERROR_APPEND_CONSISTENCY_VIOLATION: StreamsError
STREAMS_ERROR_APPEND_RECORD_SIZE_EXCEEDED: StreamsError
STREAMS_ERROR_APPEND_SESSION_NO_REQUESTS: StreamsError
STREAMS_ERROR_APPEND_TRANSACTION_SIZE_EXCEEDED: StreamsError
STREAMS_ERROR_STREAM_ALREADY_EXISTS: StreamsError
STREAMS_ERROR_STREAM_ALREADY_IN_APPEND_SESSION: StreamsError
STREAMS_ERROR_STREAM_DELETED: StreamsError
STREAMS_ERROR_STREAM_NOT_FOUND: StreamsError
STREAMS_ERROR_STREAM_REVISION_CONFLICT: StreamsError
STREAMS_ERROR_STREAM_TOMBSTONED: StreamsError
STREAMS_ERROR_UNSPECIFIED: StreamsError

class AppendConsistencyViolationErrorDetails(_message.Message):
    __slots__ = ["violations"]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    violations: _containers.RepeatedCompositeFieldContainer[ConsistencyViolation]
    def __init__(self, violations: _Optional[_Iterable[_Union[ConsistencyViolation, _Mapping]]] = ...) -> None: ...

class AppendRecordSizeExceededErrorDetails(_message.Message):
    __slots__ = ["max_size", "record_id", "size", "stream"]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    max_size: int
    record_id: str
    size: int
    stream: str
    def __init__(self, stream: _Optional[str] = ..., record_id: _Optional[str] = ..., size: _Optional[int] = ..., max_size: _Optional[int] = ...) -> None: ...

class AppendTransactionSizeExceededErrorDetails(_message.Message):
    __slots__ = ["max_size", "size"]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    max_size: int
    size: int
    def __init__(self, size: _Optional[int] = ..., max_size: _Optional[int] = ...) -> None: ...

class ConsistencyViolation(_message.Message):
    __slots__ = ["check_index", "stream_state"]
    class StreamStateViolation(_message.Message):
        __slots__ = ["actual_state", "expected_state", "stream"]
        ACTUAL_STATE_FIELD_NUMBER: _ClassVar[int]
        EXPECTED_STATE_FIELD_NUMBER: _ClassVar[int]
        STREAM_FIELD_NUMBER: _ClassVar[int]
        actual_state: int
        expected_state: int
        stream: str
        def __init__(self, stream: _Optional[str] = ..., expected_state: _Optional[int] = ..., actual_state: _Optional[int] = ...) -> None: ...
    CHECK_INDEX_FIELD_NUMBER: _ClassVar[int]
    STREAM_STATE_FIELD_NUMBER: _ClassVar[int]
    check_index: int
    stream_state: ConsistencyViolation.StreamStateViolation
    def __init__(self, check_index: _Optional[int] = ..., stream_state: _Optional[_Union[ConsistencyViolation.StreamStateViolation, _Mapping]] = ...) -> None: ...

class StreamAlreadyExistsErrorDetails(_message.Message):
    __slots__ = ["stream"]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: str
    def __init__(self, stream: _Optional[str] = ...) -> None: ...

class StreamAlreadyInAppendSessionErrorDetails(_message.Message):
    __slots__ = ["stream"]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: str
    def __init__(self, stream: _Optional[str] = ...) -> None: ...

class StreamDeletedErrorDetails(_message.Message):
    __slots__ = ["stream"]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: str
    def __init__(self, stream: _Optional[str] = ...) -> None: ...

class StreamNotFoundErrorDetails(_message.Message):
    __slots__ = ["stream"]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: str
    def __init__(self, stream: _Optional[str] = ...) -> None: ...

class StreamRevisionConflictErrorDetails(_message.Message):
    __slots__ = ["actual_revision", "expected_revision", "stream"]
    ACTUAL_REVISION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    actual_revision: int
    expected_revision: int
    stream: str
    def __init__(self, stream: _Optional[str] = ..., expected_revision: _Optional[int] = ..., actual_revision: _Optional[int] = ...) -> None: ...

class StreamTombstonedErrorDetails(_message.Message):
    __slots__ = ["stream"]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    stream: str
    def __init__(self, stream: _Optional[str] = ...) -> None: ...

class StreamsError(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
