"""What the node-operations methods of the 1.x clients return (the .NET client's
``DatabaseScavengeResult``, in snake_case)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ScavengeResult(enum.Enum):
    """The state of a scavenge the server reports when one is started or stopped."""

    STARTED = 0
    IN_PROGRESS = 1
    STOPPED = 2


@dataclass(frozen=True)
class DatabaseScavengeResult:
    """A scavenge's id and state: ``STARTED`` for a new one, ``IN_PROGRESS`` when one
    was already running (its id), ``STOPPED`` after :meth:`stop_scavenge`."""

    scavenge_id: str
    result: ScavengeResult
