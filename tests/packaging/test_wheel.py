"""The built wheel works on its own: installed into a fresh venv (no source tree on the
path), it runs the demo and a user's test file that uses the pytest plugin's fixtures.

Needs the package index (the venv installs the wheel's dependencies and pytest), so it runs
in the main CI leg only (the ``packaging`` marker; the other legs deselect it).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]

# A user's test module: the wipe between tests is what the second test proves (each test
# sees a log without the other's stream, whatever their order).
USER_TESTS = textwrap.dedent(
    """
    from esdb_wire import NewEvent, StreamState


    def _stream_names(client):
        return {event.stream_name for event in client.read_all() if not event.type.startswith("$")}


    def test_one(esdb_client):
        assert _stream_names(esdb_client) == set()
        esdb_client.append_to_stream("one", current_version=StreamState.NO_STREAM,
                                     events=NewEvent("Happened", b"{}"))
        assert _stream_names(esdb_client) == {"one"}


    def test_two(esdb_client):
        assert _stream_names(esdb_client) == set()
        esdb_client.append_to_stream("two", current_version=StreamState.NO_STREAM,
                                     events=NewEvent("Happened", b"{}"))
        assert _stream_names(esdb_client) == {"two"}
    """
)


def run(command: list[str], cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel built from this tree's sdist (and pytest); its python."""
    work = tmp_path_factory.mktemp("wheel")
    # As `make dist` does: the sdist, then the wheel built from the unpacked sdist.
    run([sys.executable, "-m", "build", "--outdir", str(work), str(ROOT)], ROOT)
    (wheel,) = work.glob("esdb_wire-*.whl")
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", str(wheel), "pytest"], work)
    return python


def test_the_installed_wheel_runs_the_demo(installed: Path, tmp_path: Path) -> None:
    where = run([str(installed), "-c", "import esdb_wire; print(esdb_wire.__file__)"], tmp_path)
    assert str(ROOT) not in where  # the venv's copy, not this tree
    output = run([str(installed), "-m", "esdb_wire.demo"], tmp_path)
    assert "server stopped; demo done" in output


def test_a_users_tests_get_a_wiped_server_from_the_plugin(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "test_users_app.py").write_text(USER_TESTS, encoding="utf-8")
    output = run([str(installed), "-m", "pytest", "-q", "-p", "no:cacheprovider"], tmp_path)
    assert "2 passed" in output
