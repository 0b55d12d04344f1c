from google.protobuf import struct_pb2 as _struct_pb2
from esdb_wire.protos import shared_pb2 as _shared_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateReq(_message.Message):
    __slots__ = ["options"]
    class Options(_message.Message):
        __slots__ = ["continuous", "engine_version", "metadata", "one_time", "query", "transient"]
        class Continuous(_message.Message):
            __slots__ = ["emit_enabled", "name", "track_emitted_streams"]
            EMIT_ENABLED_FIELD_NUMBER: _ClassVar[int]
            NAME_FIELD_NUMBER: _ClassVar[int]
            TRACK_EMITTED_STREAMS_FIELD_NUMBER: _ClassVar[int]
            emit_enabled: bool
            name: str
            track_emitted_streams: bool
            def __init__(self, name: _Optional[str] = ..., emit_enabled: bool = ..., track_emitted_streams: bool = ...) -> None: ...
        class Transient(_message.Message):
            __slots__ = ["name"]
            NAME_FIELD_NUMBER: _ClassVar[int]
            name: str
            def __init__(self, name: _Optional[str] = ...) -> None: ...
        CONTINUOUS_FIELD_NUMBER: _ClassVar[int]
        ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
        METADATA_FIELD_NUMBER: _ClassVar[int]
        ONE_TIME_FIELD_NUMBER: _ClassVar[int]
        QUERY_FIELD_NUMBER: _ClassVar[int]
        TRANSIENT_FIELD_NUMBER: _ClassVar[int]
        continuous: CreateReq.Options.Continuous
        engine_version: int
        metadata: bytes
        one_time: _shared_pb2.Empty
        query: str
        transient: CreateReq.Options.Transient
        def __init__(self, one_time: _Optional[_Union[_shared_pb2.Empty, _Mapping]] = ..., transient: _Optional[_Union[CreateReq.Options.Transient, _Mapping]] = ..., continuous: _Optional[_Union[CreateReq.Options.Continuous, _Mapping]] = ..., query: _Optional[str] = ..., engine_version: _Optional[int] = ..., metadata: _Optional[bytes] = ...) -> None: ...
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: CreateReq.Options
    def __init__(self, options: _Optional[_Union[CreateReq.Options, _Mapping]] = ...) -> None: ...

