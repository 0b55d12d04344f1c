"""Projections (:mod:`tests.conformance.test_esdbclient_projections`), by esdbclient
through each node of a secure cluster running all projections (custom ones in JavaScript:
the ``projections`` extra)."""

from __future__ import annotations

import pytest

from tests.peers import require_peer

RUN_PROJECTIONS = "all"


@pytest.fixture(scope="module", autouse=True)
def _javascript() -> None:
    require_peer("py_mini_racer")


from tests.conformance.test_esdbclient_projections import *  # noqa: E402, F403
