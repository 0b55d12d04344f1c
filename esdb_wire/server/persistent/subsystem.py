"""All groups of one store (``PersistentSubscriptionService``), and their configuration
in ``$persistentSubscriptionConfig``, so that a new subsystem on the same store (a restart)
finds them again and resumes each one after its last checkpoint."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

from esdb_wire.server.persistent.config import (
    ALL_STREAM,
    EventFilterSpec,
    GroupConfig,
    GroupFailed,
    GroupSettings,
    StartFrom,
    check_buffer_sizes,
    parse_all_position,
    start_from_text,
    subscription_key,
    validate_settings,
    validate_start_from,
)
from esdb_wire.server.persistent.group import Group
from esdb_wire.server.persistent.records import append_json, iso_time, read_last
from esdb_wire.server.persistent.strategies import DISPATCH_TO_SINGLE, ROUND_ROBIN, STRATEGIES
from esdb_wire.server.records import METADATA_EVENT_TYPE, metastream_of
from esdb_wire.server.store import EventStore

CONFIG_STREAM: Final = "$persistentSubscriptionConfig"
CONFIG_EVENT_TYPE: Final = "$PersistentConfig"

_MIN_LONG = -(2**63)


class GroupNotFound(Exception):
    """No such group (NOT_FOUND ``persistent-subscription-does-not-exist``)."""


class GroupExists(Exception):
    """The group exists already (ALREADY_EXISTS ``persistent-subscription-exists``)."""


class SubsystemStopped(Exception):
    """The subsystem is not started."""


class Subsystem:
    """All groups of one store (``PersistentSubscriptionService``)."""

    def __init__(
        self, store: EventStore, *, now: Callable[[], float], username: str = "system"
    ) -> None:
        self.store = store
        self._now = now
        self.username = username
        self.started = False
        self.groups: dict[str, Group] = {}
        # Event source -> its groups, in creation order (kept after the last one is deleted,
        # until a restart, as the server's _subscriptionTopics).
        self.topics: dict[str, list[Group]] = {}
        self.entries: list[GroupConfig] = []
        self.start()

    # ---- lifecycle ----

    def start(self) -> None:
        """Load the configuration and build every group (``StartSubscriptions``)."""
        self.groups = {}
        self.topics = {}
        self.entries = []
        for entry in load_config(self.store):
            if entry.settings.consumer_strategy not in STRATEGIES or entry.key in self.groups:
                continue
            try:
                group = self._build(entry)
            except GroupFailed:
                continue
            self.entries.append(entry)
            self._attach(group)
        self.started = True

    def stop(self) -> None:
        self.started = False
        for group in self.groups.values():
            group.shutdown()

    def restart(self) -> None:
        if not self.started:
            raise SubsystemStopped
        self.stop()
        self.start()

    def _build(self, config: GroupConfig) -> Group:
        check_buffer_sizes(config.settings)
        return Group(self.store, config, now=self._now)

    def _attach(self, group: Group) -> None:
        self.groups[group.key] = group
        self.topics.setdefault(group.config.source, []).append(group)

    # ---- create, update, delete ----

    def create(self, config: GroupConfig) -> Group:
        validate_settings(config.settings)
        validate_start_from(config.start_from, self.store.last_position)
        if config.key in self.groups:
            raise GroupExists
        group = self._build(config)
        self._attach(group)
        self.entries.append(config)
        self._save()
        return group

    def update(self, config: GroupConfig) -> Group:
        old = self.groups.get(config.key)
        if old is None:
            raise GroupNotFound
        validate_settings(config.settings)
        validate_start_from(config.start_from, self.store.last_position)
        if config.is_all:  # the filter cannot change
            config = replace(config, event_filter=old.config.event_filter)
        group = self._build(config)
        old.shutdown()
        self.groups[config.key] = group
        topic = self.topics[config.source]
        topic[topic.index(old)] = group
        self.entries = [config if e.key == config.key else e for e in self.entries]
        self._save()
        return group

    def delete(self, source: str, group_name: str) -> None:
        key = subscription_key(source, group_name)
        group = self.groups.pop(key, None)
        if group is None:
            raise GroupNotFound
        group.shutdown()
        self.topics[source].remove(group)
        self.entries = [e for e in self.entries if e.key != key]
        group.delete_streams()
        self._save()

    def _save(self) -> None:
        save_config(self.store, self.entries, self.username)

    # ---- queries ----

    def get(self, source: str, group_name: str) -> Group:
        if source not in self.topics:
            raise GroupNotFound
        group = self.groups.get(subscription_key(source, group_name))
        if group is None:
            raise GroupNotFound
        return group

    def list(self, source: str | None = None) -> list[Group]:
        if source is None:
            return [group for topic in sorted(self.topics) for group in self.topics[topic]]
        groups = self.topics.get(source)
        if groups is None:
            raise GroupNotFound
        return list(groups)

    def tick(self) -> None:
        for group in list(self.groups.values()):
            group.tick()


# ---- the persisted configuration ----------------------------------------------------------------


def config_entry(config: GroupConfig) -> dict[str, object]:
    """One ``PersistentSubscriptionEntry`` as Newtonsoft writes it (camelCase, defaults
    and nulls left out)."""
    settings = config.settings
    start = config.start_from
    values: list[tuple[str, object]] = [
        ("stream", config.source),
        ("group", config.group),
        ("filter", None if config.event_filter is None else _filter_entry(config.event_filter)),
        ("resolveLinkTos", settings.resolve_links),
        ("extraStatistics", settings.extra_statistics),
        ("messageTimeout", settings.message_timeout_ms),
        ("startFrom", _MIN_LONG if isinstance(start, tuple) else start),
        ("startPosition", start_from_text(start)),
        ("liveBufferSize", settings.live_buffer_size),
        ("historyBufferSize", settings.history_buffer_size),
        ("maxRetryCount", settings.max_retry_count),
        ("readBatchSize", settings.read_batch_size),
        ("preferRoundRobin", False),
        ("checkPointAfter", settings.checkpoint_after_ms),
        ("minCheckPointCount", settings.min_checkpoint_count),
        ("maxCheckPointCount", settings.max_checkpoint_count),
        ("maxSubscriberCount", settings.max_subscriber_count),
        ("namedConsumerStrategy", settings.consumer_strategy),
    ]
    return {key: value for key, value in values if value not in (None, False, 0)}


def _filter_entry(spec: EventFilterSpec) -> dict[str, object]:
    return {"context": spec.context, "type": spec.kind, "data": spec.data, "isAllStream": True}


def save_config(store: EventStore, entries: Sequence[GroupConfig], username: str) -> None:
    """Write the whole configuration to ``$persistentSubscriptionConfig`` (maxCount 2)."""
    if store.last_revision(metastream_of(CONFIG_STREAM)) < 0:
        append_json(store, metastream_of(CONFIG_STREAM), METADATA_EVENT_TYPE, {"$maxCount": 2})
    document = {
        "version": "2",
        "updated": iso_time(store.clock()),
        "updatedBy": username,
        "entries": [config_entry(entry) for entry in entries],
    }
    append_json(store, CONFIG_STREAM, CONFIG_EVENT_TYPE, document)


def load_config(store: EventStore) -> list[GroupConfig]:
    """The entries of the last ``$persistentSubscriptionConfig`` event (none if unreadable)."""
    record = read_last(store, CONFIG_STREAM)
    if record is None:
        return []
    try:
        document = json.loads(record.data)
    except ValueError:
        return []
    if not isinstance(document, dict) or document.get("version") is None:
        return []
    configs: list[GroupConfig] = []
    for entry in document.get("entries") or []:
        config = _config_from_entry(entry)
        if config is not None:
            configs.append(config)
    return configs


def _config_from_entry(entry: object) -> GroupConfig | None:
    if not isinstance(entry, dict):
        return None

    def number(key: str) -> int:
        value = entry.get(key, 0)
        return value if isinstance(value, int) else 0

    source = str(entry.get("stream") or "")
    group = str(entry.get("group") or "")
    strategy = entry.get("namedConsumerStrategy") or (
        ROUND_ROBIN if entry.get("preferRoundRobin") else DISPATCH_TO_SINGLE
    )
    settings = GroupSettings(
        resolve_links=bool(entry.get("resolveLinkTos", False)),
        extra_statistics=bool(entry.get("extraStatistics", False)),
        message_timeout_ms=number("messageTimeout"),
        max_retry_count=number("maxRetryCount"),
        live_buffer_size=number("liveBufferSize"),
        history_buffer_size=number("historyBufferSize"),
        read_batch_size=number("readBatchSize"),
        checkpoint_after_ms=number("checkPointAfter"),
        min_checkpoint_count=number("minCheckPointCount"),
        max_checkpoint_count=number("maxCheckPointCount"),
        max_subscriber_count=number("maxSubscriberCount"),
        consumer_strategy=str(strategy),
    )
    is_all = source == ALL_STREAM
    start_text = entry.get("startPosition")
    if not isinstance(start_text, str):
        start_text = str(number("startFrom"))
    try:
        start: StartFrom = parse_all_position(start_text) if is_all else int(start_text)
    except ValueError:
        return None
    event_filter = None
    raw_filter = entry.get("filter")
    if is_all and isinstance(raw_filter, dict):
        context, kind, data = (raw_filter.get(k) for k in ("context", "type", "data"))
        if context not in ("streamid", "eventtype") or kind not in ("regex", "prefix"):
            return None
        if not isinstance(data, str) or not data:
            return None
        event_filter = EventFilterSpec(str(context), str(kind), data)
        try:
            event_filter.predicate()
        except re.error:
            return None
    return GroupConfig(source, group, start, settings, event_filter)
