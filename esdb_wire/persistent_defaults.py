"""esdbclient 1.x's defaults of persistent subscription groups and their consumers, apart
from :mod:`esdb_wire.persistent`'s types: the client's method signatures need them when
it is imported, its result types only when a call returns them."""

# esdbclient 1.x defaults: of a group's settings (durations in seconds) ...
DEFAULT_MESSAGE_TIMEOUT = 30.0
DEFAULT_MAX_RETRY_COUNT = 10
DEFAULT_MIN_CHECKPOINT_COUNT = 10
DEFAULT_MAX_CHECKPOINT_COUNT = 1000
DEFAULT_CHECKPOINT_AFTER = 2.0
DEFAULT_MAX_SUBSCRIBER_COUNT = 5
DEFAULT_LIVE_BUFFER_SIZE = 500
DEFAULT_READ_BATCH_SIZE = 200
DEFAULT_HISTORY_BUFFER_SIZE = 500
# ... and of a consumer's options.
DEFAULT_EVENT_BUFFER_SIZE = 150
DEFAULT_MAX_ACK_BATCH_SIZE = 50
DEFAULT_MAX_ACK_DELAY = 0.2
DEFAULT_STOPPING_GRACE = 0.2
