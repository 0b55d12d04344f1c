"""Catch-up subscriptions (:mod:`tests.conformance.test_esdbclient_subscriptions`), by
esdbclient through each node of a secure cluster."""

from __future__ import annotations

from tests.conformance.test_esdbclient_subscriptions import *  # noqa: F403
