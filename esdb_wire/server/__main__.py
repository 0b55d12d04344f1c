"""``python -m esdb_wire.server``: run the embedded EventStoreDB-compatible server.

Like a real node, it runs secure (TLS, users, ACLs) unless told ``--insecure``, and then it
needs a certificate; without either it exits with a usage error that names all three ways::

    esdb-wire-server --insecure
    esdb-wire-server --dev          # secure, development certificates made for it
    python -m esdb_wire.devcerts certs
    esdb-wire-server --certificate certs/node.crt --private-key certs/node.key --ca certs/ca.crt

``--db PATH`` keeps the log in a journal file (:mod:`esdb_wire.server.journal`) instead
of memory only.

``--cluster 3 --port 2110`` runs three nodes over one log instead (2110, 2111, 2112; see
:mod:`esdb_wire.server.cluster.cli` for the fault commands it reads from stdin).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from esdb_wire._version import __version__
from esdb_wire.server.auth import DEFAULT_PASSWORD, parse_user
from esdb_wire.server.devmode import DevModeUnavailable, default_directory, ensure_certificates
from esdb_wire.server.embedded import RUN_PROJECTIONS_CHOICES, EmbeddedServer
from esdb_wire.server.journal import DEFAULT_SYNC, SYNC_POLICIES, JournalError
from esdb_wire.server.limits import ServerLimits
from esdb_wire.server.store import DEFAULT_MAX_APPEND_SIZE

# The environment variables a node reads the default users' passwords from.
_PASSWORD_VARIABLES = {
    "admin": ("KURRENTDB_DEFAULT_ADMIN_PASSWORD", "EVENTSTORE_DEFAULT_ADMIN_PASSWORD"),
    "ops": ("KURRENTDB_DEFAULT_OPS_PASSWORD", "EVENTSTORE_DEFAULT_OPS_PASSWORD"),
}
NO_CERTIFICATE = """\
a certificate is required: like a real node, the server runs secure (TLS, users, ACLs)
unless told otherwise. Either, for plaintext development use without authentication:
  esdb-wire-server --insecure
or, secure with development certificates made for it (needs: pip install esdb-wire[certs]):
  esdb-wire-server --dev
or give it a certificate (--ca: the CA of client certificates). Development certificates:
  python -m esdb_wire.devcerts certs      (needs: pip install esdb-wire[certs])
  esdb-wire-server --certificate certs/node.crt --private-key certs/node.key --ca certs/ca.crt"""


def _default_password(user: str) -> str:
    for variable in _PASSWORD_VARIABLES[user]:
        value = os.environ.get(variable)
        if value:
            return value
    return DEFAULT_PASSWORD


def _switch(value: str) -> bool:
    """A node's boolean option value: true/false (also yes/no, 1/0, any case)."""
    key = value.strip().lower()
    if key in ("true", "yes", "1"):
        return True
    if key in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {value!r}")


