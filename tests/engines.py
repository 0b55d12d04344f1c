"""Running client tests on both HTTP/2 engines, and server tests on both server engines.

``http2_engine`` is a module-scoped fixture parametrised over
:data:`esdb_wire.transport.http2.engine.ENGINES`: while it is active, a client or channel
built without naming an engine uses the one under test. Directories whose tests all
exercise the client use it through their ``conftest.py`` (autouse); elsewhere a module
opts in with ``pytestmark = pytest.mark.usefixtures("http2_engine")``. Fixtures that keep
a client for a whole module must depend on it, so that each engine gets its own client.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from esdb_wire.server.http2 import engine as server_engine
from esdb_wire.transport.http2 import engine


@pytest.fixture(scope="module", params=engine.ENGINES)
def http2_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """The engine clients use by default in this module's tests, in turn each one."""
    name = str(request.param)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "DEFAULT_ENGINE", name)
        yield name


@pytest.fixture(scope="module", params=server_engine.SERVER_ENGINES)
def server_http2_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """The engine servers use by default in this module's tests, in turn each one.

    The same pattern for the embedded server (:mod:`esdb_wire.server.http2.engine`):
    while it is active, an ``EmbeddedServer``, ``GrpcHost`` or ``ServerConnection``
    built without naming an engine uses the one under test (a server process started by
    a test is given it with ``--http2-engine``, see :func:`current_server_engine`).
    Module-scoped fixtures that keep a server must depend on it.
    """
    name = str(request.param)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(server_engine, "DEFAULT_SERVER_ENGINE", name)
        yield name


def current_server_engine() -> str:
    """The server engine a server started now without naming one would use."""
    return server_engine.check_server_engine(None)
