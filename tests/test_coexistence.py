"""esdb_wire imports and works in one process with other EventStoreDB clients, in either order.

Those clients register the upstream protobuf names in protobuf's default descriptor pool;
ours are prefixed, so neither side can clash. Each case runs in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.peers import require_peer

PEERS = {
    "esdbclient": "esdbclient.protos.Grpc",
    "kurrentdbclient": "kurrentdbclient.protos.v1",
}

IMPORT_OURS = """
import esdb_wire
from esdb_wire.protos import (code_pb2, gossip_pb2, monitoring_pb2, operations_pb2,
    persistent_pb2, projections_pb2, serverfeatures_pb2, shared_pb2, status_pb2, streams_pb2,
    users_pb2, error_details_pb2, kurrent_errors_pb2, v2_errors_pb2, v2_shared_pb2,
    v2_streams_pb2)
"""

IMPORT_PEER = """
import importlib, pkgutil
import {peer}
from {peer}.protos import *  # noqa
pkg = importlib.import_module("{protos}")
for info in pkgutil.iter_modules(pkg.__path__):
    if info.name.endswith("_pb2"):
        importlib.import_module("{protos}." + info.name)
peer_streams = importlib.import_module("{protos}.streams_pb2")
"""

EXCHANGE = """
import uuid
ours = streams_pb2.AppendReq()
ours.options.stream_identifier.stream_name = b"order-1"
ours.options.revision = 41
theirs = peer_streams.AppendReq.FromString(ours.SerializeToString())
assert theirs.options.stream_identifier.stream_name == b"order-1", theirs
assert theirs.options.revision == 41
theirs.options.ClearField("revision")
theirs.options.no_stream.SetInParent()
back = streams_pb2.AppendReq.FromString(theirs.SerializeToString())
assert back.options.WhichOneof("expected_stream_revision") == "no_stream"
assert streams_pb2.AppendReq.DESCRIPTOR.full_name.startswith("esdb_wire.")
assert peer_streams.AppendReq.DESCRIPTOR.full_name == "event_store.client.streams.AppendReq"
print("ok")
"""


def run_python(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize("peer", sorted(PEERS))
@pytest.mark.parametrize("ours_first", [True, False], ids=["esdb_wire-first", "peer-first"])
def test_coexists_with_peer(peer: str, ours_first: bool) -> None:
    require_peer(peer)
    peer_imports = IMPORT_PEER.format(peer=peer, protos=PEERS[peer])
    first, second = (IMPORT_OURS, peer_imports) if ours_first else (peer_imports, IMPORT_OURS)
    run_python(first + second + EXCHANGE)


def test_ours_alone_without_peers() -> None:
    run_python(
        IMPORT_OURS
        + """
import sys
assert "grpc" not in sys.modules, "esdb_wire must not import grpcio"
print("ok")
"""
    )


IMPORT_KURRENTDB_V2 = """
from kurrentdbclient.protos.kurrent.rpc import errors_pb2 as peer_rpc_errors, rpc_pb2
from kurrentdbclient.protos.v2.streams import errors_pb2 as peer_errors
from kurrentdbclient.protos.v2.streams import streams_pb2 as peer_v2
"""

EXCHANGE_V2 = """
ours = v2_streams_pb2.AppendRequest(stream="order-1", expected_revision=0)
ours.records.add(record_id="r", data=b"{}").schema.name = "Placed"
theirs = peer_v2.AppendRequest.FromString(ours.SerializeToString())
assert theirs.HasField("expected_revision") and theirs.expected_revision == 0
assert theirs.records[0].schema.name == "Placed"
unset = peer_v2.AppendRequest(stream="s").SerializeToString()
back = v2_streams_pb2.AppendRequest.FromString(unset)
assert not back.HasField("expected_revision")
from esdb_wire.codec import v2_errors
detail = peer_errors.StreamRevisionConflictErrorDetails(stream="s", expected_revision=1,
    actual_revision=2)
data = v2_errors.encode_rich_error(v2_errors.StatusCode.FAILED_PRECONDITION, "m",
    "STREAM_REVISION_CONFLICT", "streams", [detail])
decoded = v2_errors.decode_rich_error(data)
assert decoded.detail == v2_errors.RevisionConflict("s", 1, 2), decoded
assert peer_v2.AppendRequest.DESCRIPTOR.full_name == "kurrentdb.protocol.v2.streams.AppendRequest"
print("ok")
"""


@pytest.mark.parametrize("ours_first", [True, False], ids=["esdb_wire-first", "peer-first"])
def test_v2_protos_coexist_with_kurrentdbclient(ours_first: bool) -> None:
    """Same canonical names as kurrentdbclient's v2 copies (and its kurrent.rpc option)."""
    require_peer("kurrentdbclient")
    first, second = (
        (IMPORT_OURS, IMPORT_KURRENTDB_V2) if ours_first else (IMPORT_KURRENTDB_V2, IMPORT_OURS)
    )
    run_python(first + second + EXCHANGE_V2)
