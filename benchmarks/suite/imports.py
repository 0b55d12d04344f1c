"""Scenario 7: importing a client and making it ready, in fresh processes (time and RSS);
the installed size of each client's dependency closure, measured in throwaway venvs
(needs PyPI) and cached in the results.

Like with like: esdbclient's ``EventStoreDBClient`` constructor connects and, for a
``esdb+discover://`` URI, reads gossip to choose its node (its asyncio client does that in
``connect()``). So each probe imports the client, constructs it on the embedded server's
``esdb+discover://`` URI and, for esdb_wire (whose constructor only parses the URI) and
esdbclient's asyncio client, calls ``connect()``: every client has then read gossip over a
connection and chosen its node. "Import" times the import statement alone, "ready" the
import, the construction and that discovery (wall time; "ready CPU" is the process's CPU
time over the same span, every thread's, which load on the machine disturbs less). The
HTTP/2 engine loads at the first connection, so each esdb_wire driver (engine) is probed
on its own; :func:`engine_imports` adds what importing each engine's module costs.

Every probe runs with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed from its
environment): installed packages load from bytecode, and esdb_wire's measured sources
must too, so a discarded warm-up probe per driver writes it first (into the snapshot's
``__pycache__``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from benchmarks.common import HOST, PROJECT_ROOT, PYTHON
from benchmarks.suite.config import (
    ASYNC_DRIVERS,
    ENGINES,
    H2,
    NATIVE,
    WIRE_DRIVERS,
)
from benchmarks.suite.measure import kib_to_mb

# The import statement of each library's client, per concurrency model.
_IMPORTS = {
    ("esdb_wire", False): "from esdb_wire import EsdbClient, NewEvent",
    ("esdbclient", False): "from esdbclient import EventStoreDBClient, NewEvent",
    ("esdb_wire", True): "import asyncio\nfrom esdb_wire import AsyncEsdbClient, NewEvent",
    ("esdbclient", True): (
        "import asyncio\nfrom esdbclient import AsyncEventStoreDBClient, NewEvent"
    ),
}
# Construct the client and make it ready (connected, its node chosen by gossip), then
# take the figures (``_ready()``) and close it.
_READY = {
    ("esdb_wire", False): (
        "client = EsdbClient({uri!r}, http2_engine={engine!r})\n"
        "client.connect()\n"
        "_ready()\n"
        "client.close()"
    ),
    ("esdbclient", False): "client = EventStoreDBClient({uri!r})\n_ready()\nclient.close()",
    ("esdb_wire", True): (
        "async def _main():\n"
        "    client = AsyncEsdbClient({uri!r}, http2_engine={engine!r})\n"
        "    await client.connect()\n"
        "    _ready()\n"
        "    await client.close()\n"
        "asyncio.run(_main())"
    ),
    ("esdbclient", True): (
        "async def _main():\n"
        "    client = AsyncEventStoreDBClient({uri!r})\n"
        "    await client.connect()\n"
        "    _ready()\n"
        "    await client.close()\n"
        "asyncio.run(_main())"
    ),
}
# Only the import (engine_imports' baseline): esdb_wire's blocking client.
CLIENT_IMPORT = _IMPORTS[("esdb_wire", False)]
PEER_REQUIREMENT = "esdbclient==1.1.7"
# What esdb_wire.transport.http2.engine.create_engine imports for each engine.
ENGINE_MODULES = {
    H2: "esdb_wire.transport.http2.h2_engine",
    NATIVE: "esdb_wire.transport.http2.client",
}

# Runs in a fresh interpreter: only `time` is imported before the measured statements.
_PROBE = """\
import time
def _kb(key):
    with open('/proc/self/status') as handle:
        for line in handle:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return 0
_figures = []
def _ready():
    _figures.extend((
        time.perf_counter() - _started,
        time.process_time() - _cpu_started,
        _kb('VmRSS'),
        _kb('VmHWM'),
    ))
