"""Access to the independent peers the tests run against (grpcio, esdbclient, ...)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require_peer(module: str) -> ModuleType:
    """Import an independent peer (grpcio, esdbclient, ...) or skip the test.

    Where ``ESDB_WIRE_REQUIRE_PEERS`` names the module (comma-separated, or ``1`` for the
    peers ``make test`` installs), a missing peer fails the test instead of skipping it.
    Called at a test module's top, it skips (or fails) the whole module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        required = os.environ.get("ESDB_WIRE_REQUIRE_PEERS", "")
        everyone = {"grpc", "esdbclient", "py_mini_racer", "opentelemetry.sdk"}
        names = everyone if required == "1" else set(required.split(","))
        if module in names:
            pytest.fail(f"peer {module!r} is required here but cannot be imported: {exc}")
        pytest.skip(f"peer {module!r} not installed", allow_module_level=True)
