"""Deletes, tombstones and stream metadata
(:mod:`tests.conformance.test_esdbclient_delete_metadata`), by esdbclient through each
node of a secure cluster."""

from __future__ import annotations

from tests.conformance.test_esdbclient_delete_metadata import *  # noqa: F403
