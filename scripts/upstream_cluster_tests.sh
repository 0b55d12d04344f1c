#!/usr/bin/env bash
# Run esdbclient 1.1.7's own cluster test classes against `esdb-wire-server --cluster 3`.
#
# esdbclient's PyPI distribution ships no tests, so this fetches them at run time from
# GitHub (the tag esdbclient-1.1.7 of pyeventsourcing/kurrentdbclient, where esdbclient's
# history continues; pyeventsourcing/esdbclient stops at 1.1.2) into a temporary folder:
# nothing of them is kept in this repository. Not part of CI, which cannot reach GitHub.
#
# It then makes development certificates where the tests look for the CA
# (<tests' parent>/certs/ca/ca.crt), starts a secure three-node cluster on 127.0.0.1:2110,
# 2111 and 2112 configured as esdbclient's docker-compose cluster is (all projections run,
# the standard ones not started: EVENTSTORE_RUN_PROJECTIONS=All and a node's default
# START_STANDARD_PROJECTIONS=false), runs the classes with unittest, and stops the cluster.
#
# Usage: scripts/upstream_cluster_tests.sh [CLASS...]
#   (default: TestESDBClusterNode1 TestESDBClusterNode2 TestESDBClusterNode3
#    TestRequiresLeaderHeader; any class of esdbclient's tests/test_client.py)
# Environment:
#   PYTHON           a Python with esdb-wire and its dev extras (esdbclient 1.1.7, grpcio,
#                    cryptography, mini-racer); default .venv/bin/python (`make install`)
#   UPSTREAM_TESTS   an esdbclient/kurrentdbclient checkout at 1.1.7 to use instead of
#                    downloading (its tests/ folder is copied)
#   UPSTREAM_ARCHIVE the tarball to download (default: the esdbclient-1.1.7 tag's)
#   KEEP_TMP=1       keep the temporary folder (tests, certificates, the cluster's log)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$here/.venv/bin/python}"
UPSTREAM_ARCHIVE="${UPSTREAM_ARCHIVE:-https://github.com/pyeventsourcing/kurrentdbclient/archive/refs/tags/esdbclient-1.1.7.tar.gz}"
PORTS=(2110 2111 2112)
if [ "$#" -gt 0 ]; then
    classes=("$@")
else
    classes=(TestESDBClusterNode1 TestESDBClusterNode2 TestESDBClusterNode3 TestRequiresLeaderHeader)
fi

export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" -c 'import esdbclient, grpc, cryptography' || {
    echo "error: $PYTHON needs esdbclient, grpcio and cryptography (make install)" >&2
    exit 2
}
version="$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("esdbclient"))')"
[ "$version" = "1.1.7" ] || echo "warning: esdbclient $version installed; the tests are 1.1.7's" >&2

for port in "${PORTS[@]}"; do
    if "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
        echo "error: 127.0.0.1:$port is in use; the upstream tests need 2110-2112" >&2
        exit 2
    fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/esdbclient-upstream.XXXXXX")"
cluster_pid=""
cleanup() {
    if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
        kill "$cluster_pid"
        wait "$cluster_pid" 2>/dev/null || true
    fi
    if [ "${KEEP_TMP:-}" = 1 ]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# 1. esdbclient's tests/ (only that folder) into $work/tests.
if [ -n "${UPSTREAM_TESTS:-}" ]; then
    cp -r "$UPSTREAM_TESTS/tests" "$work/tests"
else
    echo "downloading $UPSTREAM_ARCHIVE"
    "$PYTHON" - "$UPSTREAM_ARCHIVE" "$work" <<'EOF'
import io
import os
import sys
import tarfile
import urllib.request

url, destination = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url, timeout=60) as response:
    data = response.read()
with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
    for member in archive.getmembers():
        parts = member.name.split("/")
        # <top>/tests/<file>: regular files only, no links or paths out of the folder.
        if len(parts) != 3 or parts[1] != "tests" or not member.isfile() or ".." in parts:
            continue
        source = archive.extractfile(member)
        assert source is not None
        os.makedirs(os.path.join(destination, "tests"), exist_ok=True)
        with open(os.path.join(destination, "tests", parts[2]), "wb") as target:
            target.write(source.read())
EOF
fi
[ -f "$work/tests/test_client.py" ] || { echo "error: no tests/test_client.py fetched" >&2; exit 2; }

# 2. Certificates where get_ca_certificate() reads them: <tests' parent>/certs/ca/ca.crt.
certs="$work/certs/ca"
"$PYTHON" -m esdb_wire.devcerts "$certs" >/dev/null

# 3. The cluster, as esdbclient's docker-compose.yml and shared.env make theirs.
log="$work/cluster.log"
"$PYTHON" -m esdb_wire.server --cluster 3 --host 127.0.0.1 --port "${PORTS[0]}" \
    --certificate "$certs/node.crt" --private-key "$certs/node.key" --ca "$certs/ca.crt" \
    --run-projections all --start-standard-projections false --quiet \
    </dev/null >"$log" 2>&1 &
cluster_pid=$!
for _ in $(seq 1 300); do
    grep -q "listening on" "$log" && break
    kill -0 "$cluster_pid" 2>/dev/null || { cat "$log" >&2; echo "error: the cluster did not start" >&2; exit 2; }
    sleep 0.1
done
grep -q "listening on" "$log" || { cat "$log" >&2; echo "error: the cluster did not start in 30 s" >&2; exit 2; }
cat "$log"

# 4. The classes, with unittest as esdbclient's own Makefile runs them; then the counts
#    per class.
cd "$work"
"$PYTHON" - "${classes[@]}" <<'EOF'
import collections
import sys
import unittest

names = [f"tests.test_client.{name}" for name in sys.argv[1:]]
suite = unittest.defaultTestLoader.loadTestsFromNames(names)
counts: dict = collections.defaultdict(collections.Counter)
for group in suite:  # before running: a suite lets go of the tests it ran
    for case in group:
        counts[type(case).__name__]["ran"] += 1
result = unittest.TextTestRunner(verbosity=2).run(suite)
outcomes = (("failed", result.failures), ("errors", result.errors), ("skipped", result.skipped))
for outcome, pairs in outcomes:
    for case, _ in pairs:
        counts[type(case).__name__][outcome] += 1
for name, count in counts.items():
    passed = count["ran"] - count["failed"] - count["errors"] - count["skipped"]
    print(f"{name}: {passed} passed, {count['failed']} failed, {count['errors']} errors, "
          f"{count['skipped']} skipped")
sys.exit(0 if result.wasSuccessful() else 1)
EOF
