"""Protobuf messages to and from esdb_wire's domain objects: where an event becomes a
Python object (:mod:`.events`), how requests are built (:mod:`.requests`) and how gRPC
failures become typed exceptions (:mod:`.errors`)."""
