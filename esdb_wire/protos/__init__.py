"""Protobuf modules generated from ``proto/esdb_wire/protos/*.proto`` by ``make proto``.

Do not edit the ``*_pb2`` modules by hand. Our proto packages are the upstream ones
prefixed with ``esdb_wire.`` so that they never clash in protobuf's default descriptor
pool with another client's copy of the same API; :mod:`esdb_wire.protos.wire_names`
turns our names back into the canonical ones used on the wire, and
:mod:`esdb_wire.protos.uuids` reads and writes the wire's UUID message (client and server).
"""
