"""Server-side filters of ``$all`` reads and subscriptions: the regexes esdbclient users
know, the default exclude filter, and the defaults of a filtered subscription's window.

A filter is a sequence of regexes, each matching a whole event type (or, with
``filter_by_stream_name``, a whole stream name): ``filter_include`` lets only what
matches through, ``filter_exclude`` (used when there is no include filter) keeps it out.
"""

from __future__ import annotations

ESDB_EVENTS_REGEX = "\\$.*"
"""esdbclient 0.5's constant: matches system event types (they start with ``$``)."""
ESDB_SYSTEM_EVENTS_REGEX = r"\$.+"
"""esdbclient 1.x's: matches system event types."""
ESDB_PERSISTENT_CONFIG_EVENTS_REGEX = r"PersistentConfig\d+"
"""esdbclient 1.x's: matches the persistent subscriptions' configuration events."""
DEFAULT_EXCLUDE_FILTER = (ESDB_SYSTEM_EVENTS_REGEX, ESDB_PERSISTENT_CONFIG_EVENTS_REGEX)
"""esdbclient 1.x's default exclude filter: system and persistent configuration events."""
DEFAULT_WINDOW_SIZE = 30
"""A filtered subscription's window: how many events the server searches at a time."""
DEFAULT_CHECKPOINT_INTERVAL_MULTIPLIER = 5
"""A filtered subscription gets a checkpoint every window size times this many events
searched."""
