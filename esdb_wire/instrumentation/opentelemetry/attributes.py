"""The names the official KurrentDB clients trace under (the .NET, Java and Node clients and
kurrentdbclient agree), and the attributes every span of a client carries: which database
system, which user, which node."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from esdb_wire import CallCredentials

# The tracer's (instrumentation scope's) name.
INSTRUMENTATION_NAME = "kurrentdb"

# Span names, which are also the spans' ``db.operation``.
STREAMS_APPEND = "streams.append"
STREAMS_MULTI_APPEND = "streams.multi-append"
STREAMS_SUBSCRIBE = "streams.subscribe"

# Attribute keys.
DB_SYSTEM = "db.system"
DB_OPERATION = "db.operation"
DB_USER = "db.user"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
DB_STREAM = "db.kurrentdb.stream"
DB_SUBSCRIPTION_ID = "db.kurrentdb.subscription.id"
DB_EVENT_ID = "db.kurrentdb.event.id"
DB_EVENT_TYPE = "db.kurrentdb.event.type"

# ``db.system``'s value.
DB_SYSTEM_NAME = "kurrentdb"

AttributeValue = Union[str, int]


def user_attributes(client: Any, credentials: CallCredentials | None) -> dict[str, AttributeValue]:
    """``db.system``, and ``db.user``: the user name of the call's ``credentials``, else of
    the client's connection string (none for bearer tokens; never a password or token)."""
    attributes: dict[str, AttributeValue] = {DB_SYSTEM: DB_SYSTEM_NAME}
    chosen = credentials if credentials is not None else client.settings.credentials
    username = getattr(chosen, "username", None)
    if username:
        attributes[DB_USER] = username
    return attributes


def server_attributes(client: Any) -> dict[str, AttributeValue]:
    """``server.address`` and ``server.port``: the node the client talks to, or, when it
    discovers a cluster from one seed (a DNS name, typically), that seed, so that the
    address stays the same whichever node is the leader (as the .NET client does)."""
    settings = client.settings
    if settings.discover and len(settings.targets) == 1:
        host, port = settings.targets[0]
    else:
        host, _, port_text = client.connection_target.rpartition(":")
        port = int(port_text)
    return {SERVER_ADDRESS: host.strip("[]"), SERVER_PORT: port}
