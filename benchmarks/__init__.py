"""Benchmarks for esdb_wire (not part of the package; peers come with the `bench` extra)."""
