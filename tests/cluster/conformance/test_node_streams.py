"""Appends, stream reads and $all reads (:mod:`tests.conformance.test_esdbclient_streams`),
by esdbclient through each node of a secure cluster."""

from __future__ import annotations

from tests.conformance.test_esdbclient_streams import *  # noqa: F403
