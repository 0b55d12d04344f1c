"""Benchmarks for esdb_wire (not part of the package; see benchmarks/requirements.txt)."""
