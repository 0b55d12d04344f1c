"""Persistent subscriptions (the esdbclient scenarios of
:mod:`tests.server_persistent.test_esdbclient`: competing consumers, nack/retry/park and
replay, updates, info/list/delete, limits, filters), by esdbclient through each node of a
secure cluster: the client discovers the leader, where persistent subscriptions live."""

from __future__ import annotations

from tests.server_persistent.test_esdbclient import (
    test_competing_consumers_each_event_acked_once,
    test_info_list_delete,
    test_maximum_subscribers_and_duplicate,
    test_nack_retry_park_and_replay,
    test_subscription_to_all_with_a_filter,
    test_update_drops_consumers,
)

__all__ = [
    "test_competing_consumers_each_event_acked_once",
    "test_info_list_delete",
    "test_maximum_subscribers_and_duplicate",
    "test_nack_retry_park_and_replay",
    "test_subscription_to_all_with_a_filter",
    "test_update_drops_consumers",
]
