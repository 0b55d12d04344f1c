"""Error mapping, limits and deadlines (:mod:`tests.conformance.test_esdbclient_errors`, the
tests that need neither a single-node server nor an insecure one: a secure node checks a
stream's ACL before its name), and one client shared by threads and large
messages (:mod:`tests.conformance.test_esdbclient_concurrency`), by esdbclient through each
node of a secure cluster."""

from __future__ import annotations

from tests.conformance.test_esdbclient_concurrency import (
    test_large_events_and_many_subscriptions_on_one_client,
)
from tests.conformance.test_esdbclient_errors import (
    test_append_of_exactly_the_maximum_size_succeeds,
    test_append_over_the_maximum_size_through_append,
    test_append_over_the_maximum_size_through_batch_append,
    test_read_deadline,
    test_wrong_current_version_is_exactly_that_class,
)

__all__ = [
    "test_append_of_exactly_the_maximum_size_succeeds",
    "test_append_over_the_maximum_size_through_append",
    "test_append_over_the_maximum_size_through_batch_append",
    "test_large_events_and_many_subscriptions_on_one_client",
    "test_read_deadline",
    "test_wrong_current_version_is_exactly_that_class",
]
