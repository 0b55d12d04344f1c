"""The instrumentation's tests: an embedded server for the module, and the clients
instrumented around each test that asks for ``recorder`` (see :mod:`._recording`).

They need the OpenTelemetry SDK (``make test`` installs it): each module skips without
it, or fails where ``ESDB_WIRE_REQUIRE_PEERS`` says it is required. ``async def`` tests run
in an event loop of their own (see :mod:`tests.coroutine_tests`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from esdb_wire.server.embedded import EmbeddedServer
from tests.coroutine_tests import pytest_pyfunc_call

if TYPE_CHECKING:
    from tests.instrumentation._recording import Recorder

__all__ = ["pytest_pyfunc_call"]


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    """An insecure embedded server on a free loopback port."""
    with EmbeddedServer() as running:
        yield running


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """The clients instrumented for this test, their spans recorded in memory."""
    from tests.instrumentation._recording import instrumented  # noqa: PLC0415 (needs the SDK)

    with instrumented() as recording:
        yield recording
