"""The JavaScript engine behind custom projections: ``mini-racer`` (V8), an optional extra.

Choice (2026): ``mini-racer`` (PyPI ``mini-racer``, import ``py_mini_racer``) embeds V8,
so queries get the current ECMAScript, and it is maintained (0.14.1, 2026-02). Its
wheels are ``py3-none-<platform>`` (manylinux x86_64 and aarch64, macOS, Windows): the
engine is a shared library loaded with ``ctypes``, so one wheel serves every CPython
3.10+ (and loads under PyPy too); Python 3.9 gets 0.12.4, the last release that admits
it. It bounds each evaluation with a timeout and the isolate with a hard memory limit,
both enforced inside V8. Passed over: ``quickjs`` (last release 2023), ``quickjs-ng``
(CPython 3.10+ only, no PyPy), ``dukpy`` (ES5), ``pythonmonkey`` (a 100+ MB SpiderMonkey
build for two platforms).

Install it with ``pip install esdb-wire[projections]``. Without it the standard
projections still run (they are native, see :mod:`.standard`) and creating a custom
projection fails with :class:`EngineMissing`, which names the extra.

Each :class:`JsProjection` owns one V8 context. Its methods block, so the projection
core calls them on a worker thread (:func:`js_executor`), never on the server's event
loop, and a runaway query ends in :class:`ScriptTimeout` (or :class:`ScriptFault` for
memory) instead of freezing the server.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from esdb_wire.server.projections.prelude import PRELUDE, SWITCH

log = logging.getLogger("esdb_wire.server.projections.js")

EXTRA: Final = "projections"
INSTALL_HINT: Final = f"pip install esdb-wire[{EXTRA}]"
ENGINE_MISSING_MESSAGE: Final = (
    "Custom projections need a JavaScript engine, an optional extra of esdb_wire: "
    f"{INSTALL_HINT} (installs mini-racer)"
)
# The server's defaults (ProjectionCompilationTimeout, ProjectionExecutionTimeout), in
# seconds; a batch of events gets the execution timeout per event, within bounds.
COMPILATION_TIMEOUT: Final = 0.5
EXECUTION_TIMEOUT: Final = 0.25
BATCH_TIMEOUT_CAP: Final = 10.0
MEMORY_LIMIT: Final = 512 * 1024 * 1024

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


class EngineMissing(RuntimeError):
    """The optional JavaScript engine is not installed."""

    def __init__(self) -> None:
        super().__init__(ENGINE_MISSING_MESSAGE)


class ScriptFault(Exception):
    """The query failed: a compile or runtime error, or a limit. ``args[0]`` is the
    reason the projection's statistics report."""


class ScriptTimeout(ScriptFault):
    """The query ran past its time limit."""


def engine_available() -> bool:
    """Whether the JavaScript engine can be imported."""
    try:
        import py_mini_racer  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def engine_version() -> str | None:
    """``mini-racer <version> (V8 <version>)``, or None without the engine."""
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return f"mini-racer {version('mini-racer')}"
    except Exception:
        return None


