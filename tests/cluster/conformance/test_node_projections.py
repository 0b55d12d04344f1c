"""Projections (:mod:`tests.conformance.test_esdbclient_projections`), by esdbclient
through each node of a secure cluster running all projections (custom ones in JavaScript:
the ``projections`` extra). Left out: the test that an append's position is the last in
``$all`` right after it, a race with the standard projections' short lag that a loaded
machine and a TLS round trip to another process lose at times (it is about projections,
not clusters, and runs against the single-node server)."""

from __future__ import annotations

import pytest

from tests.peers import require_peer

RUN_PROJECTIONS = "all"


@pytest.fixture(scope="module", autouse=True)
def _javascript() -> None:
    require_peer("py_mini_racer")


from tests.conformance.test_esdbclient_projections import (  # noqa: E402
    test_create_projection,
    test_management_calls_on_an_existing_projection,
    test_projection_example,
    test_readme_projections_section,
    test_state_of_a_projection_that_never_ran_does_not_answer,
    test_unknown_projections_are_not_found,
)

__all__ = [
    "test_create_projection",
    "test_management_calls_on_an_existing_projection",
    "test_projection_example",
    "test_readme_projections_section",
    "test_state_of_a_projection_that_never_ran_does_not_answer",
    "test_unknown_projections_are_not_found",
]
