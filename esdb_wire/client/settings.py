"""What a client connects to and how: built from a connection string (or the esdbclient 0.5
``host:port`` form) plus optional PEM material, shared by the blocking and asyncio clients."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, NamedTuple

from esdb_wire.client.credentials import CallCredentials, basic_credentials
from esdb_wire.transport.config import ConnectionConfig

if TYPE_CHECKING:
    import ssl

DEFAULT_PORT = 2113


class ClientSettings(NamedTuple):
    """Everything a client needs to open and use its connection."""

    targets: tuple[tuple[str, int], ...]
    discover: bool
    ssl_context: ssl.SSLContext | None
    credentials: CallCredentials | None
    connection_name: str
    node_preference: str
    default_deadline: float | None
    gossip_timeout: float
    max_discover_attempts: int
    discovery_interval: float
    config: ConnectionConfig

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None


def settings_from_uri(
    uri: str,
    *,
    root_certificates: str | bytes | None = None,
    private_key: str | bytes | None = None,
    certificate_chain: str | bytes | None = None,
    http2_engine: str | None = None,
) -> ClientSettings:
    """Settings for ``uri``: ``esdb://...`` / ``kurrentdb://...`` connection strings, or
    ``host:port`` (esdbclient 0.5: plaintext, one node). ``http2_engine`` picks the HTTP/2
    engine (``"h2"``, the default, or ``"native"``); anything else raises ``ValueError``."""
    if "://" not in uri:
        host, port = _host_port(uri)
        return ClientSettings(
            targets=((host, port),),
            discover=False,
            ssl_context=None,
            credentials=None,
            connection_name=str(uuid.uuid4()),
            node_preference="leader",
            default_deadline=None,
            gossip_timeout=5.0,
            max_discover_attempts=10,
            discovery_interval=0.1,
            config=ConnectionConfig(http2_engine=http2_engine),
        )
    from esdb_wire.connection_string import parse  # noqa: PLC0415

    spec = parse(uri)
    context = None
    if spec.tls:
        context = _ssl_context(
            verify=spec.tls_verify_cert,
            ca_file=spec.tls_ca_file,
            root_certificates=root_certificates,
            cert_file=spec.user_cert_file,
            key_file=spec.user_key_file,
            certificate_chain=certificate_chain,
            private_key=private_key,
        )
    credentials = None
    if spec.username is not None and spec.password is not None:
        credentials = basic_credentials(spec.username, spec.password)
    interval = spec.keep_alive_interval
    config = ConnectionConfig(
        keepalive_interval=interval,
        keepalive_timeout=spec.keep_alive_timeout or 10.0,
        http2_engine=http2_engine,
    )
    return ClientSettings(
        targets=tuple(spec.targets),
        discover=spec.discover or len(spec.targets) > 1,
        ssl_context=context,
        credentials=credentials,
        connection_name=spec.connection_name or str(uuid.uuid4()),
        node_preference=spec.node_preference,
        default_deadline=spec.default_deadline,
        gossip_timeout=spec.gossip_timeout,
        max_discover_attempts=spec.max_discover_attempts,
        discovery_interval=spec.discovery_interval,
        config=config,
    )


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep:
        return text, DEFAULT_PORT
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid address {text!r}: expected host:port")
    return host, int(port_text)


def _pem_text(value: str | bytes) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value


def _ssl_context(
    *,
    verify: bool,
    ca_file: str | None,
    root_certificates: str | bytes | None,
    cert_file: str | None,
    key_file: str | None,
    certificate_chain: str | bytes | None,
    private_key: str | bytes | None,
) -> ssl.SSLContext:
    from esdb_wire.transport.tls import client_context  # noqa: PLC0415 (ssl only for TLS)

    context = client_context(ca_file, verify=verify)
    if root_certificates is not None and verify:
        context.load_verify_locations(cadata=_pem_text(root_certificates))
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
    elif certificate_chain is not None and private_key is not None:
        _load_cert_chain_from_memory(context, certificate_chain, private_key)
    return context


def _load_cert_chain_from_memory(
    context: ssl.SSLContext, certificate_chain: str | bytes, private_key: str | bytes
) -> None:
    """``ssl`` loads certificates from files only: use private temporary ones."""
    import tempfile  # noqa: PLC0415 (only for certificates given in memory)

    with tempfile.TemporaryDirectory(prefix="esdb_wire-") as folder:
        cert_path = os.path.join(folder, "cert.pem")
        key_path = os.path.join(folder, "key.pem")
        for path, value in ((cert_path, certificate_chain), (key_path, private_key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(_pem_text(value))
        context.load_cert_chain(cert_path, key_path)
