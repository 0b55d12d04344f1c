"""Running client tests on both HTTP/2 engines.

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

from esdb_wire.transport.http2 import engine


@pytest.fixture(scope="module", params=engine.ENGINES)
def http2_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """The engine clients use by default in this module's tests, in turn each one."""
    name = str(request.param)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "DEFAULT_ENGINE", name)
        yield name
