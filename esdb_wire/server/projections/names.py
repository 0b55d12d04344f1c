"""Names the projections subsystem writes under, as the server spells them
(``ProjectionNamesBuilder``, ``ProjectionEventTypes``, ``SystemEventTypes``).

Per projection ``<name>``:

* ``$projections-<name>``: its definition, one ``$ProjectionUpdated`` event (JSON) per
  change; the event number is the projection's version.
* ``$projections-<name>-checkpoint``: ``$ProjectionCheckpoint`` events, data the root
  partition's ``[state]`` or ``[state,result]``, metadata the checkpoint tag.
* ``$projections-<name>-result`` (or the ``resultStreamName`` option / ``outputTo``):
  ``Result`` events each time the result changes (``ResultRemoved`` when it goes).
* ``$projections-<name>-<partition>-result`` and ``-checkpoint`` (``$Checkpoint``, at
  most two kept) for each partition, ``$projections-<name>-partitions`` (``$partition``
  events) listing them, ``$projections-<name>-emittedstreams`` (``$StreamTracked``) when
  emitted streams are tracked, ``$projections-<name>-order`` for ``fromStreams``.

And ``$projections-$all``: ``$ProjectionsInitialized``, then one ``$ProjectionCreated``
(data the name, not JSON) per projection, ``$ProjectionDeleted`` when it goes; a
projection's id is the event number of its ``$ProjectionCreated``.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "$projections-"
REGISTRATION_STREAM: Final = "$projections-$all"

PROJECTIONS_INITIALIZED: Final = "$ProjectionsInitialized"
PROJECTION_CREATED: Final = "$ProjectionCreated"
PROJECTION_DELETED: Final = "$ProjectionDeleted"
PROJECTION_UPDATED: Final = "$ProjectionUpdated"
PROJECTION_CHECKPOINT: Final = "$ProjectionCheckpoint"
PARTITION_CHECKPOINT: Final = "$Checkpoint"
STREAM_TRACKED: Final = "$StreamTracked"
RESULT: Final = "Result"
RESULT_REMOVED: Final = "ResultRemoved"
EOF_EVENT: Final = "$Eof"
PARTITION_EVENT: Final = "$partition"
STREAM_REFERENCE: Final = "$@"

# ProjectionsSubsystem.VERSION, the last part of every "$v".
SUBSYSTEM_VERSION: Final = 4
ENGINE_V1: Final = 1

STANDARD_NAMES: Final = (
    "$streams",
    "$stream_by_category",
    "$by_category",
    "$by_event_type",
    "$by_correlation_id",
)


class ProjectionNames:
    """The streams of one projection (``resultStreamName`` and ``outputTo`` honoured)."""

    def __init__(
        self,
        name: str,
        result_stream: str | None = None,
        partition_result_pattern: str | None = None,
    ) -> None:
        self.name = name
        self.definition = PREFIX + name
        self.result = result_stream or f"{PREFIX}{name}-result"
        self._pattern = partition_result_pattern or f"{PREFIX}{name}-{{0}}-result"
        self.checkpoint = f"{PREFIX}{name}-checkpoint"
        self.partitions = f"{PREFIX}{name}-partitions"
        self.emitted_streams = f"{PREFIX}{name}-emittedstreams"
        self.emitted_streams_checkpoint = f"{PREFIX}{name}-emittedstreams-checkpoint"
        self.order = f"{PREFIX}{name}-order"

    def partition_result(self, partition: str) -> str:
        return self.result if not partition else self._pattern.replace("{0}", partition)

    def partition_checkpoint(self, partition: str) -> str:
        return f"{PREFIX}{self.name}-{partition}-checkpoint"


def version_text(projection_id: int, epoch: int, version: int) -> str:
    """The ``$v`` of emitted events and checkpoints: ``id:epoch:version:4``."""
    return f"{projection_id}:{epoch}:{version}:{SUBSYSTEM_VERSION}"