def _user(value: str) -> tuple[str, tuple[str, list[str]]]:
    try:
        name, (password, groups) = parse_user(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name, (password, list(groups))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="An EventStoreDB-compatible gRPC server, in memory (data is lost on exit) "
        "unless given --db. Secure (TLS, authentication, ACLs) unless --insecure: give either "
        "--insecure, --dev (development certificates made for it) or --certificate and "
        "--private-key (python -m esdb_wire.devcerts DIR makes development certificates).",
    )
    parser.add_argument("--version", action="version", version=f"esdb_wire {__version__}")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=2113, help="port, 0: any free port (default %(default)s)"
    )
    parser.add_argument(
        "--advertise-host",
        "--advertise-host-to-client-as",
        metavar="HOST",
        help="the host gossip (and a follower's NotLeader) tells clients (default: --host)",
    )
    cluster = parser.add_argument_group("cluster")
    cluster.add_argument(
        "--cluster",
        type=int,
        default=0,
        metavar="N",
        help="run N nodes over one replicated log, on --port, --port+1, ...; fault "
        "commands (kill N, restart N, partition N, resign, status, help) from stdin",
    )
    cluster.add_argument(
        "--read-only-replicas",
        type=int,
        default=0,
        metavar="N",
        help="with --cluster: N read-only replicas more, on the ports after the nodes",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="plaintext HTTP/2, no authentication: credentials are ignored",
    )
    parser.add_argument(
        "--dev",
        action="store_true",
        help="development mode, as KurrentDB's --dev: secure with development certificates "
        "(made once, kept in --dev-cert-dir), projections on (--run-projections all unless "
        "given), and it prints the connection string; needs pip install esdb-wire[certs]",
    )
    parser.add_argument(
        "--dev-cert-dir",
        metavar="DIR",
        help=f"where --dev keeps its certificates (default {default_directory()})",
    )
    storage = parser.add_argument_group("storage")
    storage.add_argument(
        "--db",
        metavar="PATH",
        help="keep the log in this journal file (created if missing; restarts resume from it); "
        "default: in memory only",
    )
    storage.add_argument(
        "--db-sync",
        choices=SYNC_POLICIES,
        default=DEFAULT_SYNC,
        help="when --db syncs to disk: always (before each write is acknowledged), batch (in "
        "the background, at most every 0.1 s) or never (at shutdown). Every policy survives a "
        "killed process; a power loss can lose the last 0.1 s (batch) or more (never). "
        "(default %(default)s)",
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
    parser.add_argument(
        "--max-append-size",
        type=int,
        default=DEFAULT_MAX_APPEND_SIZE,
        metavar="BYTES",
        help="largest append a client may make (default %(default)s)",
    )
    parser.add_argument(
        "--run-projections",
        type=str.lower,
        choices=RUN_PROJECTIONS_CHOICES,
        default=None,
        help="all: the projections subsystem, with the standard projections started "
        "($streams, $ce-, $et-, $category-, $bc- links) and custom JavaScript ones (the "
        "projections extra); system: the subsystem, standard projections registered but "
        "stopped; none: no projections (default none; all with --dev)",
    )
    parser.add_argument(
        "--start-standard-projections",
        type=_switch,
        nargs="?",
        const=True,
        default=None,
        metavar="true|false",
        help="whether the standard projections start with --run-projections all (default "
        "true here; a KurrentDB node's default is false, so give false to run all "
        "projections as a node with only --run-projections=All does)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="log warnings only (default: log each connection)"
    )
    _add_limit_arguments(parser)
    return parser


def _prog() -> str:
    """The name the server was started by, for usage lines."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return (
        "esdb-wire-server" if name.startswith("esdb-wire-server") else "python -m esdb_wire.server"
    )


def _timeout(value: str) -> float | None:
    """Seconds, or 0 / "none" for no timeout."""
    if value.lower() in ("0", "none", "off"):
        return None
    seconds = float(value)
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be positive (0 or none: no timeout)")
    return seconds


def _add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ServerLimits()
    limits = parser.add_argument_group(
        "limits", "what one client may cost the server (see the README's Limits section)"
    )
    limits.add_argument(
        "--max-concurrent-streams",
        type=int,
        default=defaults.max_concurrent_streams,
        metavar="N",
        help="concurrent calls per connection (SETTINGS_MAX_CONCURRENT_STREAMS); "
        "default %(default)s",
    )
    limits.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        metavar="N",
        help="open connections; at the limit the longest idle one is closed to make room "
        "(default %(default)s)",
    )
    limits.add_argument(
        "--idle-timeout",
        type=_timeout,
        default=defaults.idle_timeout,
        metavar="SECONDS",
        help="close a connection without calls after this long (0: never; default %(default)s)",
    )
    limits.add_argument(
        "--handshake-timeout",
        type=float,
        default=defaults.handshake_timeout,
        metavar="SECONDS",
        help="time a new connection has for its TLS handshake and HTTP/2 preface "
        "(default %(default)s)",
    )
    limits.add_argument(
        "--max-header-list-size",
        type=int,
        default=defaults.max_header_list_size,
        metavar="BYTES",
        help="largest request header list (default %(default)s)",
    )
    limits.add_argument(
        "--max-receive-message-size",
        type=int,
        default=defaults.max_receive_message_size,
        metavar="BYTES",
        help="largest request message (default %(default)s)",
    )
    limits.add_argument(
        "--connection-buffer-size",
        type=int,
        default=defaults.connection_buffer_size,
        metavar="BYTES",
        help="bytes of large unfinished request messages one connection may buffer "
        "(default %(default)s)",
    )
    limits.add_argument(
        "--stream-window-size",
        type=int,
        default=defaults.initial_window_size,
        metavar="BYTES",
        help="initial flow-control window of a request stream (default %(default)s)",
    )
    limits.add_argument(
        "--max-resets-per-second",
        type=float,
        default=defaults.reset_rate,
        metavar="N",
        help=f"stream resets allowed per second after a burst of {defaults.reset_burst} "
        "(rapid reset); beyond, GOAWAY ENHANCE_YOUR_CALM (default %(default)s)",
    )
    limits.add_argument(
        "--max-control-frames-per-second",
        type=float,
        default=defaults.control_rate,
        metavar="N",
        help=f"PING/SETTINGS frames allowed per second after a burst of "
        f"{defaults.control_burst}; beyond, GOAWAY ENHANCE_YOUR_CALM (default %(default)s)",
    )


def limits_from_args(args: argparse.Namespace) -> ServerLimits:
    """The :class:`ServerLimits` of the parsed command line."""
    try:
        return ServerLimits(
            max_concurrent_streams=args.max_concurrent_streams,
            max_connections=args.max_connections,
            idle_timeout=args.idle_timeout,
            handshake_timeout=args.handshake_timeout,
            max_header_list_size=args.max_header_list_size,
            max_receive_message_size=args.max_receive_message_size,
            connection_buffer_size=args.connection_buffer_size,
            initial_window_size=args.stream_window_size,
            reset_rate=args.max_resets_per_second,
            control_rate=args.max_control_frames_per_second,
        )
    except ValueError as exc:
        raise SystemExit(f"{_prog()}: error: {exc}") from None


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
    run_projections = args.run_projections or ("all" if args.dev else "none")
    limits = limits_from_args(args)
    if args.dev_cert_dir is not None and not args.dev:
        parser.error("--dev-cert-dir is an option of --dev")
    if args.insecure:
        if certificate_options or args.dev:
            others = certificate_options + (["--dev"] if args.dev else [])
            parser.error(f"--insecure cannot be combined with {', '.join(others)}")
        return EmbeddedServer(
            args.host,
            args.port,
            max_append_size=args.max_append_size,
            run_projections=run_projections,
            start_standard_projections=args.start_standard_projections,
            limits=limits,
            db=args.db,
            db_sync=args.db_sync,
            advertise_host=args.advertise_host,
        )
    if args.dev:
        if certificate_options:
            parser.error(f"--dev makes its own certificate: drop {', '.join(certificate_options)}")
        try:
            files = ensure_certificates(args.dev_cert_dir or default_directory(), args.host)
        except DevModeUnavailable as exc:
            parser.exit(2, f"{parser.prog}: error: {exc}\n")
        args.certificate = files.node_certificate
        args.private_key = files.node_key
        args.ca = files.ca_certificate
    if args.certificate is None:
        # Not parser.error: the ways out matter more than the usage line.
        parser.exit(2, f"{parser.prog}: error: {NO_CERTIFICATE}\n")
    if args.private_key is None:
        parser.error("--certificate needs --private-key")
    for path in (args.certificate, args.private_key, args.ca):
        if path is not None and not os.path.exists(path):
            parser.error(f"no such file: {path}")
    return EmbeddedServer(
        args.host,
        args.port,
        certificate=args.certificate,
        private_key=args.private_key,
        ca=args.ca,
        users=dict(args.user),
        admin_password=args.default_admin_password,
        ops_password=args.default_ops_password,
        allow_anonymous_stream_access=args.allow_anonymous_stream_access,
        max_append_size=args.max_append_size,
        run_projections=run_projections,
        start_standard_projections=args.start_standard_projections,
        limits=limits,
        db=args.db,
        db_sync=args.db_sync,
        advertise_host=args.advertise_host,
    )


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
    )
    server = server_from_args(args, parser)  # checks the options a cluster shares too
    if args.cluster < 0 or args.read_only_replicas < 0:
        parser.error("--cluster and --read-only-replicas take a positive number")
    if args.read_only_replicas and not args.cluster:
        parser.error("--read-only-replicas needs --cluster")
    try:
        if args.cluster:
            from esdb_wire.server.cluster.cli import cluster_from_args, serve_cluster  # noqa: PLC0415

            asyncio.run(serve_cluster(cluster_from_args(args, server), dev=args.dev))
        else:
            asyncio.run(_serve(server, dev=args.dev))
    except JournalError as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")


def connect_hint(server: EmbeddedServer) -> str:
    """What ``--dev`` prints under the listening line: how a client connects (with the
    admin password only when it is the well-known default)."""
    password = server.admin_password
    shown = password if password == DEFAULT_PASSWORD else "<admin password>"
    return (
        f"dev mode: trust {server.ca}; projections: {server.run_projections}\n"
        f"connect with: {server.connection_string('admin', shown)}"
    )


async def _serve(server: EmbeddedServer, *, dev: bool = False) -> None:
    await server.start_async()
    mode = "secure" if server.secure else "insecure"
    print(f"esdb_wire embedded server ({mode}) listening on {server.esdb_uri}", flush=True)
    if dev:
        print(connect_hint(server), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # A signal, or Operations.Shutdown (which stops the server itself).
    signalled = asyncio.ensure_future(stop.wait())
    shut_down = asyncio.ensure_future(server.wait_shut_down())
    await asyncio.wait({signalled, shut_down}, return_when=asyncio.FIRST_COMPLETED)
    signalled.cancel()
    shut_down.cancel()
    await server.stop_async()
    print("esdb_wire embedded server stopped", flush=True)


if __name__ == "__main__":
    main()
