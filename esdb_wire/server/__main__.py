"""``python -m esdb_wire.server``: run the embedded EventStoreDB-compatible server.

Like a real node, it runs secure (TLS, users, ACLs) unless told ``--insecure``, and then it
needs a certificate::

    python -m esdb_wire.devcerts certs
    python -m esdb_wire.server --certificate certs/node.crt --private-key certs/node.key \\
        --ca certs/ca.crt
    python -m esdb_wire.server --insecure
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from esdb_wire.server.auth import DEFAULT_PASSWORD, parse_user
from esdb_wire.server.embedded import RUN_PROJECTIONS_CHOICES, EmbeddedServer
from esdb_wire.server.store import DEFAULT_MAX_APPEND_SIZE

# The environment variables a node reads the default users' passwords from.
_PASSWORD_VARIABLES = {
    "admin": ("KURRENTDB_DEFAULT_ADMIN_PASSWORD", "EVENTSTORE_DEFAULT_ADMIN_PASSWORD"),
    "ops": ("KURRENTDB_DEFAULT_OPS_PASSWORD", "EVENTSTORE_DEFAULT_OPS_PASSWORD"),
}
NO_CERTIFICATE = (
    "a certificate is required unless insecure mode is set: pass --insecure, or "
    "--certificate and --private-key (with --ca for the CA that signed client certificates)"
)


def _default_password(user: str) -> str:
    for variable in _PASSWORD_VARIABLES[user]:
        value = os.environ.get(variable)
        if value:
            return value
    return DEFAULT_PASSWORD


def _user(value: str) -> tuple[str, tuple[str, list[str]]]:
    try:
        name, (password, groups) = parse_user(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name, (password, list(groups))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m esdb_wire.server",
        description="An in-memory EventStoreDB-compatible gRPC server (data is lost on exit). "
        "Secure (TLS, authentication, ACLs) unless --insecure.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=2113, help="port (0: any free port)")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="plaintext HTTP/2, no authentication: credentials are ignored",
    )
    secure = parser.add_argument_group("secure mode")
    secure.add_argument(
        "--certificate",
        "--certificate-file",
        metavar="FILE",
        help="the node's PEM certificate (chain)",
    )
    secure.add_argument(
        "--private-key",
        "--certificate-private-key-file",
        metavar="FILE",
        help="the PEM private key of --certificate",
    )
    secure.add_argument(
        "--ca",
        "--trusted-root-certificates-path",
        metavar="PATH",
        help="PEM CA certificate (or a directory of them) trusted for client certificates; "
        "a client certificate whose CN is a user name authenticates as that user",
    )
    secure.add_argument(
        "--default-admin-password",
        "--admin-password",
        default=_default_password("admin"),
        metavar="PASSWORD",
        help="password of the admin user ($admins); default: $KURRENTDB_DEFAULT_ADMIN_PASSWORD, "
        f"$EVENTSTORE_DEFAULT_ADMIN_PASSWORD or {DEFAULT_PASSWORD}",
    )
    secure.add_argument(
        "--default-ops-password",
        "--ops-password",
        default=_default_password("ops"),
        metavar="PASSWORD",
        help="password of the ops user ($ops); default: $KURRENTDB_DEFAULT_OPS_PASSWORD, "
        f"$EVENTSTORE_DEFAULT_OPS_PASSWORD or {DEFAULT_PASSWORD}",
    )
    secure.add_argument(
        "--user",
        action="append",
        type=_user,
        default=[],
        metavar="NAME:PASSWORD[:GROUP,...]",
        help="another user (repeatable; may redefine admin or ops)",
    )
    secure.add_argument(
        "--allow-anonymous-stream-access",
        action="store_true",
        help="let callers without credentials use streams whose ACL allows $all",
    )
    parser.add_argument("--max-append-size", type=int, default=DEFAULT_MAX_APPEND_SIZE)
    parser.add_argument(
        "--run-projections",
        type=str.lower,
        choices=RUN_PROJECTIONS_CHOICES,
        default="none",
        help="all: run the standard projections ($streams, $ce-, $et-, $category- links); "
        "none (default) and system: none",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log connections")
    return parser


def server_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> EmbeddedServer:
    """The server the parsed command line asks for (exits with a usage error if wrong)."""
    certificate_options = [
        option
        for option, value in (
            ("--certificate", args.certificate),
            ("--private-key", args.private_key),
            ("--ca", args.ca),
        )
        if value is not None
    ]
    if args.insecure:
        if certificate_options:
            parser.error(f"--insecure cannot be combined with {', '.join(certificate_options)}")
        return EmbeddedServer(
            args.host,
            args.port,
            max_append_size=args.max_append_size,
            run_projections=args.run_projections,
        )
    if args.certificate is None:
        parser.error(NO_CERTIFICATE)
    if args.private_key is None:
        parser.error("--certificate needs --private-key")
    for path in (args.certificate, args.private_key, args.ca):
        if path is not None and not os.path.exists(path):
            parser.error(f"no such file: {path}")
    return EmbeddedServer(
        args.host,
        args.port,
        max_append_size=args.max_append_size,
        run_projections=args.run_projections,
        certificate=args.certificate,
        private_key=args.private_key,
        ca=args.ca,
        users=dict(args.user),
        admin_password=args.default_admin_password,
        ops_password=args.default_ops_password,
        allow_anonymous_stream_access=args.allow_anonymous_stream_access,
    )


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    server = server_from_args(args, parser)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
    )
    asyncio.run(_serve(server))


async def _serve(server: EmbeddedServer) -> None:
    await server.start_async()
    mode = "secure" if server.secure else "insecure"
    print(f"esdb_wire embedded server ({mode}) listening on {server.esdb_uri}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop_async()
    print("esdb_wire embedded server stopped", flush=True)


if __name__ == "__main__":
    main()
