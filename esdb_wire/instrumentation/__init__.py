"""Optional instrumentation of the clients, from outside: nothing in ``esdb_wire`` imports
this package, and a program that never enables it pays nothing for it.

:mod:`esdb_wire.instrumentation.opentelemetry` traces appends and subscriptions with
OpenTelemetry (the ``esdb-wire[opentelemetry]`` extra).
"""

from __future__ import annotations
