"""Where a group is up to: the sequence numbers of the messages it hands out, and the
checkpoints it writes to ``$persistentsubscription-<key>-checkpoint`` once everything
before a position is acked (``TryMarkCheckpoint``, ``PersistentSubscriptionCheckpointWriter``).
A group resumes after its last checkpoint (``PersistentSubscriptionCheckpointReader``)."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable
from typing import Final

from esdb_wire.server.persistent.config import GroupSettings, parse_position, position_text
from esdb_wire.server.persistent.consumers import Message, PushResult
from esdb_wire.server.persistent.records import ADMINS, append_json, read_last
from esdb_wire.server.records import METADATA_EVENT_TYPE, StreamDeletedError, metastream_of
from esdb_wire.server.store import EventStore

CHECKPOINT_EVENT_TYPE: Final = "$SubscriptionCheckpoint"
LEGACY_CHECKPOINT_EVENT_TYPE: Final = "SubscriptionCheckpoint"

# DateTime.MinValue as a clock reading: long ago, yet less than "never" (checkpoint_after 0).
_LONG_AGO = -1e11


class Checkpoints:
    """A group's checkpoint stream and the sequence numbers it checkpoints by.

    Each message read gets the next sequence number when it is first handed out, and
    remembers the position before it; a checkpoint is the position below which every
    sequence number is done. ``now`` is the group's clock (seconds).
    """

    def __init__(
        self,
        store: EventStore,
        key: str,
        is_all: bool,
        settings: GroupSettings,
        *,
        now: Callable[[], float],
    ) -> None:
        self.store = store
        self.stream = f"$persistentsubscription-{key}-checkpoint"
        self.is_all = is_all
        self.settings = settings
        self._now = now
        self._next_sequence = 0
        self._last_checkpointed_sequence = -1
        self._last_known_sequence = -1
        self._last_known_position: int | None = None
        self._last_checkpoint_time = _LONG_AGO
        self.last_checkpoint: int | None = None

    def load(self) -> int | None:
        """The last checkpoint written, which the group resumes after (None if none)."""
        checkpoint = self._read()
        if checkpoint is not None:
            self._next_sequence = 1
            self._last_checkpointed_sequence = 0
            self._last_known_sequence = 0
            self._last_known_position = checkpoint
            self.last_checkpoint = checkpoint
        return checkpoint

    def _read(self) -> int | None:
        record = read_last(self.store, self.stream)
        if record is None:
            return None
        if record.event_type not in (CHECKPOINT_EVENT_TYPE, LEGACY_CHECKPOINT_EVENT_TYPE):
            return None
        try:
            text = json.loads(record.data)
            return parse_position(self.is_all, str(text))
        except ValueError:
            return None

    # ---- sequence numbers ----

    def push(self, message: Message, push: Callable[[Message], PushResult]) -> PushResult:
        """``push`` the message, numbered if it is new (not a replay, never handed out):
        the number is spent only if it was sent."""
        new_sequence = not message.replayed and message.sequence is None
        if new_sequence:
            message.sequence = self._next_sequence
            message.previous_position = self._last_known_position
        result = push(message)
        if result is PushResult.SENT:
            if new_sequence:
                self._next_sequence += 1
            sequence = message.sequence
            if sequence is not None and sequence > self._last_known_sequence:
                self._last_known_sequence = sequence
                self._last_known_position = message.position
        elif new_sequence:
            message.sequence = None
            message.previous_position = None
        return result

    def skipped(self, position: int, count: int) -> None:
        """``count`` records a filter read past, up to ``position``, are done."""
        self._last_known_position = position
        self._next_sequence += count
        self._last_known_sequence = self._next_sequence - 1

    # ---- checkpoints ----

    def try_mark(
        self, lowest: Message | None, retries: Iterable[Message], *, is_time_check: bool
    ) -> None:
        """``TryMarkCheckpoint``: checkpoint the position below which all is acked, given
        the lowest outstanding message and the messages waiting to be retried."""
        lowest_sequence: float = math.inf
        if lowest is not None and lowest.sequence is not None:
            lowest_sequence = lowest.sequence
        for message in retries:
            sequence = message.sequence
            if message.replayed or sequence is None:
                continue
            if sequence < lowest_sequence:
                lowest, lowest_sequence = message, sequence
        if lowest is not None:
            sequence_done = int(lowest_sequence) - 1
            position = lowest.previous_position
            if position is None:
                return  # nothing acked yet and no earlier checkpoint
        else:
            sequence_done = self._last_known_sequence
            position = self._last_known_position
        if sequence_done == -1 or position is None:
            return
        difference = sequence_done - self._last_checkpointed_sequence
        now = self._now()
        after_ms = self.settings.checkpoint_after_ms
        after = math.inf if after_ms == 0 else after_ms / 1000
        maximum = self.settings.max_checkpoint_count
        if now - self._last_checkpoint_time < after and difference < maximum:
            return
        if (difference >= self.settings.min_checkpoint_count and is_time_check) or (
            difference >= maximum
        ):
            self._last_checkpoint_time = now
            self._last_checkpointed_sequence = sequence_done
            self._write(position)
            self.last_checkpoint = position

    def _write(self, position: int) -> None:
        store = self.store
        stream = self.stream
        with contextlib.suppress(StreamDeletedError):
            if store.last_revision(stream) < 0 and store.last_revision(metastream_of(stream)) < 0:
                acl = {"$w": ADMINS, "$d": ADMINS, "$r": ADMINS, "$mw": ADMINS, "$mr": "$all"}
                metadata = {"$maxCount": 2, "$acl": acl}
                append_json(store, metastream_of(stream), METADATA_EVENT_TYPE, metadata)
            data = position_text(self.is_all, position)
            append_json(store, stream, CHECKPOINT_EVENT_TYPE, data)