_before = _kb('VmRSS')
_cpu_started = time.process_time()
_started = time.perf_counter()
{imports}
_imported = time.perf_counter() - _started
_imported_kb = _kb('VmRSS')
{ready}
print(_before, _imported_kb, _imported, *_figures)
"""


def probe_code(driver: str, port: int) -> str:
    """The probe of ``driver``: import its client, make it ready on ``port``."""
    key = ("esdb_wire" if driver in WIRE_DRIVERS else "esdbclient", driver in ASYNC_DRIVERS)
    uri = f"esdb+discover://{HOST}:{port}?Tls=false"
    ready = _READY[key].format(uri=uri, engine=ENGINES.get(driver))
    return _PROBE.format(imports=_IMPORTS[key], ready=ready)


def probe_env() -> dict[str, str]:
    """This environment with bytecode caching on (see the module's docstring)."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def probe(driver: str, root: Path, port: int, timeout: float = 120.0) -> dict[str, float]:
    """One fresh ``python -c`` that imports the driver's client and makes it ready."""
    done = _run(probe_code(driver, port), root, timeout)
    before, imported_kb, imported_s, ready_s, ready_cpu_s, ready_kb, peak = done.split()
    return {
        "import_ms": float(imported_s) * 1000,
        "import_rss_mb": kib_to_mb(int(imported_kb) - int(before)),
        "ready_ms": float(ready_s) * 1000,
        "ready_cpu_ms": float(ready_cpu_s) * 1000,
        "ready_rss_mb": kib_to_mb(int(ready_kb) - int(before)),
        "rss_mb": kib_to_mb(int(ready_kb)),
        "rss_before_kb": int(before),
        "hwm_kb": int(peak),
    }


def _run(code: str, root: Path, timeout: float) -> str:
    done = subprocess.run(
        [PYTHON, "-c", code],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=probe_env(),
    )
    return done.stdout


def import_runs(
    drivers: list[str],
    repeats: int,
    root: Path,
    port: int,
    progress: Callable[[str], None],
) -> list[dict[str, Any]]:
    """A discarded warm-up per driver (bytecode, page cache), then alternating repeats,
    against the embedded server on ``port``."""
    for driver in drivers:
        probe(driver, root, port)
    runs: list[dict[str, Any]] = []
    for repeat in range(repeats):
        for driver in drivers:
            try:
                figures: dict[str, Any] = probe(driver, root, port)
            except (subprocess.SubprocessError, ValueError) as exc:
                figures = {"error": str(exc)}
            runs.append({"scenario": "import", "client": driver, "repeat": repeat, **figures})
        progress(f"import: repeat {repeat + 1}/{repeats} done")
    shown = ("ready_ms", "ready_rss_mb", "import_ms", "import_rss_mb", "ready_cpu_ms", "rss_mb")
    for run in runs:
        if "error" not in run:
            run["figures"] = {key: run[key] for key in shown}
    return runs


def engine_imports(root: Path, repeats: int) -> dict[str, Any]:
    """Per engine: what importing its module adds after ``import esdb_wire``'s client
    (median ms and RSS growth over ``repeats`` fresh processes, and the packages)."""
    found: dict[str, Any] = {}
    samples: dict[str, list[tuple[float, float]]] = {engine: [] for engine in ENGINE_MODULES}
    for repeat in range(repeats + 1):  # the first round is a discarded warm-up
        for engine, module in ENGINE_MODULES.items():
            code = _ENGINE_PROBE.format(client=CLIENT_IMPORT, module=module)
            try:
                before, after, seconds = _run(code, root, 120.0).split()
            except (subprocess.SubprocessError, ValueError) as exc:
                return {"error": str(exc)}
            if repeat:
                samples[engine].append((float(seconds) * 1000, kib_to_mb(int(after) - int(before))))
    for engine, module in ENGINE_MODULES.items():
        words = _run(_PACKAGES_PROBE.format(client=CLIENT_IMPORT, module=module), root, 120.0)
        names = words.split()
        found[engine] = {
            "module": module,
            "packages": [word for word in names if not word.startswith("+")],
            "stdlib_packages": int(names[-1][1:].partition("-")[0]) if names else None,
            "import_ms": statistics.median(ms for ms, _ in samples[engine]),
            "import_rss_mb": statistics.median(mb for _, mb in samples[engine]),
        }
    return found


# After the client's import, the engine module alone (what its first connection adds).
_ENGINE_PROBE = """\
import time
def _kb(key):
    with open('/proc/self/status') as handle:
        for line in handle:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return 0
{client}
_before = _kb('VmRSS')
_started = time.perf_counter()
import {module}
_seconds = time.perf_counter() - _started
print(_before, _kb('VmRSS'), _seconds)
"""
# The top-level packages the engine module brings in, beyond those already loaded:
# third-party ones by name, the standard library's as a count (Python >= 3.10 tells).
_PACKAGES_PROBE = """\
import sys
{client}
_loaded = {{name.partition('.')[0] for name in sys.modules}}
import {module}
_new = {{name.partition('.')[0] for name in sys.modules}} - _loaded
_stdlib = getattr(sys, 'stdlib_module_names', frozenset())
print(*sorted(_new - _stdlib), '+%d-stdlib' % len(_new & _stdlib))
"""


# -- installed size ----------------------------------------------------------------------


def cache_key() -> dict[str, str]:
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_bytes()
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "pyproject_sha256": hashlib.sha256(pyproject).hexdigest()[:16],
        "esdbclient": PEER_REQUIREMENT,
    }


