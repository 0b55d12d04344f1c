"""The gRPC paths of the rpcs the client calls."""

from esdb_wire.protos import gossip_pb2, persistent_pb2, serverfeatures_pb2, streams_pb2
from esdb_wire.protos.wire_names import method_path

_STREAMS = streams_pb2.DESCRIPTOR.services_by_name["Streams"]
READ = method_path(_STREAMS, "Read")
APPEND = method_path(_STREAMS, "Append")
BATCH_APPEND = method_path(_STREAMS, "BatchAppend")
DELETE = method_path(_STREAMS, "Delete")
TOMBSTONE = method_path(_STREAMS, "Tombstone")

GOSSIP_READ = method_path(gossip_pb2.DESCRIPTOR.services_by_name["Gossip"], "Read")
SUPPORTED_METHODS = method_path(
    serverfeatures_pb2.DESCRIPTOR.services_by_name["ServerFeatures"], "GetSupportedMethods"
)

_PERSISTENT = persistent_pb2.DESCRIPTOR.services_by_name["PersistentSubscriptions"]
PS_CREATE = method_path(_PERSISTENT, "Create")
PS_UPDATE = method_path(_PERSISTENT, "Update")
PS_DELETE = method_path(_PERSISTENT, "Delete")
PS_READ = method_path(_PERSISTENT, "Read")
PS_GET_INFO = method_path(_PERSISTENT, "GetInfo")
PS_LIST = method_path(_PERSISTENT, "List")
PS_REPLAY_PARKED = method_path(_PERSISTENT, "ReplayParked")
PS_RESTART_SUBSYSTEM = method_path(_PERSISTENT, "RestartSubsystem")
