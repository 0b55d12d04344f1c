"""Persistent subscriptions in the embedded server: competing consumers over groups kept
in the store, as ``PersistentSubscriptionService`` keeps them (server spec §4, §5, and the
server sources they name: ``PersistentSubscription.cs``, ``StreamBuffer.cs``,
``OutstandingMessage.cs``, the consumer strategies, ``PersistentSubscriptionMessageParker.cs``,
``...CheckpointWriter.cs``).

Modules, one job each:

* :mod:`.config`: what defines a group (source, start, filter, settings) and its checks.
* :mod:`.consumers`: the messages handed out, the consumers, the in-flight cache.
* :mod:`.strategies`: which consumer gets a message.
* :mod:`.buffer`: the group's buffer and what fills it from the event source.
* :mod:`.checkpoints`: sequence numbers and the checkpoint stream.
* :mod:`.parking`: the parked-messages stream and its replay.
* :mod:`.records`: reading and writing the subsystem's system streams.
* :mod:`.group`: one group: consumers, acks and nacks, the delivery loop.
* :mod:`.subsystem`: every group of a store and their persisted configuration.
* :mod:`.wire` / :mod:`.service`: the gRPC messages and the PersistentSubscriptions service.
"""

from esdb_wire.server.persistent.service import PersistentSubscriptionsService

__all__ = ["PersistentSubscriptionsService"]
