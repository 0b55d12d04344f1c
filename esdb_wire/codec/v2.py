"""KurrentDB's v2 Streams API (``kurrentdb.protocol.v2.streams``) to and from our objects.

Requests: :func:`append_request` (one stream of an ``AppendSession``) and
:func:`append_records_request` (``AppendRecords``). Responses: :func:`append_session_result`
and :func:`append_records_result`. Record properties: :func:`properties_of` (from JSON
metadata) and :func:`properties_json` (back to JSON, as a 25.1+ server shows them to v1
readers). Also the 25.1 fields of a subscription's caught-up and fell-behind messages
(:func:`subscription_status`), feature detection (:func:`v2_methods`) and the ``$all``
requests that read a secondary index (:func:`read_index_request`,
:func:`subscribe_index_request`). Errors are in :mod:`.v2_errors`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, Union

from google.protobuf import struct_pb2

from esdb_wire import exceptions as exc
from esdb_wire.codec.decoding import decode
from esdb_wire.codec.requests import read_all_request, subscribe_all_request
from esdb_wire.codec.responses import supported_methods
from esdb_wire.events import NewEvent
from esdb_wire.protos import streams_pb2, v2_shared_pb2, v2_streams_pb2
from esdb_wire.records import (
    STREAM_DELETED,
    STREAM_TOMBSTONED,
    AppendRecordsResult,
    AppendSessionResult,
    ExpectedState,
    NewEvents,
    NewRecord,
    StreamPositionResult,
    StreamStateCheck,
    SubscriptionStatus,
)
from esdb_wire.streams import StreamState

AppendRecord = v2_streams_pb2.AppendRecord
AppendRequest = v2_streams_pb2.AppendRequest
AppendRecordsRequest = v2_streams_pb2.AppendRecordsRequest
ConsistencyCheck = v2_streams_pb2.ConsistencyCheck
SchemaFormat = v2_shared_pb2.SchemaFormat

# ExpectedRevisionConstants and the check-only states.
NO_STREAM = -1
ANY = -2
EXISTS = -4
_STATE_VALUES = {StreamState.NO_STREAM: NO_STREAM, StreamState.ANY: ANY, StreamState.EXISTS: EXISTS}

SERVICE_NAME = "kurrentdb.protocol.v2.streams.streamsservice"
"""The v2 Streams service as ServerFeatures lists it (lower case)."""
INDEX_PREFIX = "$idx-"
"""Secondary indexes (25.1+) are read through a ``$all`` stream-name prefix filter that
names them: ``$idx-all``, ``$idx-ce-<category>``, ``$idx-et-<event type>``."""

JSON_CONTENT_TYPE = "application/json"
SCHEMA_NAME_KEY = "$schema.name"
SCHEMA_FORMAT_KEY = "$schema.format"
SCHEMA_ID_KEY = "$schema.id"
PROPERTIES_ERROR_KEY = "$propertiesError"
# SchemaFormat values as the server names them in "$schema.format" (.NET enum names).
FORMAT_NAMES: dict[int, str] = {
    v2_shared_pb2.SCHEMA_FORMAT_UNSPECIFIED: "Unspecified",
    v2_shared_pb2.SCHEMA_FORMAT_JSON: "Json",
    v2_shared_pb2.SCHEMA_FORMAT_PROTOBUF: "Protobuf",
    v2_shared_pb2.SCHEMA_FORMAT_AVRO: "Avro",
    v2_shared_pb2.SCHEMA_FORMAT_BYTES: "Bytes",
}

PropertyValue = Union[None, bool, float, int, str, list[Any], dict[str, Any]]


# ---- requests ----------------------------------------------------------------------


def expected_revision(value: ExpectedState) -> int:
    """An append's expected revision as the v2 API encodes it: a revision, or -1
    (no stream), -2 (any), -4 (exists)."""
    if isinstance(value, StreamState):
        return _STATE_VALUES[value]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise exc.ProgrammingError(f"unsupported expected version: {value!r}")


def expected_state(value: ExpectedState) -> int:
    """A consistency check's expected state: a revision, or -1 (no stream), -4 (exists),
    -5 (deleted), -6 (tombstoned). ``StreamState.ANY`` (-2) is sent as is: servers
    reject it in a check."""
    if isinstance(value, int) and value in (STREAM_DELETED, STREAM_TOMBSTONED):
        return value
    return expected_revision(value)


def schema_format(content_type: str) -> v2_shared_pb2.SchemaFormat:
    """JSON for ``application/json``, else bytes (the v1 API knows only those two)."""
    return (
        v2_shared_pb2.SCHEMA_FORMAT_JSON
        if content_type == JSON_CONTENT_TYPE
        else v2_shared_pb2.SCHEMA_FORMAT_BYTES
    )


def properties_of(metadata: bytes) -> dict[str, struct_pb2.Value]:
    """Record properties from an event's metadata: empty, or a JSON object whose members
    become properties (strings, numbers, booleans, null, lists and objects). Raises
    :class:`~esdb_wire.exceptions.ProgrammingError` for anything else."""
    if not metadata:
        return {}
    try:
        document = json.loads(metadata)
    except ValueError as error:  # includes UnicodeDecodeError
        raise exc.ProgrammingError(
            f"metadata of a v2 append must be empty or a JSON object: {error}"
        ) from None
    if not isinstance(document, dict):
        raise exc.ProgrammingError(
            f"metadata of a v2 append must be empty or a JSON object, not {document!r}"
        )
    struct = struct_pb2.Struct()
    struct.update(document)
    return {key: struct.fields[key] for key in document}


def append_record(event: NewEvent | NewRecord, stream_name: str | None = None) -> AppendRecord:
    """The ``AppendRecord`` of one event (its id, properties, schema and data);
    ``stream_name`` is set for ``AppendRecords`` (a :class:`NewRecord` names its own)."""
    record = AppendRecord(
        record_id=str(event.id),
        properties=properties_of(event.metadata),
        schema=v2_shared_pb2.SchemaInfo(format=schema_format(event.content_type), name=event.type),
        data=event.data,
    )
    if isinstance(event, NewRecord):
        record.stream = event.stream_name
    elif stream_name is not None:
        record.stream = stream_name
    return record


def append_request(new_events: NewEvents) -> AppendRequest:
    """One stream's message of an ``AppendSession``. The expected revision is always
    encoded (0 included: an absent one means "any")."""
    return AppendRequest(
        stream=new_events.stream_name,
        records=[append_record(event) for event in new_events.events],
        expected_revision=expected_revision(new_events.current_version),
    )


def append_requests(events: NewEvents | Iterable[NewEvents]) -> list[bytes]:
    """The messages of an ``AppendSession``, one per :class:`NewEvents`, encoded."""
    if isinstance(events, NewEvents):
        events = [events]
    return [append_request(new_events).SerializeToString() for new_events in events]


def append_records_request(
    records: NewRecord | Iterable[NewRecord],
    checks: StreamStateCheck | Iterable[StreamStateCheck] | None = None,
) -> bytes:
    """The ``AppendRecords`` request, encoded: the records in order, then the checks."""
    if isinstance(records, NewRecord):
        records = [records]
    if isinstance(checks, StreamStateCheck):
        checks = [checks]
    request = AppendRecordsRequest(records=[append_record(record) for record in records])
    for check in checks or ():
        request.checks.add().stream_state.CopyFrom(
            ConsistencyCheck.StreamStateCheck(
                stream=check.stream_name, expected_state=expected_state(check.expected_state)
            )
        )
    return request.SerializeToString()


# ---- responses ---------------------------------------------------------------------


def append_session_result(data: bytes) -> AppendSessionResult:
    """Decode an ``AppendSessionResponse``."""
    response = decode(v2_streams_pb2.AppendSessionResponse, data, "StreamsService.AppendSession")
    return AppendSessionResult(
        int(response.position),
        tuple(
            StreamPositionResult(output.stream, int(output.stream_revision))
            for output in response.output
        ),
    )


def append_records_result(data: bytes) -> AppendRecordsResult:
    """Decode an ``AppendRecordsResponse``."""
    response = decode(v2_streams_pb2.AppendRecordsResponse, data, "StreamsService.AppendRecords")
    return AppendRecordsResult(
        int(response.position),
        tuple(
            StreamPositionResult(revision.stream, int(revision.revision))
            for revision in response.revisions
        ),
    )


# ---- secondary indexes ---------------------------------------------------------------


def index_name(name: str) -> str:
    """``name`` as an index name: ``ce-order`` becomes ``$idx-ce-order`` (a name that
    already starts with ``$idx-`` is kept), as kurrentdbclient does."""
    return name if name.startswith(INDEX_PREFIX) else INDEX_PREFIX + name


def read_index_request(name: str, *, position: int | None = None, limit: int) -> bytes:
    """Read the index ``name`` (``$idx-`` added if missing) forwards from the commit
    position ``position`` (inclusive), or from its start: a ``$all`` read filtering on
    that stream-name prefix."""
    return read_all_request(
        position=position, by_stream_name=True, stream_name_prefix=index_name(name), limit=limit
    )


def subscribe_index_request(name: str, *, position: int | None = None) -> bytes:
    """Subscribe to the index ``name`` (``$idx-`` added if missing) after the commit
    position ``position`` (exclusive), or from its start."""
    return subscribe_all_request(
        position=position, by_stream_name=True, stream_name_prefix=index_name(name)
    )


def v2_methods(data: bytes) -> set[str]:
    """The v2 Streams methods an encoded ``SupportedMethods`` lists (lower case:
    ``appendsession``, ``appendrecords``); empty for a server without the API."""
    return {method for service, method in supported_methods(data) if service == SERVICE_NAME}


def subscription_status(response: streams_pb2.ReadResp) -> SubscriptionStatus | None:
    """The ``caught_up`` or ``fell_behind`` message of a read response, with the 25.1
    fields that were sent; None for any other message."""
    kind = response.WhichOneof("content")
    if kind not in ("caught_up", "fell_behind"):
        return None
    message = response.caught_up if kind == "caught_up" else response.fell_behind
    timestamp = None
    if message.HasField("timestamp"):
        stamp = message.timestamp
        timestamp = datetime.datetime.fromtimestamp(
            stamp.seconds, tz=datetime.timezone.utc
        ) + datetime.timedelta(microseconds=stamp.nanos // 1000)
    status = SubscriptionStatus(kind, timestamp)
    if message.HasField("stream_revision"):
        status = dataclasses.replace(status, stream_revision=int(message.stream_revision))
    if message.HasField("position"):
        position = message.position
        status = dataclasses.replace(
            status,
            commit_position=int(position.commit_position),
            prepare_position=int(position.prepare_position),
        )
    return status


# ---- properties as JSON --------------------------------------------------------------


def properties_json(properties: Mapping[str, struct_pb2.Value]) -> bytes:
    """Record properties as the JSON object a KurrentDB node shows v1 readers as an
    event's metadata: Google.Protobuf's .NET ``JsonFormatter`` layout
    (``{ "key": value, ... }``, ``{ }`` when empty). Raises ValueError for what that
    formatter refuses (a value without a kind, a NaN or infinite number)."""
    return _struct_text(properties).encode("utf-8")


def _struct_text(fields: Mapping[str, struct_pb2.Value]) -> str:
    if not fields:
        return "{ }"
    parts = []
    for key, value in fields.items():
        if not key:
            raise ValueError("Struct fields cannot have an empty key or a null value.")
        parts.append(f"{_string_text(key)}: {_value_text(value)}")
    return "{ " + ", ".join(parts) + " }"


def _value_text(value: struct_pb2.Value) -> str:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return _string_text(value.string_value)
    if kind == "number_value":
        return _number_text(value.number_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "null_value":
        return "null"
    if kind == "struct_value":
        return _struct_text(value.struct_value.fields)
    if kind == "list_value":
        items = [_value_text(item) for item in value.list_value.values]
        return "[ " + ", ".join(items) + " ]" if items else "[ ]"
    raise ValueError("Value message must contain a value for the oneof.")


def _number_text(number: float) -> str:
    if math.isnan(number) or math.isinf(number):
        raise ValueError("Value.number_value cannot be NaN or infinity")
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    text = repr(number)
    mantissa, e, exponent = text.partition("e")
    if e:  # .NET's round-trip form: 1E+20, 1.5E-07
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}E{sign}{exponent.lstrip('+-').zfill(2)}"
    return text


# .NET's JsonFormatter escapes these besides quotes, backslashes and control characters.
_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "=": "\\u003d", "'": "\\u0027"}


def _string_text(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    if any(char in text for char in _HTML_ESCAPES):
        encoded = "".join(_HTML_ESCAPES.get(char, char) for char in encoded)
    return encoded


def record_metadata(
    properties: Mapping[str, struct_pb2.Value],
    schema_name: str,
    schema_format_value: int,
    schema_id: str | None = None,
) -> bytes:
    """The metadata a 25.1+ node shows v1 readers of a record appended through the v2 API:
    its properties plus ``$schema.name``, ``$schema.format`` (``Json``, ``Bytes``, ...) and,
    when the schema had one, ``$schema.id``, in the node's order. If the properties cannot
    be rendered, the node shows the schema keys and a ``$propertiesError`` instead."""
    fields: dict[str, struct_pb2.Value] = dict(properties)
    format_name = FORMAT_NAMES.get(schema_format_value, str(schema_format_value))
    is_json = schema_format_value == v2_shared_pb2.SCHEMA_FORMAT_JSON
    if not is_json:
        fields[SCHEMA_FORMAT_KEY] = _string_value(format_name)
    if schema_id is not None:
        fields[SCHEMA_ID_KEY] = _string_value(schema_id)
    fields[SCHEMA_NAME_KEY] = _string_value(schema_name)
    if is_json:
        fields[SCHEMA_FORMAT_KEY] = _string_value(format_name)
    try:
        return properties_json(fields)
    except ValueError as error:
        fallback = {
            SCHEMA_NAME_KEY: _string_value(schema_name),
            SCHEMA_FORMAT_KEY: _string_value(format_name),
            PROPERTIES_ERROR_KEY: _string_value(f"Could not render record properties: {error}"),
        }
        return properties_json(fallback)


def _string_value(text: str) -> struct_pb2.Value:
    return struct_pb2.Value(string_value=text)
