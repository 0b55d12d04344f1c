from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
SCHEMA_FORMAT_AVRO: SchemaFormat
SCHEMA_FORMAT_BYTES: SchemaFormat
SCHEMA_FORMAT_JSON: SchemaFormat
SCHEMA_FORMAT_PROTOBUF: SchemaFormat
SCHEMA_FORMAT_UNSPECIFIED: SchemaFormat

class SchemaInfo(_message.Message):
    __slots__ = ["format", "id", "name"]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    format: SchemaFormat
    id: str
    name: str
    def __init__(self, format: _Optional[_Union[SchemaFormat, str]] = ..., name: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class StreamRevision(_message.Message):
    __slots__ = ["revision", "stream"]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    revision: int
    stream: str
    def __init__(self, stream: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class SchemaFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
