"""The embedded server's side of gRPC over HTTP/2, on ``h2``, sans-IO.

Modules, one job each:

* :mod:`.connection`: :class:`~.connection.ServerConnection` (one accepted connection:
  streams, request messages, responses and trailers) and
  :class:`~.connection.ServerStream` (one call).
* :mod:`.header_decoder`: request header blocks decoded with bounded memory.
* :mod:`.accounting`: the token buckets and receive budgets behind
  :class:`~esdb_wire.server.limits.ServerLimits`.

The sans-IO helpers the client shares (framing, metadata, status, flow control) stay in
:mod:`esdb_wire.transport`; :mod:`esdb_wire.server.host` drives these modules on asyncio.
"""
