"""Where a client connects: the esdbclient 0.5 ``host:port`` form."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PORT = 2113


@dataclass(frozen=True)
class Target:
    host: str
    port: int


def parse_target(uri: str) -> Target:
    """``"host:port"`` (or ``"host"``, port 2113), plaintext, as esdbclient 0.5 takes it."""
    if "://" in uri:
        scheme = uri.partition("://")[0]
        raise ValueError(
            f"connection strings ({scheme}://...) are not supported yet: use host:port"
        )
    host, sep, port_text = uri.rpartition(":")
    if not sep:
        return Target(uri, DEFAULT_PORT)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port in {uri!r}")
    if not host:
        raise ValueError(f"missing host in {uri!r}")
    return Target(host, int(port_text))
