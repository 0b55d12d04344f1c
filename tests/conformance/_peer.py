"""esdbclient as an independent peer: imported at the top of every conformance module.

``require_peer`` skips (or fails, where peers are required) from inside a test; at module
level a skip must say so, hence this wrapper.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.peers import require_peer


def esdbclient_or_skip() -> ModuleType:
    """``esdbclient``, or skip the calling module (e.g. under PyPy, which has no grpcio)."""
    try:
        return require_peer("esdbclient")
    except pytest.skip.Exception as exc:
        pytest.skip(str(exc), allow_module_level=True)
