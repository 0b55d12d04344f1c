"""The system streams of the subsystem (configuration, checkpoints, parked messages): their
last record, and JSON events and times written as the server writes them (Newtonsoft)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Final

from esdb_wire.server.records import ANY, ProposedEvent, Record, StreamDeletedError
from esdb_wire.server.store import EventStore

ADMINS: Final = "$admins"


def read_last(store: EventStore, stream: str) -> Record | None:
    """The stream's last record; None if it has none or is deleted."""
    try:
        found = store.read_stream(stream, None, 1, backwards=True)
    except StreamDeletedError:
        return None
    if found is None or not found.records:
        return None
    return found.records[0]


def append_json(store: EventStore, stream: str, event_type: str, value: object) -> None:
    """Append one JSON event (indented, as the server writes it) at any expected version."""
    data = json.dumps(value, indent=2).encode()
    store.append(stream, ANY, [ProposedEvent(uuid.uuid4(), event_type, True, data, b"")])


def iso_time(ticks: int) -> str:
    """``DateTime`` in Newtonsoft's ISO form (7 fraction digits, trailing zeros dropped)."""
    moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=ticks // 10)
    fraction = f"{ticks % 10_000_000:07d}".rstrip("0")
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{fraction}+00:00" if fraction else f"{text}+00:00"
