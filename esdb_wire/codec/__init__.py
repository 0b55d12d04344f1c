"""The client's wire boundary: bytes to and from esdb_wire's domain objects. Requests are
returned encoded (:mod:`.requests`, :mod:`.persistent`, :mod:`.admin`, ...); responses are
decoded from their bytes (:mod:`.responses`, where reads and subscriptions turn into
events through :mod:`.events`), and what does not decode raises
:class:`~esdb_wire.exceptions.UndecodableResponse` (:mod:`.decoding`); gRPC failures
become typed exceptions in :mod:`.errors`. The client modules hold no protobuf type."""
