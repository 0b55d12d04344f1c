"""``esdb-wire-server --dev``: secure with development certificates it makes (and keeps),
projections on, and the connection string printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from esdb_wire import EventStoreDBClient, NewEvent, StreamState
from esdb_wire.server.devmode import default_directory
from tests.peers import require_peer
from tests.server_secure.test_cli import server_for, usage_error

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


@pytest.fixture(autouse=True)
def _cryptography() -> None:
    require_peer("cryptography")


def test_dev_is_secure_with_certificates_it_keeps(tmp_path: Path) -> None:
    folder = tmp_path / "dev-certs"
    server = server_for(["--dev", "--port", "0", "--dev-cert-dir", str(folder)])
    assert server.secure
    assert server.run_projections == "all"
    assert server.ca == folder / "ca.crt"
    assert server.certificate == folder / "node.crt"
    assert "TlsCaFile=" in server.esdb_uri
    made = (folder / "node.crt").read_bytes()
    again = server_for(["--dev", "--port", "0", "--dev-cert-dir", str(folder)])
    assert again.certificate == folder / "node.crt"
    assert (folder / "node.crt").read_bytes() == made  # reused, not made again


def test_dev_keeps_an_explicit_projections_choice(tmp_path: Path) -> None:
    argv = ["--dev", "--dev-cert-dir", str(tmp_path), "--run-projections", "system"]
    assert server_for(argv).run_projections == "system"


def test_expired_or_foreign_certificates_are_made_again(tmp_path: Path) -> None:
    from esdb_wire.devcerts import generate  # noqa: PLC0415

    generate(tmp_path, expired=True)
    expired = (tmp_path / "node.crt").read_bytes()
    server_for(["--dev", "--dev-cert-dir", str(tmp_path)])
    assert (tmp_path / "node.crt").read_bytes() != expired
    # Valid, but not for the address the server is told to listen on.
    renewed = (tmp_path / "node.crt").read_bytes()
    server_for(["--dev", "--dev-cert-dir", str(tmp_path), "--host", "127.0.0.2"])
    assert (tmp_path / "node.crt").read_bytes() != renewed


def test_dev_conflicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--insecure cannot be combined with --dev" in usage_error(
        ["--dev", "--insecure"], capsys
    )
    error = usage_error(["--dev", "--certificate", "node.crt", "--private-key", "x"], capsys)
    assert "--dev makes its own certificate" in error
    assert "--dev-cert-dir is an option of --dev" in usage_error(
        ["--insecure", "--dev-cert-dir", str(tmp_path)], capsys
    )


def test_dev_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_directory() == tmp_path / "esdb_wire" / "dev-certs"


def test_dev_without_cryptography_says_which_extra(tmp_path: Path) -> None:
    hide = (
        "import sys; sys.modules['cryptography'] = None; "
        "from esdb_wire.server.__main__ import main; "
        f"main(['--dev', '--port', '0', '--dev-cert-dir', {str(tmp_path)!r}])"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
        check=False,
    )
    assert result.returncode == 2
    assert "--dev needs the certs extra" in result.stderr
    assert "pip install 'esdb-wire[certs]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_dev_server_prints_how_to_connect_and_runs_projections(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "esdb_wire.server",
            "--dev",
            "--port",
            "0",
            "--quiet",
            "--dev-cert-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert process.stdout is not None
        listening = process.stdout.readline()
        assert "(secure) listening on esdb://" in listening
        trust = process.stdout.readline()
        assert f"trust {tmp_path / 'ca.crt'}" in trust
        assert "projections: all" in trust
        connect = process.stdout.readline().strip()
        assert connect.startswith("connect with: esdb://admin:changeit@127.0.0.1:")
        uri = connect.split("connect with: ", 1)[1]
        assert "Tls=true" in uri
        assert "TlsCaFile=" in uri
        with EventStoreDBClient(uri) as client:
            client.append_to_stream(
                "order-1", current_version=StreamState.NO_STREAM, events=NewEvent("Placed", b"{}")
            )
            deadline = time.monotonic() + 10
            while not client.get_stream("$ce-order", resolve_links=True):
                assert time.monotonic() < deadline, "the standard projections did not run"
                time.sleep(0.05)
            (linked,) = client.get_stream("$ce-order", resolve_links=True)
            assert linked.type == "Placed"
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert process.returncode == 0
    assert "stopped" in out
