"""Walk our generated protobuf modules and build fully populated sample messages."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

import esdb_wire.protos

MAX_DEPTH = 4

_SCALAR_SAMPLES: dict[int, object] = {
    FieldDescriptor.TYPE_DOUBLE: 1.5,
    FieldDescriptor.TYPE_FLOAT: 2.5,
    FieldDescriptor.TYPE_INT64: -(2**40),
    FieldDescriptor.TYPE_UINT64: 2**63 + 7,
    FieldDescriptor.TYPE_INT32: -7,
    FieldDescriptor.TYPE_FIXED64: 2**50,
    FieldDescriptor.TYPE_FIXED32: 2**30,
    FieldDescriptor.TYPE_BOOL: True,
    FieldDescriptor.TYPE_STRING: "sample \u00e9",
    FieldDescriptor.TYPE_BYTES: b"\x00\xffbytes",
    FieldDescriptor.TYPE_UINT32: 2**32 - 1,
    FieldDescriptor.TYPE_SFIXED32: -(2**30),
    FieldDescriptor.TYPE_SFIXED64: -(2**50),
    FieldDescriptor.TYPE_SINT32: -(2**20),
    FieldDescriptor.TYPE_SINT64: -(2**45),
}


def pb2_modules() -> list[ModuleType]:
    """Every generated ``*_pb2`` module of the package."""
    names = [
        info.name
        for info in pkgutil.iter_modules(esdb_wire.protos.__path__)
        if info.name.endswith("_pb2")
    ]
    return [importlib.import_module(f"esdb_wire.protos.{name}") for name in sorted(names)]


def message_classes() -> Iterator[type[Message]]:
    """Every message class (top-level and nested, map entries excluded)."""

    def walk(owner: object, descriptors: list[Any]) -> Iterator[type[Message]]:
        for descriptor in descriptors:
            if descriptor.GetOptions().map_entry:
                continue
            cls: type[Message] = getattr(owner, descriptor.name)
            yield cls
            yield from walk(cls, list(descriptor.nested_types))

    for module in pb2_modules():
        yield from walk(module, list(module.DESCRIPTOR.message_types_by_name.values()))


def variant_count(descriptor: Any, depth: int = 0) -> int:
    """How many samples it takes to set every member of every oneof at least once."""
    count = max((len(oneof.fields) for oneof in descriptor.oneofs), default=1)
    if depth < MAX_DEPTH:
        for field in descriptor.fields:
            if field.message_type is not None:
                count = max(count, variant_count(field.message_type, depth + 1))
    return count


def populate(message: Message, variant: int, depth: int = 0) -> None:
    """Set every field of ``message`` (one member per oneof, chosen by ``variant``)."""
    descriptor = message.DESCRIPTOR
    if descriptor.full_name == "google.protobuf.Any":
        # The pure-Python backend resolves Any's type URL when comparing: use a real one.
        setattr(message, "type_url", "type.googleapis.com/google.protobuf.Duration")  # noqa: B010
        setattr(message, "value", b"\x08\x05")  # noqa: B010
        return
    chosen = {oneof.fields[variant % len(oneof.fields)].name for oneof in descriptor.oneofs}
    for field in descriptor.fields:
        if field.containing_oneof is not None and field.name not in chosen:
            continue
        _set_field(message, field, variant, depth)


def _sample_enum(field: Any) -> int:
    return int(field.enum_type.values[-1].number)


def is_repeated(field: Any) -> bool:
    """Whether a field is repeated (protobuf 7 dropped ``label`` for ``is_repeated``)."""
    flag = getattr(field, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _set_field(message: Message, field: Any, variant: int, depth: int) -> None:
    repeated = is_repeated(field)
    target = getattr(message, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key_field = field.message_type.fields_by_name["key"]
        value_field = field.message_type.fields_by_name["value"]
        key = _SCALAR_SAMPLES[key_field.type]
        if value_field.message_type is not None:
            if depth < MAX_DEPTH:
                populate(target[key], variant, depth + 1)
            else:
                target[key].SetInParent()
        elif value_field.enum_type is not None:
            target[key] = _sample_enum(value_field)
        else:
            target[key] = _SCALAR_SAMPLES[value_field.type]
        return
    if field.message_type is not None:
        child = target.add() if repeated else target
        if depth < MAX_DEPTH:
            populate(child, variant, depth + 1)
        child.SetInParent()
        return
    value = _sample_enum(field) if field.enum_type is not None else _SCALAR_SAMPLES[field.type]
    if repeated:
        target.append(value)
    else:
        setattr(message, field.name, value)
