"""What an append or a delete expects of its stream: :class:`StreamState` (or a
revision, an ``int``)."""

from __future__ import annotations

import enum


class StreamState(enum.Enum):
    """Expected states of a stream, for appends and deletes (esdbclient 1.x)."""

    ANY = "ANY"
    NO_STREAM = "NO_STREAM"
    EXISTS = "EXISTS"
