"""What a projection emitted before it stopped without a checkpoint (a server killed and
started again on its journal): it runs again from its last checkpoint, and these events
must not be written twice (the server's ``EmittedStream`` recovery).

An emitted event carries the checkpoint tag of its cause (``$c``/``$p`` for a ``$all``
source, ``$s`` for streams) and its projection's ``$v`` (``id:epoch:version:4``). Before a
run first writes to a stream, :class:`EmittedRecovery` reads the stream's last event: if
this projection emitted it in this epoch, everything caused at or before that tag is
already there and is skipped.
"""

from __future__ import annotations

import json
from typing import Any

from esdb_wire.server.store import EventStore

Tag = dict[str, Any]


def _tag_of(metadata: bytes, projection_id: int, epoch: int) -> Tag | None:
    """The cause's tag of an event this projection emitted in ``epoch``, else None."""
    try:
        parsed = json.loads(metadata)
        first, second = (int(part) for part in parsed["$v"].split(":")[:2])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if (first, second) != (projection_id, epoch):
        return None
    tag = {key: parsed[key] for key in ("$c", "$p", "$s") if key in parsed}
    return tag or None


def covered(tag: Tag, written: Tag) -> bool:
    """Whether an event caused at ``tag`` is at or before the cause ``written`` of the
    last event already emitted (positions, or every stream's revision, not later)."""
    if "$c" in tag and "$c" in written:
        return bool(tag["$c"] <= written["$c"])
    streams, done = tag.get("$s"), written.get("$s")
    if isinstance(streams, dict) and isinstance(done, dict) and streams:
        return all(name in done and revision <= done[name] for name, revision in streams.items())
    return False


class EmittedRecovery:
    """Per run of one projection: the last tag already emitted to each stream."""

    def __init__(self, store: EventStore, projection_id: int, epoch: int) -> None:
        self.store = store
        self.projection_id = projection_id
        self.epoch = epoch
        self._written: dict[str, Tag | None] = {}

    def last_written(self, stream: str) -> Tag | None:
        """The tag of the last event this projection emitted to ``stream`` (this epoch,
        still readable), read once per run; None if there is none."""
        if stream in self._written:
            return self._written[stream]
        store = self.store
        record = store.visible_event(stream, store.last_revision(stream))
        tag = (
            None
            if record is None
            else _tag_of(record.custom_metadata, self.projection_id, self.epoch)
        )
        self._written[stream] = tag
        return tag

    def already_emitted(self, stream: str, tag: Tag) -> bool:
        """Whether an event caused at ``tag`` for ``stream`` was emitted before."""
        written = self.last_written(stream)
        if written is None:
            return False
        if covered(tag, written):
            return True
        self._written[stream] = None  # past it: nothing more to skip in this stream
        return False
