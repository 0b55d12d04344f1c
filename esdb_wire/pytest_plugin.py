"""The pytest plugin: an embedded server as the test database, wiped before each test.

Registered as the ``pytest11`` entry point ``esdb_wire``, so installing esdb-wire is
enough; pytest loads this module (nothing else imports it, and ``import esdb_wire`` does
not need pytest). Fixtures:

``esdb_server``
    A running :class:`~esdb_wire.EmbeddedServer` (insecure), started once per session
    and emptied with :meth:`~esdb_wire.EmbeddedServer.reset` before each test that uses it.
``esdb_client``
    An :class:`~esdb_wire.EventStoreDBClient` connected to ``esdb_server``, closed after
    the test.
``esdb_secure_server`` / ``esdb_secure_client``
    The same in secure mode (TLS, users ``admin``/``changeit`` and ``ops``/``changeit``),
    with development certificates from :mod:`esdb_wire.devcerts`; the client logs in as
    ``admin``. Skipped when the ``cryptography`` package is missing.

The ini option ``esdb_run_projections`` (none, system or all; default none) is the
servers' ``run_projections``. An asyncio test can connect its own client:
``async with AsyncEventStoreDBClient(esdb_server.esdb_uri) as client: ...``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported by the fixtures: a session that uses none loads nothing
    from esdb_wire.client.sync import EventStoreDBClient
    from esdb_wire.server.embedded import EmbeddedServer

_PROJECTIONS_INI = "esdb_run_projections"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _PROJECTIONS_INI,
        "run_projections of the esdb_server fixtures: none, system or all",
        default="none",
    )


def _run_projections(config: pytest.Config) -> str:
    value = config.getini(_PROJECTIONS_INI)
    return value if isinstance(value, str) and value else "none"


@pytest.fixture(scope="session")
def _esdb_wire_server(pytestconfig: pytest.Config) -> Iterator[EmbeddedServer]:
    from esdb_wire.server.embedded import EmbeddedServer  # noqa: PLC0415

    with EmbeddedServer(run_projections=_run_projections(pytestconfig)) as server:
        yield server


@pytest.fixture
def esdb_server(_esdb_wire_server: EmbeddedServer) -> EmbeddedServer:
    """A running insecure embedded server (one per session), empty at the test's start."""
    _esdb_wire_server.reset()
    return _esdb_wire_server


@pytest.fixture
def esdb_client(esdb_server: EmbeddedServer) -> Iterator[EventStoreDBClient]:
    """An ``EventStoreDBClient`` connected to ``esdb_server``; closed after the test."""
    from esdb_wire.client.sync import EventStoreDBClient  # noqa: PLC0415

    with EventStoreDBClient(esdb_server.esdb_uri) as client:
        yield client


@pytest.fixture(scope="session")
def _esdb_wire_secure_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedServer]:
    if importlib.util.find_spec("cryptography") is None:
        pytest.skip(
            "esdb_secure_server needs the cryptography package for its development "
            "certificates: pip install 'esdb-wire[certs]'"
        )
    from esdb_wire.devcerts import generate  # noqa: PLC0415
    from esdb_wire.server.embedded import EmbeddedServer  # noqa: PLC0415

    certs = generate(tmp_path_factory.mktemp("esdb-wire-certs"))
    with EmbeddedServer(
        certificate=certs.node_certificate,
        private_key=certs.node_key,
        ca=certs.ca_certificate,
        run_projections=_run_projections(pytestconfig),
    ) as server:
        yield server


@pytest.fixture
def esdb_secure_server(_esdb_wire_secure_server: EmbeddedServer) -> EmbeddedServer:
    """A running secure embedded server (one per session; development certificates,
    ``admin``/``changeit``), empty at the test's start. Its CA is ``server.ca``."""
    _esdb_wire_secure_server.reset()
    return _esdb_wire_secure_server


@pytest.fixture
def esdb_secure_client(esdb_secure_server: EmbeddedServer) -> Iterator[EventStoreDBClient]:
    """An ``EventStoreDBClient`` connected to ``esdb_secure_server`` as ``admin``."""
    from esdb_wire.client.sync import EventStoreDBClient  # noqa: PLC0415
    from esdb_wire.server.auth import ADMIN_USER, DEFAULT_PASSWORD  # noqa: PLC0415

    uri = esdb_secure_server.connection_string(ADMIN_USER, DEFAULT_PASSWORD)
    with EventStoreDBClient(uri) as client:
        yield client
