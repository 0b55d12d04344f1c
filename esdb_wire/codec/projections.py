"""Projections on the wire: building ``event_store.client.projections.Projections``
requests and decoding statistics, states and results (requests are returned encoded,
responses are decoded from their bytes)."""

from __future__ import annotations

from typing import Literal

from esdb_wire.codec.decoding import decode
from esdb_wire.codec.json_values import data_of
from esdb_wire.projections import (
    EngineVersion,
    ProjectionResult,
    ProjectionState,
    ProjectionStatistics,
)
from esdb_wire.protos import projections_pb2, shared_pb2

P = projections_pb2
StatisticsScope = Literal["all", "continuous", "one_time", "transient"]

# kurrentdbclient's encoding of the engine version (the field's default is v1).
_ENGINE_VERSIONS = {"v1": 0, "v2": 1}


def _engine(engine_version: EngineVersion, track_emitted_streams: bool = False) -> int:
    if engine_version not in _ENGINE_VERSIONS:
        raise ValueError(
            f"Unsupported projection engine version (hint: use 'v1' or 'v2'): {engine_version}"
        )
    if engine_version == "v2" and track_emitted_streams:
        raise ValueError("Tracking emitted streams is not supported with engine version 2.")
    return _ENGINE_VERSIONS[engine_version]


def create_continuous_request(
    name: str,
    query: str,
    *,
    emit_enabled: bool,
    track_emitted_streams: bool,
    engine_version: EngineVersion,
) -> bytes:
    """``CreateReq`` of a continuous projection."""
    options = P.CreateReq.Options(
        continuous=P.CreateReq.Options.Continuous(
            name=name, emit_enabled=emit_enabled, track_emitted_streams=track_emitted_streams
        ),
        query=query,
        engine_version=_engine(engine_version, track_emitted_streams),
    )
    return P.CreateReq(options=options).SerializeToString()


def create_one_time_request(query: str, *, engine_version: EngineVersion) -> bytes:
    """``CreateReq`` of a one-time projection (the server names it)."""
    options = P.CreateReq.Options(
        one_time=shared_pb2.Empty(), query=query, engine_version=_engine(engine_version)
    )
    return P.CreateReq(options=options).SerializeToString()


def create_transient_request(name: str, query: str, *, engine_version: EngineVersion) -> bytes:
    """``CreateReq`` of a transient projection."""
    options = P.CreateReq.Options(
        transient=P.CreateReq.Options.Transient(name=name),
        query=query,
        engine_version=_engine(engine_version),
    )
    return P.CreateReq(options=options).SerializeToString()


def update_request(name: str, query: str, emit_enabled: bool | None) -> bytes:
    """``UpdateReq``: a new query; ``emit_enabled`` None keeps the projection's setting."""
    options = P.UpdateReq.Options(name=name, query=query)
    if emit_enabled is None:
        options.no_emit_options.SetInParent()
    else:
        options.emit_enabled = emit_enabled
    return P.UpdateReq(options=options).SerializeToString()


def delete_request(
    name: str,
    *,
    delete_emitted_streams: bool,
    delete_state_stream: bool,
    delete_checkpoint_stream: bool,
) -> bytes:
    """``DeleteReq``."""
    options = P.DeleteReq.Options(
        name=name,
        delete_emitted_streams=delete_emitted_streams,
        delete_state_stream=delete_state_stream,
        delete_checkpoint_stream=delete_checkpoint_stream,
    )
    return P.DeleteReq(options=options).SerializeToString()


def statistics_request(name: str | None = None, scope: StatisticsScope = "all") -> bytes:
    """``StatisticsReq`` of one projection (``name``), or of every projection in
    ``scope``."""
    options = P.StatisticsReq.Options()
    if name is not None:
        options.name = name
    else:
        getattr(options, scope).SetInParent()
    return P.StatisticsReq(options=options).SerializeToString()


def disable_request(name: str, *, write_checkpoint: bool) -> bytes:
    """``DisableReq``: with a checkpoint (disable) or without (abort)."""
    options = P.DisableReq.Options(name=name, write_checkpoint=write_checkpoint)
    return P.DisableReq(options=options).SerializeToString()


def enable_request(name: str) -> bytes:
    """``EnableReq``."""
    return P.EnableReq(options=P.EnableReq.Options(name=name)).SerializeToString()


def reset_request(name: str, *, write_checkpoint: bool) -> bytes:
    """``ResetReq``."""
    options = P.ResetReq.Options(name=name, write_checkpoint=write_checkpoint)
    return P.ResetReq(options=options).SerializeToString()


def state_request(name: str, partition: str) -> bytes:
    """``StateReq`` (``partition`` "" for an unpartitioned projection's state)."""
    options = P.StateReq.Options(name=name, partition=partition)
    return P.StateReq(options=options).SerializeToString()


def result_request(name: str, partition: str) -> bytes:
    """``ResultReq`` (``partition`` "" for an unpartitioned projection's result)."""
    options = P.ResultReq.Options(name=name, partition=partition)
    return P.ResultReq(options=options).SerializeToString()


def projection_statistics(data: bytes) -> ProjectionStatistics:
    """One ``StatisticsResp``."""
    details = decode(P.StatisticsResp, data, "Projections.Statistics").details
    return ProjectionStatistics(
        core_processing_time=details.coreProcessingTime,
        version=details.version,
        epoch=details.epoch,
        effective_name=details.effectiveName,
        writes_in_progress=details.writesInProgress,
        reads_in_progress=details.readsInProgress,
        partitions_cached=details.partitionsCached,
        status=details.status,
        state_reason=details.stateReason,
        name=details.name,
        mode=details.mode,
        position=details.position,
        progress=details.progress,
        last_checkpoint=details.lastCheckpoint,
        events_processed_after_restart=details.eventsProcessedAfterRestart,
        checkpoint_status=details.checkpointStatus,
        buffered_events=details.bufferedEvents,
        write_pending_events_before_checkpoint=details.writePendingEventsBeforeCheckpoint,
        write_pending_events_after_checkpoint=details.writePendingEventsAfterCheckpoint,
    )


def projection_state(data: bytes) -> ProjectionState:
    """A ``StateResp``'s state as plain Python."""
    return ProjectionState(data_of(decode(P.StateResp, data, "Projections.State").state))


def projection_result(data: bytes) -> ProjectionResult:
    """A ``ResultResp``'s result as plain Python."""
    return ProjectionResult(data_of(decode(P.ResultResp, data, "Projections.Result").result))


EMPTY = shared_pb2.Empty().SerializeToString()
