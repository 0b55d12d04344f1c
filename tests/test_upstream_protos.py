"""Our proto definitions agree with the upstream ones another client ships.

esdbclient (and kurrentdbclient, where installed) carry generated copies of the upstream
EventStoreDB protos (kurrentdbclient also of the KurrentDB v2 Streams API and its errors).
Every message, field, enum value and method they define must exist in ours with the same
number, type, label, oneof and (canonical) message type; we may add newer fields, enum
values or messages they lack.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf import descriptor_pool

from esdb_wire.protos.wire_names import PACKAGE_PREFIX, canonical_name
from tests.peers import require_peer
from tests.proto_samples import is_repeated, pb2_modules

PEERS = {
    "esdbclient": ("esdbclient.protos.Grpc",),
    "kurrentdbclient": (
        "kurrentdbclient.protos.v1",
        "kurrentdbclient.protos.v2.streams",
        "kurrentdbclient.protos.kurrent.rpc",
    ),
}
# Upstream files we do not carry: the node-to-node API, and kurrent/rpc/rpc.proto (only
# the `(kurrent.rpc.error)` enum value option, whose extension number would clash).
NOT_OURS = {"cluster_pb2", "rpc_pb2"}
# Packages a peer renamed in its own copy, mapped back to the upstream ones.
RENAMED_PACKAGES = {"esdbclient.rpc.": "google.rpc.", "kurrentdbclient.status.": "google.rpc."}


def upstream_name(full_name: str) -> str:
    for renamed, upstream in RENAMED_PACKAGES.items():
        if full_name.startswith(renamed):
            return upstream + full_name[len(renamed) :]
    return full_name


def peer_files(peer: str) -> list[Any]:
    require_peer(peer)
    modules = []
    for name in PEERS[peer]:
        package = importlib.import_module(name)
        modules += [
            importlib.import_module(f"{name}.{info.name}")
            for info in pkgutil.iter_modules(package.__path__)
            if info.name.endswith("_pb2") and info.name not in NOT_OURS
        ]
    return [module.DESCRIPTOR for module in modules]


def walk_messages(descriptors: list[Any]) -> Iterator[Any]:
    for descriptor in descriptors:
        yield descriptor
        yield from walk_messages(list(descriptor.nested_types))


def walk_enums(descriptors: list[Any]) -> Iterator[Any]:
    for message in walk_messages(descriptors):
        yield from message.enum_types


def real_oneof(field: Any) -> str | None:
    """The field's oneof, None for none or for the synthetic one of a proto3 ``optional``
    field (presence is not compared: upstream's edition-2023 files have explicit presence
    everywhere, which our proto3 copies express with ``optional``)."""
    oneof = field.containing_oneof
    if oneof is None or (len(oneof.fields) == 1 and oneof.name == "_" + field.name):
        return None
    return str(oneof.name)


def field_shape(field: Any) -> tuple[object, ...]:
    referenced = field.message_type or field.enum_type
    return (
        field.name,
        field.type,
        is_repeated(field),
        upstream_name(canonical_name(referenced.full_name)) if referenced is not None else None,
        real_oneof(field),
    )


def ours(full_name: str) -> Any:
    pool = descriptor_pool.Default()
    full_name = upstream_name(full_name)
    prefixed = full_name if full_name.startswith("google.protobuf.") else PACKAGE_PREFIX + full_name
    return pool.FindMessageTypeByName(prefixed)


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_messages_match_upstream(peer: str) -> None:
    pb2_modules()  # register all of ours
    files = peer_files(peer)
    checked = 0
    for file in files:
        for theirs in walk_messages(list(file.message_types_by_name.values())):
            mine = ours(theirs.full_name)
            for field in theirs.fields:
                assert field.number in mine.fields_by_number, (theirs.full_name, field.name)
                assert field_shape(mine.fields_by_number[field.number]) == field_shape(field), (
                    theirs.full_name
                )
                checked += 1
    assert checked > 300


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_enums_and_services_match_upstream(peer: str) -> None:
    pb2_modules()
    pool = descriptor_pool.Default()
    files = peer_files(peer)
    for file in files:
        enums = list(file.enum_types_by_name.values())
        enums += list(walk_enums(list(file.message_types_by_name.values())))
        for theirs in enums:
            mine = pool.FindEnumTypeByName(PACKAGE_PREFIX + upstream_name(theirs.full_name))
            mine_values = {v.name: v.number for v in mine.values}
            assert {v.name: v.number for v in theirs.values}.items() <= mine_values.items()
        for service in file.services_by_name.values():
            mine_service = pool.FindServiceByName(PACKAGE_PREFIX + service.full_name)
            for method in service.methods:
                my_method = mine_service.methods_by_name[method.name]
                assert canonical_name(my_method.input_type.full_name) == upstream_name(
                    method.input_type.full_name
                )
                assert canonical_name(my_method.output_type.full_name) == upstream_name(
                    method.output_type.full_name
                )
                for flag in ("client_streaming", "server_streaming"):
                    if hasattr(method, flag):
                        assert getattr(my_method, flag) == getattr(method, flag), method.full_name
