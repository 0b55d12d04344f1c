"""ServerFeatures.GetSupportedMethods and Gossip.Read (spec §1, §6)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Union

from esdb_wire.protos import gossip_pb2, serverfeatures_pb2, shared_pb2
from esdb_wire.protos.uuids import uuid_message
from esdb_wire.server.records import system_clock
from esdb_wire.server.rpc import CallContext

SERVER_VERSION = "25.0.0"
DEFAULT_PORT = 2113

MethodPairs = Iterable[tuple[str, str]]
MethodsProvider = Union[MethodPairs, Callable[[], MethodPairs]]


def features_of(service_name: str, method_name: str) -> list[str]:
    """The feature strings the server attaches to a method (matched on the original names)."""
    if "PersistentSubscriptions" in service_name:
        return ["stream", "all"]
    if "Streams" in service_name and "Read" in method_name:
        return ["position", "events"]
    if "Streams" in service_name and "BatchAppend" in method_name:
        return ["deadline_duration"]
    if "Projections" in service_name and "Create" in method_name:
        return ["track_emitted_streams"]
    return []


def supported_methods(pairs: MethodPairs, version: str) -> serverfeatures_pb2.SupportedMethods:
    """Every method of a service whose (canonical) name contains "client" or
    "kurrentdb.protocol" (the v2 APIs), lower-cased."""
    result = serverfeatures_pb2.SupportedMethods(event_store_server_version=version)
    seen: set[tuple[str, str]] = set()
    for service_name, method_name in pairs:
        if "client" not in service_name and "kurrentdb.protocol" not in service_name:
            continue
        key = (method_name.lower(), service_name.lower())
        if key in seen:
            continue
        seen.add(key)
        result.methods.add(
            method_name=key[0],
            service_name=key[1],
            features=features_of(service_name, method_name),
        )
    return result


class ServerFeaturesService:
    """``event_store.client.server_features.ServerFeatures``.

    ``methods_provider`` lists the mounted (canonical service full name, method name) pairs, e.g.
    ``("event_store.client.streams.Streams", "BatchAppend")``, or is a callable giving them
    at call time (for services mounted after this one is built).
    """

    def __init__(self, methods_provider: MethodsProvider, *, version: str = SERVER_VERSION) -> None:
        self._methods = methods_provider
        self._version = version

    async def GetSupportedMethods(
        self, request: shared_pb2.Empty, context: CallContext
    ) -> serverfeatures_pb2.SupportedMethods:
        methods = self._methods
        pairs = methods() if callable(methods) else methods
        return supported_methods(pairs, self._version)


class GossipService:
    """``event_store.client.gossip.Gossip``: a single node that is the alive Leader."""

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        instance_id: uuid.UUID | None = None,
        clock: Callable[[], int] = system_clock,
    ) -> None:
        self.host = host
        self.port = port
        self.instance_id = instance_id or uuid.uuid4()
        self._clock = clock

    async def Read(self, request: shared_pb2.Empty, context: CallContext) -> gossip_pb2.ClusterInfo:
        member = gossip_pb2.MemberInfo(
            instance_id=uuid_message(self.instance_id),
            time_stamp=self._clock(),
            state=gossip_pb2.MemberInfo.Leader,
            is_alive=True,
            http_end_point=gossip_pb2.EndPoint(address=self.host, port=self.port),
        )
        return gossip_pb2.ClusterInfo(members=[member])
