"""Users, Operations and Monitoring on the wire: building their requests (encoded) and
decoding what comes back into :mod:`esdb_wire.users` / :mod:`esdb_wire.operations`
types and stats mappings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from esdb_wire.codec.decoding import decode
from esdb_wire.operations import DatabaseScavengeResult, ScavengeResult
from esdb_wire.protos import monitoring_pb2, operations_pb2, shared_pb2, users_pb2
from esdb_wire.users import UserDetails

U = users_pb2
EMPTY = shared_pb2.Empty().SerializeToString()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# -- users -----------------------------------------------------------------------------


def create_user_request(
    login_name: str, full_name: str, groups: Sequence[str], password: str
) -> bytes:
    """``CreateReq``."""
    options = U.CreateReq.Options(
        login_name=login_name, password=password, full_name=full_name, groups=list(groups)
    )
    return U.CreateReq(options=options).SerializeToString()


def update_user_request(login_name: str, full_name: str, groups: Sequence[str]) -> bytes:
    """``UpdateReq`` (the password is not changed: see :func:`reset_password_request`)."""
    options = U.UpdateReq.Options(login_name=login_name, full_name=full_name, groups=list(groups))
    return U.UpdateReq(options=options).SerializeToString()


def delete_user_request(login_name: str) -> bytes:
    """``DeleteReq``."""
    return U.DeleteReq(options=U.DeleteReq.Options(login_name=login_name)).SerializeToString()


def enable_user_request(login_name: str) -> bytes:
    """``EnableReq``."""
    return U.EnableReq(options=U.EnableReq.Options(login_name=login_name)).SerializeToString()


def disable_user_request(login_name: str) -> bytes:
    """``DisableReq``."""
    return U.DisableReq(options=U.DisableReq.Options(login_name=login_name)).SerializeToString()


def user_details_request(login_name: str | None) -> bytes:
    """``DetailsReq`` of one user, or (None) of every user."""
    options = U.DetailsReq.Options(login_name=login_name or "")
    return U.DetailsReq(options=options).SerializeToString()


def change_password_request(login_name: str, current_password: str, new_password: str) -> bytes:
    """``ChangePasswordReq``."""
    options = U.ChangePasswordReq.Options(
        login_name=login_name, current_password=current_password, new_password=new_password
    )
    return U.ChangePasswordReq(options=options).SerializeToString()


def reset_password_request(login_name: str, new_password: str) -> bytes:
    """``ResetPasswordReq``."""
    options = U.ResetPasswordReq.Options(login_name=login_name, new_password=new_password)
    return U.ResetPasswordReq(options=options).SerializeToString()


def user_details(data: bytes) -> UserDetails:
    """One ``DetailsResp``; ``last_updated`` from .NET ticks since the Unix epoch."""
    details = decode(U.DetailsResp, data, "Users.Details").user_details
    last_updated = None
    if details.HasField("last_updated"):
        ticks = details.last_updated.ticks_since_epoch
        last_updated = _EPOCH + timedelta(microseconds=ticks // 10)
    return UserDetails(
        login_name=details.login_name,
        full_name=details.full_name,
        groups=tuple(details.groups),
        disabled=details.disabled,
        last_updated=last_updated,
    )


# -- operations ------------------------------------------------------------------------


def start_scavenge_request(thread_count: int, start_from_chunk: int) -> bytes:
    """``StartScavengeReq`` (the .NET client's checks: at least one thread, a chunk
    number of 0 or more)."""
    if thread_count <= 0:
        raise ValueError(f"thread_count must be positive, not {thread_count}")
    if start_from_chunk < 0:
        raise ValueError(f"start_from_chunk must be 0 or more, not {start_from_chunk}")
    options = operations_pb2.StartScavengeReq.Options(
        thread_count=thread_count, start_from_chunk=start_from_chunk
    )
    return operations_pb2.StartScavengeReq(options=options).SerializeToString()


def stop_scavenge_request(scavenge_id: str) -> bytes:
    """``StopScavengeReq``."""
    options = operations_pb2.StopScavengeReq.Options(scavenge_id=scavenge_id)
    return operations_pb2.StopScavengeReq(options=options).SerializeToString()


def scavenge_result(data: bytes, *, stop: bool = False) -> DatabaseScavengeResult:
    """A ``ScavengeResp`` (of ``StopScavenge`` with ``stop``, else of ``StartScavenge``)."""
    method = "Operations.StopScavenge" if stop else "Operations.StartScavenge"
    response = decode(operations_pb2.ScavengeResp, data, method)
    return DatabaseScavengeResult(response.scavenge_id, ScavengeResult(response.scavenge_result))


def set_node_priority_request(node_priority: int) -> bytes:
    """``SetNodePriorityReq``."""
    return operations_pb2.SetNodePriorityReq(priority=node_priority).SerializeToString()


# -- monitoring ------------------------------------------------------------------------


def stats_request(refresh_period: float, use_metadata: bool) -> bytes:
    """``StatsReq``: a new set every ``refresh_period`` seconds."""
    if refresh_period < 0:
        raise ValueError(f"refresh_period must be 0 or more, not {refresh_period}")
    return monitoring_pb2.StatsReq(
        use_metadata=use_metadata, refresh_time_period_in_ms=round(refresh_period * 1000)
    ).SerializeToString()


def stats(data: bytes) -> dict[str, str]:
    """One ``StatsResp``: the server's key → value pairs."""
    return dict(decode(monitoring_pb2.StatsResp, data, "Monitoring.Stats").stats)
