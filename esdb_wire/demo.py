"""``make demo``: a client session against the embedded server.

The embedded server and the client API are not built yet; until they are, the demo shows
what exists: the EventStoreDB API definitions and the canonical names they put on the wire.
"""

from __future__ import annotations

from esdb_wire.protos import shared_pb2, streams_pb2
from esdb_wire.protos.wire_names import method_path, pack_any


def main() -> None:
    streams = streams_pb2.DESCRIPTOR.services_by_name["Streams"]
    print("esdb_wire demo: the EventStoreDB Streams API as esdb_wire speaks it")
    for method in streams.methods:
        shape = (
            ("stream " if method.client_streaming else "")
            + "request -> "
            + ("stream " if method.server_streaming else "")
            + "response"
        )
        print(f"  {method_path(streams, method.name):50} {shape}")
    request = streams_pb2.AppendReq()
    request.options.stream_identifier.stream_name = b"order-1"
    request.options.no_stream.SetInParent()
    print(f"AppendReq options for a new stream 'order-1': {request.SerializeToString().hex()}")
    print(f"An error detail's type URL: {pack_any(shared_pb2.WrongExpectedVersion()).type_url}")
    print("(the embedded server and client session arrive with the transport and server work)")


if __name__ == "__main__":
    main()
