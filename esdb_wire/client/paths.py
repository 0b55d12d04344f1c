"""The gRPC paths of the rpcs the client calls (canonical names; tests check them against
the descriptors, so importing a client does not load every protobuf module)."""

_STREAMS = "/event_store.client.streams.Streams/"
READ = _STREAMS + "Read"
APPEND = _STREAMS + "Append"
BATCH_APPEND = _STREAMS + "BatchAppend"
DELETE = _STREAMS + "Delete"
TOMBSTONE = _STREAMS + "Tombstone"

GOSSIP_READ = "/event_store.client.gossip.Gossip/Read"
SUPPORTED_METHODS = "/event_store.client.server_features.ServerFeatures/GetSupportedMethods"

_PERSISTENT = "/event_store.client.persistent_subscriptions.PersistentSubscriptions/"
PS_CREATE = _PERSISTENT + "Create"
PS_UPDATE = _PERSISTENT + "Update"
PS_DELETE = _PERSISTENT + "Delete"
PS_READ = _PERSISTENT + "Read"
PS_GET_INFO = _PERSISTENT + "GetInfo"
PS_LIST = _PERSISTENT + "List"
PS_REPLAY_PARKED = _PERSISTENT + "ReplayParked"
PS_RESTART_SUBSYSTEM = _PERSISTENT + "RestartSubsystem"
