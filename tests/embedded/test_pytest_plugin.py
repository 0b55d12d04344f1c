"""The pytest plugin (``esdb_wire.pytest_plugin``, entry point ``pytest11``), run by
pytester in a test session of its own."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

TWO_TESTS = """
from esdb_wire import NewEvent, StreamState


def _user_streams(client):
    return [e.stream_name for e in client.read_all() if not e.stream_name.startswith("$")]


def test_first(esdb_client):
    assert _user_streams(esdb_client) == []
    esdb_client.append_to_stream(
        "orders", current_version=StreamState.NO_STREAM, events=[NewEvent(type="A", data=b"{}")]
    )
    esdb_client.set_stream_metadata("orders", metadata={"$maxCount": 3})
    esdb_client.create_subscription_to_stream("group", "orders")
    assert _user_streams(esdb_client) == ["orders"]


def test_second(esdb_server, esdb_client):
    assert _user_streams(esdb_client) == []
    assert esdb_client.get_stream_metadata("orders") == ({}, StreamState.NO_STREAM)
    assert esdb_client.list_subscriptions() == []
    esdb_client.append_to_stream(
        "orders", current_version=StreamState.NO_STREAM, events=[NewEvent(type="B", data=b"{}")]
    )
    assert [e.type for e in esdb_client.get_stream("orders")] == ["B"]
"""


def test_two_tests_each_see_an_empty_database(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_two=TWO_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_server_starts_only_for_tests_that_use_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_unused="""
import threading

def _servers():
    return [t for t in threading.enumerate() if t.name == "esdb_wire-embedded-server"]

def test_without_the_fixtures():
    assert _servers() == []

def test_with_the_server(esdb_server):
    assert esdb_server.esdb_uri.endswith("?Tls=false")
    assert len(_servers()) == 1
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_secure_variant(pytester: pytest.Pytester) -> None:
    pytest.importorskip("cryptography")
    pytester.makepyfile(
        test_secure="""
def test_secure(esdb_secure_server, esdb_secure_client):
    assert esdb_secure_server.secure
    assert [u.login_name for u in esdb_secure_client.list_all_users()] == ["admin", "ops"]
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_secure_variant_skips_without_cryptography(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import sys\n\nsys.modules['cryptography'] = None\n")
    pytester.makepyfile(test_secure="def test_secure(esdb_secure_server):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs the cryptography package*esdb-wire[[]certs[]]*"])


def test_loading_the_plugin_imports_no_client_or_server() -> None:
    """pytest loads the plugin in every session of a project that installs esdb-wire: it
    must cost nothing until a fixture is used."""
    code = (
        "import sys, pytest, esdb_wire.pytest_plugin\n"
        "heavy = [m for m in sys.modules if m.startswith(('esdb_wire.client', "
        "'esdb_wire.server', 'esdb_wire.transport', 'h2', 'google.protobuf'))]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
