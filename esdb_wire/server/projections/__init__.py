"""Projections in the embedded server: the standard ones (native) and custom ones in
JavaScript (the optional ``projections`` extra), managed as a node manages them.

Modules, one job each:

* :mod:`.names`: the streams and event types projections use.
* :mod:`.standard`: the five standard projections, native.
* :mod:`.prelude` / :mod:`.jsruntime`: the projection language in JavaScript and the
  engine that runs it (mini-racer, optional).
* :mod:`.source`: what a projection reads; :mod:`.output`: what it writes.
* :mod:`.core`: one projection at work; :mod:`.managed` / :mod:`.manager`: their
  lifecycle and registry; :mod:`.service`: the gRPC Projections service.
"""

from esdb_wire.server.projections.standard import (
    StandardProjections,
    category_of,
    is_projected_stream,
)

__all__ = ["StandardProjections", "category_of", "is_projected_stream"]
