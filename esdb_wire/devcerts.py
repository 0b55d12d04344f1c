"""Development certificates: a private CA and node/user certificates signed by it.

For tests and local secure-mode servers only. Needs the ``cryptography`` package
(``pip install esdb-wire[certs]``). Command line: ``python -m esdb_wire.devcerts DIR``
(``--help`` for the options).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CertificateFiles:
    """PEM files written by :func:`generate`."""

    ca_certificate: Path
    ca_key: Path
    node_certificate: Path
    node_key: Path
    user_certificate: Path
    user_key: Path


def _crypto() -> Any:
    try:
        import cryptography  # noqa: F401, PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("esdb_wire.devcerts needs: pip install cryptography") from exc
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: PLC0415

    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


def generate(
    directory: str | Path,
    *,
    hostnames: tuple[str, ...] = ("localhost",),
    addresses: tuple[str, ...] = ("127.0.0.1", "::1"),
    user: str = "admin",
    valid_days: int = 365,
    expired: bool = False,
) -> CertificateFiles:
    """Write ``ca.crt/key``, ``node.crt/key`` (for ``hostnames``/``addresses``) and
    ``user.crt/key`` (a client certificate whose CN is ``user``) into ``directory``.

    ``expired=True`` makes the node certificate one that expired yesterday (for tests).
    """
    x509, hashes, serialization, ec, eku, name_oid = _crypto()
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def write_key(key: Any, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)

    def name(common_name: str) -> Any:
        return x509.Name([x509.NameAttribute(name_oid.COMMON_NAME, common_name)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("esdb_wire development CA"))
        .issuer_name(name("esdb_wire development CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    def issue(
        common_name: str, usages: list[Any], san: list[Any] | None, days: tuple[int, int]
    ) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=days[0]))
            .not_valid_after(now + datetime.timedelta(days=days[1]))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    san = [x509.DNSName(host) for host in hostnames]
    san += [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
    node_days = (-3, -1) if expired else (-1, valid_days)
    node_key, node_cert = issue(
        hostnames[0] if hostnames else "node", [eku.SERVER_AUTH, eku.CLIENT_AUTH], san, node_days
    )
    user_key, user_cert = issue(user, [eku.CLIENT_AUTH], None, (-1, valid_days))

    files = CertificateFiles(
        ca_certificate=folder / "ca.crt",
        ca_key=folder / "ca.key",
        node_certificate=folder / "node.crt",
        node_key=folder / "node.key",
        user_certificate=folder / "user.crt",
        user_key=folder / "user.key",
    )
    pem = serialization.Encoding.PEM
    files.ca_certificate.write_bytes(ca_cert.public_bytes(pem))
    files.node_certificate.write_bytes(node_cert.public_bytes(pem))
    files.user_certificate.write_bytes(user_cert.public_bytes(pem))
    write_key(ca_key, files.ca_key)
    write_key(node_key, files.node_key)
    write_key(user_key, files.user_key)
    return files


_DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m esdb_wire.devcerts",
        description="Write development certificates (for tests and local secure servers "
        "only): a private CA (ca.crt, ca.key), a node certificate signed by it (node.crt, "
        "node.key) and a user client certificate (user.crt, user.key). Needs cryptography "
        "(pip install esdb-wire[certs]).",
    )
    parser.add_argument(
        "directory", metavar="DIR", help="folder to write into (created if missing)"
    )
    parser.add_argument(
        "--host",
        action="append",
        metavar="NAME",
        help="a DNS name or IP address the node certificate is valid for (repeatable; "
        f"default: {', '.join(_DEFAULT_NAMES)})",
    )
    parser.add_argument(
        "--user",
        default="admin",
        help="the user a client presenting user.crt authenticates as (default %(default)s)",
    )
    parser.add_argument(
        "--days", type=int, default=365, help="validity in days (default %(default)s)"
    )
    return parser


def _split_names(names: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """DNS names and IP addresses of ``names``."""
    hostnames: list[str] = []
    addresses: list[str] = []
    for name in names:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            hostnames.append(name)
        else:
            addresses.append(name)
    return tuple(hostnames), tuple(addresses)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.days <= 0:
        parser.error("--days must be positive")
    hostnames, addresses = _split_names(args.host or list(_DEFAULT_NAMES))
    try:
        files = generate(
            args.directory,
            hostnames=hostnames,
            addresses=addresses,
            user=args.user,
            valid_days=args.days,
        )
    except RuntimeError as exc:  # no cryptography
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    for field, path in vars(files).items():
        print(f"{field:18} {path}")
    print(
        "\nStart a secure embedded server with them:\n"
        f"  esdb-wire-server --certificate {files.node_certificate} "
        f"--private-key {files.node_key} --ca {files.ca_certificate}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
