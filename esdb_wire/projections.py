"""What the projection methods of the 1.x clients return (esdbclient 1.x / kurrentdbclient
names and fields)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

EngineVersion = Literal["v1", "v2"]


@dataclass(frozen=True)
class ProjectionStatistics:
    """A projection's statistics, as the server reports them (``status`` is the
    server's text: ``"Running"``, ``"Stopped"``, ``"Faulted"``, ...; ``mode`` is
    ``"Continuous"``, ``"OneTime"`` or ``"Transient"``)."""

    core_processing_time: int
    version: int
    epoch: int
    effective_name: str
    writes_in_progress: int
    reads_in_progress: int
    partitions_cached: int
    status: str
    state_reason: str
    name: str
    mode: str
    position: str
    progress: float
    last_checkpoint: str
    events_processed_after_restart: int
    checkpoint_status: str
    buffered_events: int
    write_pending_events_before_checkpoint: int
    write_pending_events_after_checkpoint: int


@dataclass(frozen=True)
class ProjectionState:
    """A projection's state (of one partition, or the whole), as plain JSON values:
    numbers are floats, as the server sends them."""

    value: Any


@dataclass(frozen=True)
class ProjectionResult:
    """A projection's result (its state after ``transformBy``/``filterBy``), as plain
    JSON values."""

    value: Any
