"""Scenario 7: import time and RSS in fresh processes; installed size of each client's
dependency closure, measured in throwaway venvs (needs PyPI) and cached in the results.

Importing esdb_wire does not depend on the HTTP/2 engine: a client imports its engine's
module on its first connection (the h2 engine imports ``h2``, ``hpack`` and
``hyperframe``; the native engine no third-party package). So a "-native" driver has
no import runs of its own when its default-engine twin runs them (:func:`import_drivers`),
and :func:`engine_imports` measures what that first connection adds, per engine.
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

from benchmarks.common import PROJECT_ROOT, PYTHON
from benchmarks.suite.config import (
    DEFAULT_TWIN,
    H2,
    NATIVE,
    PEER_AIO,
    PEER_SYNC,
    WIRE_AIO,
    WIRE_BLOCKING,
    WIRE_DRIVERS,
)
from benchmarks.suite.measure import kib_to_mb

STATEMENTS = {
    WIRE_BLOCKING: "from esdb_wire import EsdbClient, NewEvent",
    PEER_SYNC: "from esdbclient import EventStoreDBClient, NewEvent",
    WIRE_AIO: "from esdb_wire import AsyncEsdbClient, NewEvent",
    PEER_AIO: "from esdbclient import AsyncEventStoreDBClient, NewEvent",
}
PEER_REQUIREMENT = "esdbclient==1.1.7"
# What esdb_wire.transport.http2.engine.create_engine imports for each engine.
ENGINE_MODULES = {
    H2: "esdb_wire.transport.http2.h2_engine",
    NATIVE: "esdb_wire.transport.http2.client",
}

# Runs in a fresh interpreter: only `time` is imported before the measured statement.
_PROBE = """\
import time
def _kb(key):
    with open('/proc/self/status') as handle:
        for line in handle:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return 0
_before = _kb('VmRSS')
_started = time.perf_counter()
{statement}
_seconds = time.perf_counter() - _started
print(_before, _kb('VmRSS'), _kb('VmHWM'), _seconds)
"""


def import_drivers(drivers: list[str]) -> list[str]:
    """The drivers measured by scenario 7: a "-native" one only without its twin."""
    return [d for d in drivers if d not in DEFAULT_TWIN or DEFAULT_TWIN[d] not in drivers]


def probe(driver: str, root: Path, timeout: float = 120.0) -> dict[str, float]:
    """One fresh ``python -c`` that imports the driver's client; its time and RSS."""
    statement = STATEMENTS[DEFAULT_TWIN.get(driver, driver)]
    return _run_probe(_PROBE.format(statement=statement), root, timeout)


def _run_probe(code: str, root: Path, timeout: float) -> dict[str, float]:
    done = subprocess.run(
        [PYTHON, "-c", code],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    before, after, peak, seconds = done.stdout.split()
    return {
        "import_ms": float(seconds) * 1000,
        "rss_before_kb": int(before),
        "rss_after_kb": int(after),
        "hwm_kb": int(peak),
        "import_rss_mb": kib_to_mb(int(after) - int(before)),
        "rss_mb": kib_to_mb(int(after)),
    }


def import_runs(
    drivers: list[str],
    repeats: int,
    root: Path,
    progress: Callable[[str], None],
) -> list[dict[str, Any]]:
    """A discarded warm-up per driver (bytecode, page cache), then alternating repeats."""
    drivers = import_drivers(drivers)
    for driver in drivers:
        probe(driver, root)
    runs: list[dict[str, Any]] = []
    for repeat in range(repeats):
        for driver in drivers:
            try:
                figures: dict[str, Any] = probe(driver, root)
            except (subprocess.SubprocessError, ValueError) as exc:
                figures = {"error": str(exc)}
            runs.append({"scenario": "import", "client": driver, "repeat": repeat, **figures})
        progress(f"import: repeat {repeat + 1}/{repeats} done")
    for run in runs:
        if "error" not in run:
            run["figures"] = {key: run[key] for key in ("import_ms", "import_rss_mb", "rss_mb")}
    return runs


def engine_imports(root: Path, repeats: int) -> dict[str, Any]:
    """Per engine: what a client's first connection imports after ``import esdb_wire``
    (median ms and RSS growth over ``repeats`` fresh processes, and the packages)."""
    found: dict[str, Any] = {}
    samples: dict[str, list[dict[str, float]]] = {engine: [] for engine in ENGINE_MODULES}
    statement = STATEMENTS[WIRE_BLOCKING]
    for repeat in range(repeats + 1):  # the first round is a discarded warm-up
        for engine, module in ENGINE_MODULES.items():
            code = _ENGINE_PROBE.format(client=statement, module=module)
            try:
                figures = _run_probe(code, root, 120.0)
            except (subprocess.SubprocessError, ValueError) as exc:
                return {"error": str(exc)}
            if repeat:
                samples[engine].append(figures)
    for engine, module in ENGINE_MODULES.items():
        done = subprocess.run(
            [PYTHON, "-c", _PACKAGES_PROBE.format(client=statement, module=module)],
            cwd=root,
            check=False,
            capture_output=True,
            text=True,
            timeout=120.0,
        )
        words = done.stdout.split()
        found[engine] = {
            "module": module,
            "packages": [word for word in words if not word.startswith("+")],
            "stdlib_packages": int(words[-1][1:].partition("-")[0]) if words else None,
            "import_ms": statistics.median(s["import_ms"] for s in samples[engine]),
            "import_rss_mb": statistics.median(s["import_rss_mb"] for s in samples[engine]),
        }
    return found


# After the client's import, the engine module alone (what its first connection adds).
_ENGINE_PROBE = _PROBE.replace("_before = _kb", "{client}\n_before = _kb").replace(
    "{statement}", "import {module}"
)
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
    """The installed size as one run per driver (both drivers share their library's)."""
    if not sizes or "closure" not in sizes:
        return []
    runs = []
    for driver in import_drivers(drivers):
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