def js_executor() -> ThreadPoolExecutor:
    """The worker thread every :class:`JsProjection` call runs on (one, shared)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esdb_wire-js")
        return _executor


@dataclass(frozen=True)
class Output:
    """What one processed event caused (only for events that caused something)."""

    index: int
    partition: str | None  # None: the partition function gave no partition (skipped)
    result_changed: bool
    result: str | None
    emitted: list[dict[str, Any]]
    partition_created: bool


@dataclass(frozen=True)
class Batch:
    """The outcome of :meth:`JsProjection.process`: outputs, and the fault if one event
    failed (the events before it count as processed)."""

    outputs: list[Output]
    processed: int
    fault: str | None


class JsProjection:
    """One compiled query in its own V8 context (call from one thread at a time)."""

    def __init__(self, query: str, *, memory_limit: int = MEMORY_LIMIT) -> None:
        """Compile ``query``; raises :class:`EngineMissing` or :class:`ScriptFault`."""
        try:
            from py_mini_racer import MiniRacer  # noqa: PLC0415
        except ImportError:
            raise EngineMissing() from None
        self._racer: Any = MiniRacer()
        self._closed = False
        try:
            self._racer.set_hard_memory_limit(memory_limit)
            self._eval(PRELUDE, COMPILATION_TIMEOUT, "compile")
            self._eval(query, COMPILATION_TIMEOUT, "compile")
            definition = self._eval(SWITCH, COMPILATION_TIMEOUT, "compile")
        except BaseException:
            self.close()
            raise
        self.definition: dict[str, Any] = json.loads(str(definition))

    def _eval(self, code: str, timeout: float, action: str) -> Any:
        from py_mini_racer import (  # noqa: PLC0415
            JSEvalException,
            JSOOMException,
            JSTimeoutException,
        )

        started = time.monotonic()
        try:
            return self._racer.eval(code, timeout=timeout * 1000)
        except JSTimeoutException:
            took = time.monotonic() - started
            raise ScriptTimeout(
                f"Projection script took too long to {action} "
                f"(took: {took:.3f}s, allowed: {timeout:.3f}s)"
            ) from None
        except JSOOMException:
            raise ScriptFault("Projection script exceeded its memory limit") from None
        except JSEvalException as exc:
            raise ScriptFault(_js_error_text(exc)) from None

    def _call(self, expression: str, timeout: float = EXECUTION_TIMEOUT) -> Any:
        return self._eval(expression, timeout, "execute")

    def initialize_root(self) -> None:
        """Give the root partition its ``$init`` state (unpartitioned queries)."""
        self._call("__esdb.initializeRoot()")

    def process(self, items: list[dict[str, Any]]) -> Batch:
        """Run ``items`` (events or deleted-stream notifications) through the handlers."""
        timeout = min(BATCH_TIMEOUT_CAP, max(1.0, EXECUTION_TIMEOUT * len(items)))
        text = self._call(f"__esdb.process({json.dumps(items)})", timeout)
        reply = json.loads(str(text))
        outputs = []
        processed = len(items)
        for entry in reply["o"]:
            if isinstance(entry, int):
                continue
            index, partition, changed, result, emitted, created = entry
            outputs.append(Output(index, partition, bool(changed), result, emitted, bool(created)))
        fault = reply["e"]
        if fault is not None:
            processed = fault[0]
            self._drain_logs()
            return Batch(outputs, processed, str(fault[1]))
        self._drain_logs()
        return Batch(outputs, processed, None)

    def snapshot(self, everything: bool = False) -> dict[str, tuple[str | None, str | None]]:
        """Partition → (state, result) JSON texts: the changed ones since the last
        snapshot, or all of them."""
        text = self._call(f"__esdb.snapshot({'true' if everything else 'false'})")
        return {key: (value[0], value[1]) for key, value in json.loads(str(text)).items()}

    def load(self, states: dict[str, tuple[str | None, str | None]]) -> None:
        """Restore partition states (from checkpoints)."""
        if states:
            self._call(f"__esdb.load({json.dumps({k: list(v) for k, v in states.items()})})")

    def reset(self) -> None:
        """Forget every partition state."""
        self._call("__esdb.reset()")

    def state(self, partition: str) -> str | None:
        value = self._call(f"__esdb.state({json.dumps(partition)})")
        return None if value is None else str(value)

    def result(self, partition: str) -> str | None:
        value = self._call(f"__esdb.result({json.dumps(partition)})")
        return None if value is None else str(value)

    def _drain_logs(self) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        for line in json.loads(str(self._call("__esdb.logs()"))):
            log.debug("projection log: %s", line)

    def close(self) -> None:
        """Free the V8 context."""
        if not self._closed:
            self._closed = True
            try:
                self._racer.close()
            except Exception:  # pragma: no cover - best effort at teardown
                log.debug("closing a JavaScript context failed", exc_info=True)


def _js_error_text(exc: Exception) -> str:
    """The first line of a V8 error report (``file:line: Error: message``) plus the rest."""
    text = str(exc).strip()
    return text or type(exc).__name__
