"""The README's Python blocks run, in order, against a real embedded server."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def test_readme_has_examples() -> None:
    assert len(python_blocks()) >= 8


def test_readme_examples_run_in_order() -> None:
    namespace: dict[str, Any] = {"__name__": "readme"}
    try:
        for number, block in enumerate(python_blocks(), 1):
            if "esdb_wire.devcerts" in block and importlib.util.find_spec("cryptography") is None:
                continue  # the certificates example needs the `certs` extra (not on PyPy)
            if "opentelemetry" in block and not _installed("opentelemetry.sdk"):
                continue  # the tracing example needs the OpenTelemetry SDK
            exec(compile(block, f"<README block {number}>", "exec"), namespace)
    finally:
        server = namespace.get("server")
        if server is not None:
            server.stop()