def cached_sizes(results: Path) -> dict[str, Any] | None:
    """The newest earlier measurement with the same cache key, if any."""
    key = cache_key()
    for path in sorted(results.glob("bench-*.json"), reverse=True):
        try:
            sizes = json.loads(path.read_text(encoding="utf-8")).get("installed_sizes")
        except (OSError, ValueError):
            continue
        if isinstance(sizes, dict) and sizes.get("key") == key and "error" not in sizes:
            return {**sizes, "cached_from": path.name}
    return None


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages")) or sorted(venv.glob("Lib/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages under {venv}")
    return found[0]


def _tree_size(path: Path) -> int:
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                continue
    return total


def _venv(path: Path, requirement: str | None, timeout: float) -> dict[str, Any]:
    subprocess.run([PYTHON, "-m", "venv", str(path)], check=True, timeout=timeout)
    python = str(path / "bin" / "python")
    if requirement is not None:
        done = subprocess.run(
            [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", requirement],
            check=False,
            timeout=timeout,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"pip install {requirement} failed: {tail}")
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        check=True,
        timeout=timeout,
        capture_output=True,
        text=True,
    )
    packages = {item["name"]: item["version"] for item in json.loads(listed.stdout)}
    return {"bytes": _tree_size(_site_packages(path)), "packages": packages}


def _wire_source(root: Path, destination: Path) -> Path:
    """A buildable copy of esdb_wire (the measured sources), so pip leaves the work tree
    untouched (building in place would write build/ and *.egg-info there)."""
    destination.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (PROJECT_ROOT / name).exists():
            shutil.copy2(PROJECT_ROOT / name, destination / name)
    shutil.copytree(
        root / "esdb_wire",
        destination / "esdb_wire",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return destination


def measure_sizes(root: Path, timeout: float = 900.0) -> dict[str, Any]:
    """Site-packages bytes of a venv with each client, minus a bare venv's."""
    with tempfile.TemporaryDirectory(prefix="esdb-wire-sizes-") as tmp:
        base = Path(tmp)
        bare = _venv(base / "bare", None, timeout)
        source = _wire_source(root, base / "src")
        wire = _venv(base / "wire", str(source), timeout)
        peer = _venv(base / "peer", PEER_REQUIREMENT, timeout)
    closure: dict[str, Any] = {}
    for library, measured in (("esdb_wire", wire), ("esdbclient", peer)):
        added = {
            name: version
            for name, version in measured["packages"].items()
            if name not in bare["packages"]
        }
        closure[library] = {
            "bytes": measured["bytes"] - bare["bytes"],
            "mb": (measured["bytes"] - bare["bytes"]) / 1e6,
            "packages": added,
        }
    return {"key": cache_key(), "bare_venv_bytes": bare["bytes"], "closure": closure}


def installed_sizes(mode: str, root: Path, results: Path) -> dict[str, Any] | None:
    """``mode``: "skip", "measure", or "auto" (reuse a cached figure when the key matches)."""
    if mode == "skip":
        return None
    if mode == "auto":
        cached = cached_sizes(results)
        if cached is not None:
            return cached
    try:
        return measure_sizes(root)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"installed size: FAILED {exc}", file=sys.stderr, flush=True)
        return {"key": cache_key(), "error": str(exc)}


def size_runs(sizes: dict[str, Any] | None, drivers: list[str]) -> list[dict[str, Any]]:
    """The installed size as one run per driver (a library's drivers share its size)."""
    if not sizes or "closure" not in sizes:
        return []
    runs = []
    for driver in drivers:
        library = "esdb_wire" if driver in WIRE_DRIVERS else "esdbclient"
        megabytes = sizes["closure"][library]["mb"]
        runs.append(
            {
                "scenario": "import",
                "client": driver,
                "repeat": 0,
                "figures": {"installed_mb": megabytes},
            }
        )
    return runs
