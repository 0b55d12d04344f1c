"""esdb_wire: a pure-Python EventStoreDB/KurrentDB client speaking gRPC over h2, no grpcio."""

__version__ = "0.1.0.dev0"
