"""``esdb-wire-server --dev``: a secure node for development, as KurrentDB's ``--dev``.

KurrentDB's ``--dev`` generates a development certificate (valid for a month, kept in
the user's certificate store or at ``--dev-cert-path``), runs secure with it and starts
the standard projections. Here the certificates come from :mod:`esdb_wire.devcerts`
(a private CA and a node certificate for localhost, 127.0.0.1 and ::1), kept in
:func:`default_directory` (or ``--dev-cert-path``) and made again when missing, about to
expire or not valid for the address the server listens on. The CA file is what clients
trust (``tlsCaFile``); nothing is added to any system trust store.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import sys
from pathlib import Path
from typing import Any, Final

from esdb_wire.devcerts import CertificateFiles, generate

log = logging.getLogger("esdb_wire.server.devmode")

VALID_DAYS: Final = 30
# Certificates closer than this to their end are made again.
RENEW_BEFORE: Final = datetime.timedelta(days=1)
_BASE_NAMES = ("localhost",)
_BASE_ADDRESSES = ("127.0.0.1", "::1")
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")
MISSING_EXTRA: Final = (
    "--dev needs the certs extra (the cryptography package) to make development "
    "certificates: pip install 'esdb-wire[certs]'"
)


class DevModeUnavailable(Exception):
    """``cryptography`` is not installed: no development certificates can be made."""


def default_directory() -> Path:
    """Where ``--dev`` keeps its certificates: ``esdb_wire/dev-certs`` in the user's
    cache folder (``$XDG_CACHE_HOME``, ``~/.cache``, or ``%LOCALAPPDATA%`` on Windows)."""
    if sys.platform == "win32":  # pragma: no cover - not run on the CI's Linux
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "esdb_wire" / "dev-certs"


def _files(directory: Path) -> CertificateFiles:
    return CertificateFiles(
        ca_certificate=directory / "ca.crt",
        ca_key=directory / "ca.key",
        node_certificate=directory / "node.crt",
        node_key=directory / "node.key",
        user_certificate=directory / "user.crt",
        user_key=directory / "user.key",
    )


def _names_for(host: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The DNS names and IP addresses a node listening on ``host`` is reached by."""
    names, addresses = _BASE_NAMES, _BASE_ADDRESSES
    if host in _WILDCARD_HOSTS:
        return names, addresses
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        return (names if host in names else (host, *names)), addresses
    return names, (addresses if address in addresses else (*addresses, address))


def _x509() -> Any:
    try:
        from cryptography import x509  # noqa: PLC0415
    except ImportError as exc:
        raise DevModeUnavailable(MISSING_EXTRA) from exc
    return x509


def _reusable(files: CertificateFiles, names: tuple[str, ...], addresses: tuple[str, ...]) -> bool:
    """Whether the certificates in place are complete, valid for a while yet, and name
    every host and address the node is reached by."""
    paths = (files.ca_certificate, files.node_certificate, files.node_key)
    if not all(path.is_file() for path in paths):
        return False
    x509 = _x509()
    try:
        certificate = x509.load_pem_x509_certificate(files.node_certificate.read_bytes())
        ca = x509.load_pem_x509_certificate(files.ca_certificate.read_bytes())
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    now = datetime.datetime.now(datetime.timezone.utc)
    for cert in (certificate, ca):
        if _not_after(cert) - now < RENEW_BEFORE:
            return False
    if certificate.issuer != ca.subject:
        return False
    dns = set(san.get_values_for_type(x509.DNSName))
    ips = {str(address) for address in san.get_values_for_type(x509.IPAddress)}
    return set(names) <= dns and {str(ipaddress.ip_address(a)) for a in addresses} <= ips


def _not_after(certificate: Any) -> datetime.datetime:
    value = getattr(certificate, "not_valid_after_utc", None)
    if value is None:  # cryptography < 42
        value = certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return value  # type: ignore[no-any-return]


def ensure_certificates(directory: str | os.PathLike[str], host: str) -> CertificateFiles:
    """The development CA and node certificate in ``directory`` for a node listening on
    ``host``: those already there if they are still good, else new ones (valid
    :data:`VALID_DAYS` days). Raises :class:`DevModeUnavailable` without ``cryptography``."""
    folder = Path(directory)
    names, addresses = _names_for(host)
    files = _files(folder)
    if _reusable(files, names, addresses):
        log.info("dev mode: using the certificates in %s", folder)
        return files
    try:
        made = generate(folder, hostnames=names, addresses=addresses, valid_days=VALID_DAYS)
    except RuntimeError as exc:  # devcerts' own "needs cryptography"
        raise DevModeUnavailable(MISSING_EXTRA) from exc
    log.info("dev mode: made development certificates in %s", folder)
    return made
