"""``esdb-wire-server --cluster N``: an embedded cluster in the foreground, with its fault
controls read from standard input, one command a line::

    status                 every node: name, address, state, health (and the epoch)
    kill N | stop N        end node N at once | gracefully (its port refuses)
    restart N              bring it back (it rejoins as a follower)
    partition N | heal N   cut it off (it stops answering) | reconnect it
    resign [N]             the leader (or node N, if it leads) steps down
    help

``N`` is a node's number (1, 2, ...) or its port. Each command answers one ``ok: ...`` or
``error: ...`` line, followed by the status lines after a change. Ctrl-C or SIGTERM stops
every node.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Awaitable, Callable

from esdb_wire.server.auth import DEFAULT_PASSWORD
from esdb_wire.server.cluster.embedded import ClusterNode, EmbeddedCluster
from esdb_wire.server.embedded import EmbeddedServer

COMMANDS = ("status", "kill", "stop", "restart", "partition", "heal", "resign", "help")
HELP = (
    "commands: status | kill N | stop N | restart N | partition N | heal N | resign [N] | help"
    " (N: node number or port)"
)


def cluster_from_args(args: argparse.Namespace, server: EmbeddedServer) -> EmbeddedCluster:
    """The cluster the parsed command line asks for: ``server`` is the single node
    :func:`~esdb_wire.server.__main__.server_from_args` made of the same options (checked,
    with ``--dev``'s certificates and projections resolved); every node is configured
    like it."""
    secure = server.secure
    return EmbeddedCluster(
        args.cluster,
        host=server.host,
        port=server.port,
        advertise_host=args.advertise_host,
        read_only_replicas=args.read_only_replicas,
        max_append_size=server.max_append_size,
        run_projections=server.run_projections,
        start_standard_projections=server.start_standard_projections,
        certificate=server.certificate,
        private_key=server.private_key,
        ca=server.ca,
        users=dict(args.user) if secure else None,
        admin_password=args.default_admin_password,
        ops_password=args.default_ops_password,
        allow_anonymous_stream_access=args.allow_anonymous_stream_access,
        limits=server.limits,
        db=server.db,
        db_sync=server.db_sync,
        http2_engine=server.http2_engine,
    )


def status_lines(cluster: EmbeddedCluster) -> list[str]:
    """One line per node, e.g. ``node1 127.0.0.1:2110 leader running epoch 0``."""
    return [
        f"{view.name} {view.host}:{view.port} {view.state.name.lower()} "
        f"{node.health.value} epoch {view.epoch_number}"
        for node, view in zip(cluster.nodes, cluster.gossip())
    ]


def find_node(cluster: EmbeddedCluster, text: str) -> ClusterNode:
    """The node numbered (1-based) or listening on ``text``; ValueError if none."""
    if not text.isdigit():
        raise ValueError(f"not a node number or port: {text!r}")
    number = int(text)
    if 1 <= number <= len(cluster.nodes):
        return cluster.nodes[number - 1]
    for node in cluster.nodes:
        if node.port == number:
            return node
    raise ValueError(f"no node {number} (nodes 1-{len(cluster.nodes)} or their ports)")


async def run_command(cluster: EmbeddedCluster, line: str) -> list[str]:
    """Carry out one control command; the lines to print."""
    words = line.split()
    if not words:
        return []
    verb, rest = words[0].lower(), words[1:]
    if verb not in COMMANDS:
        return [f"error: unknown command {verb!r}; {HELP}"]
    if verb == "help":
        return [f"ok: {HELP}"]
    if verb == "status":
        return ["ok: status", *status_lines(cluster)]
    try:
        if verb == "resign" and not rest:
            leader = cluster.leader
            if leader is None:
                raise ValueError("the cluster has no leader")
            node = leader
        elif len(rest) != 1:
            raise ValueError(f"{verb} takes one node number or port")
        else:
            node = find_node(cluster, rest[0])
        actions: dict[str, Callable[[int], Awaitable[None]]] = {
            "kill": cluster.kill_node_async,
            "stop": cluster.stop_node_async,
            "restart": cluster.restart_node_async,
            "partition": cluster.partition_node_async,
            "heal": cluster.heal_node_async,
            "resign": cluster.resign_node_async,
        }
        await actions[verb](node.index)
    except (ValueError, RuntimeError, OSError) as exc:
        return [f"error: {exc}"]
    leader = cluster.leader
    return [
        f"ok: {verb} {node.name}; leader {leader.name if leader else 'none'}",
        *status_lines(cluster),
    ]


def _read_commands(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Standard input, line by line, onto ``queue`` (None at its end); a daemon thread,
    so a blocked read never holds up the exit."""
    try:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
    except (OSError, ValueError):
        pass
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def serve_cluster(cluster: EmbeddedCluster, *, dev: bool = False) -> None:
    """Run ``cluster`` until SIGINT or SIGTERM, carrying out commands from stdin
    (``dev``: say how to connect, as ``--dev`` does)."""
    await cluster.start_async()
    mode = "secure" if cluster.secure else "insecure"
    print(f"esdb_wire embedded cluster ({mode}) listening on {cluster.esdb_uri}", flush=True)
    if dev:
        shown = "changeit" if cluster.admin_password == DEFAULT_PASSWORD else "<admin password>"
        print(f"dev mode: trust {cluster.ca}; projections: {cluster.run_projections}", flush=True)
        print(f"connect with: {cluster.connection_string('admin', shown)}", flush=True)
    for line in status_lines(cluster):
        print(line, flush=True)
    print(HELP, flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    threading.Thread(
        target=_read_commands, args=(loop, queue), name="esdb_wire-cluster-stdin", daemon=True
    ).start()
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            getting = asyncio.ensure_future(queue.get())
            await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                getting.cancel()
                break
            text = getting.result()
            if text is None:  # stdin closed: keep serving until signalled
                await stopping
                break
            for output in await run_command(cluster, text):  # one at a time, in order
                print(output, flush=True)
    finally:
        stopping.cancel()
        await cluster.stop_async()
    print("esdb_wire embedded cluster stopped", flush=True)
