"""The embedded server's side of gRPC over HTTP/2, sans-IO.

Modules, one job each:

* :mod:`.connection`: :class:`~.connection.ServerConnection` (one accepted connection:
  streams, request messages, responses and trailers, and the budgets that protect the
  server from hostile peers) and :class:`~.connection.ServerStream` (one call).
* :mod:`.engine`: the seam between it and HTTP/2 (what a server engine offers and
  reports, and the choice of one); :mod:`.h2_engine` (the default: ``h2`` behind the
  seam) and :mod:`.native_engine` (opt-in: esdb_wire's own, on the client engine's frame
  module).
* :mod:`.request_head`: what a request's header fields say, read once per repeated block.
* :mod:`.header_decoder`: request header blocks decoded with bounded memory.
* :mod:`.accounting`: the token buckets and receive budgets behind
  :class:`~esdb_wire.server.limits.ServerLimits`.

The sans-IO helpers the client shares (framing, metadata, status, flow control, frames)
stay in :mod:`esdb_wire.transport`; :mod:`esdb_wire.server.host` drives these modules on
asyncio.
"""
