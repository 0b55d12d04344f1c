"""JSON ⇄ ``google.protobuf.Value``, as the Projections service converts states and
results (``ProjectionManagement.GetProtoValue``): numbers become doubles, an empty or
missing JSON text an empty struct."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import struct_pb2


def value_of(data: Any) -> struct_pb2.Value:
    """A parsed JSON value as a ``Value``."""
    value = struct_pb2.Value()
    if data is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(data, bool):
        value.bool_value = data
    elif isinstance(data, (int, float)):
        value.number_value = float(data)
    elif isinstance(data, str):
        value.string_value = data
    elif isinstance(data, list):
        value.list_value.values.extend(value_of(item) for item in data)
    elif isinstance(data, dict):
        fields = value.struct_value.fields
        for key, item in data.items():
            fields[str(key)].CopyFrom(value_of(item))
    else:
        raise TypeError(f"not a JSON value: {type(data).__name__}")
    return value


def value_of_json(text: str | None) -> struct_pb2.Value:
    """A JSON text as a ``Value``; "" or None is an empty struct (no state yet)."""
    if not text:
        value = struct_pb2.Value()
        value.struct_value.SetInParent()
        return value
    return value_of(json.loads(text))


def data_of(value: struct_pb2.Value) -> Any:
    """A ``Value`` as plain Python (the inverse of :func:`value_of`)."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return {key: data_of(item) for key, item in value.struct_value.fields.items()}
    if kind == "list_value":
        return [data_of(item) for item in value.list_value.values]
    if kind == "number_value":
        return value.number_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None
