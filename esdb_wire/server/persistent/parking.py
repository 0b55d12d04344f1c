"""A group's parked messages (``PersistentSubscriptionMessageParker``): links to the
messages given up on, in ``$persistentsubscription-<key>-parked``, and their replay."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Final

from esdb_wire.server.persistent.consumers import Message
from esdb_wire.server.persistent.records import ADMINS, append_json, iso_time
from esdb_wire.server.records import (
    ANY,
    LINK_EVENT_TYPE,
    METADATA_EVENT_TYPE,
    ProposedEvent,
    StreamDeletedError,
    metastream_of,
)
from esdb_wire.server.store import EventStore

PARKED_BY_CLIENT_REASON: Final = "Client explicitly NAK'ed message.\n"


class ParkedMessages:
    """The parked stream of the group ``key``."""

    def __init__(self, store: EventStore, key: str) -> None:
        self.store = store
        self.stream = f"$persistentsubscription-{key}-parked"

    def park(self, message: Message, reason: str) -> None:
        """Write the message to the parked stream as a link."""
        event = message.event
        if event is None:
            assert message.link is not None
            data = message.link.data
        else:
            data = f"{event.revision}@{event.stream_name}".encode()
        metadata: dict[str, object] = {"added": iso_time(self.store.clock()), "reason": reason}
        if message.original_event_number != 0:  # DefaultValueHandling.Ignore
            metadata["subscriptionEventNumber"] = message.original_event_number
        parked = ProposedEvent(
            uuid.uuid4(), LINK_EVENT_TYPE, False, data, json.dumps(metadata, indent=2).encode()
        )
        # On failure the server logs "possible message loss" and moves on.
        with contextlib.suppress(StreamDeletedError):
            self.store.append(self.stream, ANY, [parked])

    @property
    def count(self) -> int:
        last = self.store.last_revision(self.stream)
        if last < 0:
            return 0
        truncate_before = self.store.metadata(self.stream).truncate_before
        if truncate_before is None or truncate_before <= 0:
            return last + 1
        return max(0, last - truncate_before + 1)

    def replay_end(self, stop_at: int | None) -> int:
        """Where a replay up to ``stop_at`` (None: no limit) stops, exclusive: at most the
        stream's end; 0 or less when there is nothing to replay."""
        store = self.store
        end = store.last_revision(self.stream)
        try:
            last = store.read_stream(self.stream, None, 1, backwards=True)
        except StreamDeletedError:
            return 0
        if last is None or end < 0:
            return 0
        return end + 1 if stop_at is None else min(stop_at, end + 1)

    def replay(self, stop: int, requeue: Callable[[Message], None]) -> None:
        """``RetryParkedMessages``: ``requeue`` the parked messages before ``stop`` (read
        resolved), then truncate the parked stream before ``stop``."""
        store = self.store
        found = store.read_stream(self.stream, 0, stop)
        for record in [] if found is None else found.records:
            if record.revision >= stop:
                break
            if record.event_type == LINK_EVENT_TYPE:
                target = store.resolve_link(record, may_read=None)  # see Message
                requeue(Message(target, record, None, replayed=True))
            else:
                requeue(Message(record, None, None, replayed=True))
        acl = {key: ADMINS for key in ("$w", "$d", "$r", "$mw", "$mr")}
        metadata = {"$tb": stop, "$acl": acl}
        with contextlib.suppress(StreamDeletedError):
            append_json(store, metastream_of(self.stream), METADATA_EVENT_TYPE, metadata)