class CreateResp(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class DeleteReq(_message.Message):
    __slots__ = ["options"]
    class Options(_message.Message):
        __slots__ = ["delete_checkpoint_stream", "delete_emitted_streams", "delete_state_stream", "name"]
        DELETE_CHECKPOINT_STREAM_FIELD_NUMBER: _ClassVar[int]
        DELETE_EMITTED_STREAMS_FIELD_NUMBER: _ClassVar[int]
        DELETE_STATE_STREAM_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        delete_checkpoint_stream: bool
        delete_emitted_streams: bool
        delete_state_stream: bool
        name: str
        def __init__(self, name: _Optional[str] = ..., delete_emitted_streams: bool = ..., delete_state_stream: bool = ..., delete_checkpoint_stream: bool = ...) -> None: ...
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: DeleteReq.Options
    def __init__(self, options: _Optional[_Union[DeleteReq.Options, _Mapping]] = ...) -> None: ...

class DeleteResp(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class DisableReq(_message.Message):
    __slots__ = ["options"]
    class Options(_message.Message):
        __slots__ = ["name", "write_checkpoint"]
        NAME_FIELD_NUMBER: _ClassVar[int]
        WRITE_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
        name: str
        write_checkpoint: bool
        def __init__(self, name: _Optional[str] = ..., write_checkpoint: bool = ...) -> None: ...
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: DisableReq.Options
    def __init__(self, options: _Optional[_Union[DisableReq.Options, _Mapping]] = ...) -> None: ...

class DisableResp(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class EnableReq(_message.Message):
    __slots__ = ["options"]
    class Options(_message.Message):
        __slots__ = ["name"]
        NAME_FIELD_NUMBER: _ClassVar[int]
        name: str
        def __init__(self, name: _Optional[str] = ...) -> None: ...
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: EnableReq.Options
    def __init__(self, options: _Optional[_Union[EnableReq.Options, _Mapping]] = ...) -> None: ...

class EnableResp(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ResetReq(_message.Message):
    __slots__ = ["options"]
    class Options(_message.Message):
        __slots__ = ["name", "write_checkpoint"]
        NAME_FIELD_NUMBER: _ClassVar[int]
        WRITE_CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
        name: str
        write_checkpoint: bool
        def __init__(self, name: _Optional[str] = ..., write_checkpoint: bool = ...) -> None: ...
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: ResetReq.Options
    def __init__(self, options: _Optional[_Union[ResetReq.Options, _Mapping]] = ...) -> None: ...

class ResetResp(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ResultReq(_message.Message):
    __slots__ = ["options"]
    class Options(_message.Message):
        __slots__ = ["name", "partition"]
        NAME_FIELD_NUMBER: _ClassVar[int]
        PARTITION_FIELD_NUMBER: _ClassVar[int]
        name: str
        partition: str
        def __init__(self, name: _Optional[str] = ..., partition: _Optional[str] = ...) -> None: ...
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: ResultReq.Options
    def __init__(self, options: _Optional[_Union[ResultReq.Options, _Mapping]] = ...) -> None: ...

class ResultResp(_message.Message):
    __slots__ = ["result"]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _struct_pb2.Value
    def __init__(self, result: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class StateReq(_message.Message):
    __slots__ = ["options"]
    class Options(_message.Message):
        __slots__ = ["name", "partition"]
        NAME_FIELD_NUMBER: _ClassVar[int]
        PARTITION_FIELD_NUMBER: _ClassVar[int]
        name: str
        partition: str
        def __init__(self, name: _Optional[str] = ..., partition: _Optional[str] = ...) -> None: ...
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: StateReq.Options
    def __init__(self, options: _Optional[_Union[StateReq.Options, _Mapping]] = ...) -> None: ...

class StateResp(_message.Message):
    __slots__ = ["state"]
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _struct_pb2.Value
    def __init__(self, state: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class StatisticsReq(_message.Message):
    __slots__ = ["options"]
    class Options(_message.Message):
        __slots__ = ["all", "continuous", "name", "one_time", "transient"]
        ALL_FIELD_NUMBER: _ClassVar[int]
        CONTINUOUS_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        ONE_TIME_FIELD_NUMBER: _ClassVar[int]
        TRANSIENT_FIELD_NUMBER: _ClassVar[int]
        all: _shared_pb2.Empty
        continuous: _shared_pb2.Empty
        name: str
        one_time: _shared_pb2.Empty
        transient: _shared_pb2.Empty
        def __init__(self, name: _Optional[str] = ..., all: _Optional[_Union[_shared_pb2.Empty, _Mapping]] = ..., transient: _Optional[_Union[_shared_pb2.Empty, _Mapping]] = ..., continuous: _Optional[_Union[_shared_pb2.Empty, _Mapping]] = ..., one_time: _Optional[_Union[_shared_pb2.Empty, _Mapping]] = ...) -> None: ...
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: StatisticsReq.Options
    def __init__(self, options: _Optional[_Union[StatisticsReq.Options, _Mapping]] = ...) -> None: ...

class StatisticsResp(_message.Message):
    __slots__ = ["details"]
    class Details(_message.Message):
        __slots__ = ["bufferedEvents", "checkpointStatus", "coreProcessingTime", "effectiveName", "epoch", "eventsProcessedAfterRestart", "lastCheckpoint", "mode", "name", "partitionsCached", "position", "progress", "readsInProgress", "stateReason", "status", "version", "writePendingEventsAfterCheckpoint", "writePendingEventsBeforeCheckpoint", "writesInProgress"]
        BUFFEREDEVENTS_FIELD_NUMBER: _ClassVar[int]
        CHECKPOINTSTATUS_FIELD_NUMBER: _ClassVar[int]
        COREPROCESSINGTIME_FIELD_NUMBER: _ClassVar[int]
        EFFECTIVENAME_FIELD_NUMBER: _ClassVar[int]
        EPOCH_FIELD_NUMBER: _ClassVar[int]
        EVENTSPROCESSEDAFTERRESTART_FIELD_NUMBER: _ClassVar[int]
        LASTCHECKPOINT_FIELD_NUMBER: _ClassVar[int]
        MODE_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        PARTITIONSCACHED_FIELD_NUMBER: _ClassVar[int]
        POSITION_FIELD_NUMBER: _ClassVar[int]
        PROGRESS_FIELD_NUMBER: _ClassVar[int]
        READSINPROGRESS_FIELD_NUMBER: _ClassVar[int]
        STATEREASON_FIELD_NUMBER: _ClassVar[int]
        STATUS_FIELD_NUMBER: _ClassVar[int]
        VERSION_FIELD_NUMBER: _ClassVar[int]
        WRITEPENDINGEVENTSAFTERCHECKPOINT_FIELD_NUMBER: _ClassVar[int]
        WRITEPENDINGEVENTSBEFORECHECKPOINT_FIELD_NUMBER: _ClassVar[int]
        WRITESINPROGRESS_FIELD_NUMBER: _ClassVar[int]
        bufferedEvents: int
        checkpointStatus: str
        coreProcessingTime: int
        effectiveName: str
        epoch: int
        eventsProcessedAfterRestart: int
        lastCheckpoint: str
        mode: str
        name: str
        partitionsCached: int
        position: str
        progress: float
        readsInProgress: int
        stateReason: str
        status: str
        version: int
        writePendingEventsAfterCheckpoint: int
        writePendingEventsBeforeCheckpoint: int
        writesInProgress: int
        def __init__(self, coreProcessingTime: _Optional[int] = ..., version: _Optional[int] = ..., epoch: _Optional[int] = ..., effectiveName: _Optional[str] = ..., writesInProgress: _Optional[int] = ..., readsInProgress: _Optional[int] = ..., partitionsCached: _Optional[int] = ..., status: _Optional[str] = ..., stateReason: _Optional[str] = ..., name: _Optional[str] = ..., mode: _Optional[str] = ..., position: _Optional[str] = ..., progress: _Optional[float] = ..., lastCheckpoint: _Optional[str] = ..., eventsProcessedAfterRestart: _Optional[int] = ..., checkpointStatus: _Optional[str] = ..., bufferedEvents: _Optional[int] = ..., writePendingEventsBeforeCheckpoint: _Optional[int] = ..., writePendingEventsAfterCheckpoint: _Optional[int] = ...) -> None: ...
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    details: StatisticsResp.Details
    def __init__(self, details: _Optional[_Union[StatisticsResp.Details, _Mapping]] = ...) -> None: ...

class UpdateReq(_message.Message):
    __slots__ = ["options"]
    class Options(_message.Message):
        __slots__ = ["emit_enabled", "metadata", "name", "no_emit_options", "query"]
        EMIT_ENABLED_FIELD_NUMBER: _ClassVar[int]
        METADATA_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        NO_EMIT_OPTIONS_FIELD_NUMBER: _ClassVar[int]
        QUERY_FIELD_NUMBER: _ClassVar[int]
        emit_enabled: bool
        metadata: bytes
        name: str
        no_emit_options: _shared_pb2.Empty
        query: str
        def __init__(self, name: _Optional[str] = ..., query: _Optional[str] = ..., emit_enabled: bool = ..., no_emit_options: _Optional[_Union[_shared_pb2.Empty, _Mapping]] = ..., metadata: _Optional[bytes] = ...) -> None: ...
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    options: UpdateReq.Options
    def __init__(self, options: _Optional[_Union[UpdateReq.Options, _Mapping]] = ...) -> None: ...

class UpdateResp(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...
