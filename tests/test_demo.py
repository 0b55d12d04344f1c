"""``make demo`` (``python -m esdb_wire.demo``) runs its whole session."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_a_full_session() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "esdb_wire.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "listening on" in out
    assert "rejected as expected" in out
    assert "received 100 live events in commit order: True" in out
    assert "group 'shipping' got" in out
    assert out.rstrip().endswith("demo done")
