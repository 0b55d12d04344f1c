"""The client benchmark suite: esdb_wire (blocking, asyncio) against esdbclient 1.1.7.

``python -m benchmarks`` runs it (see :mod:`benchmarks.suite.main`). Each measurement is
one client process talking to one embedded server process on 127.0.0.1.
"""
