"""The embedded, in-memory EventStoreDB-compatible gRPC server."""
