"""``python -m esdb_wire.server``: secure unless --insecure, and a certificate is required."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from esdb_wire.server.__main__ import NO_CERTIFICATE, build_parser, server_from_args
from esdb_wire.server.embedded import EmbeddedServer

if TYPE_CHECKING:
    from esdb_wire.devcerts import CertificateFiles


def server_for(argv: list[str]) -> EmbeddedServer:
    parser = build_parser()
    return server_from_args(parser.parse_args(argv), parser)


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        server_for(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


def cert_args(certs: CertificateFiles) -> list[str]:
    return [
        "--certificate",
        str(certs.node_certificate),
        "--private-key",
        str(certs.node_key),
        "--ca",
        str(certs.ca_certificate),
    ]


def test_neither_insecure_nor_certificates(capsys: pytest.CaptureFixture[str]) -> None:
    assert NO_CERTIFICATE in usage_error([], capsys)
    assert "--insecure" in NO_CERTIFICATE


def test_insecure_with_certificate_options(
    certs: CertificateFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    error = usage_error(["--insecure", *cert_args(certs)], capsys)
    assert "--insecure cannot be combined with --certificate, --private-key, --ca" in error


def test_certificate_without_key(
    certs: CertificateFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    error = usage_error(["--certificate", str(certs.node_certificate)], capsys)
    assert "--private-key" in error
    missing = ["--certificate", "nope.crt", "--private-key", "nope.key"]
    assert "no such file: nope.crt" in usage_error(missing, capsys)


def test_insecure() -> None:
    server = server_for(["--insecure", "--port", "0"])
    assert not server.secure


def test_secure_options(certs: CertificateFiles) -> None:
    server = server_for(
        [
            *cert_args(certs),
            "--default-admin-password",
            "s3cret",
            "--ops-password",
            "0ps",
            "--user",
            "alice:pw:readers,writers",
            "--user",
            "bob:pw2",
            "--allow-anonymous-stream-access",
        ]
    )
    assert server.secure
    assert server.security is not None
    assert server.security.users == {
        "admin": ("s3cret", ("$admins",)),
        "ops": ("0ps", ("$ops",)),
        "alice": ("pw", ("readers", "writers")),
        "bob": ("pw2", ()),
    }
    assert server.security.allow_anonymous_stream_access
    assert server.security.certificate_users  # --ca given


def test_real_option_names_and_environment(
    certs: CertificateFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSTORE_DEFAULT_ADMIN_PASSWORD", "from-env")
    server = server_for(
        [
            "--certificate-file",
            str(certs.node_certificate),
            "--certificate-private-key-file",
            str(certs.node_key),
            "--trusted-root-certificates-path",
            str(certs.ca_certificate.parent),
        ]
    )
    assert server.security is not None
    assert server.security.users["admin"] == ("from-env", ("$admins",))
    assert server.security.users["ops"][0] == "changeit"


def test_bad_user_option(certs: CertificateFiles, capsys: pytest.CaptureFixture[str]) -> None:
    assert "NAME:PASSWORD" in usage_error([*cert_args(certs), "--user", "nopassword"], capsys)


def test_command_line_refuses_to_start_without_a_mode() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "esdb_wire.server", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    assert result.returncode == 2
    assert "--insecure" in result.stderr


def test_the_http2_engine_is_h2_unless_native_is_asked_for(
    certs: CertificateFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    assert server_for(["--insecure"]).http2_engine == "h2"
    assert server_for(["--insecure", "--http2-engine", "native"]).http2_engine == "native"
    secure = server_for([*cert_args(certs), "--http2-engine", "native"])
    assert secure.http2_engine == "native"
    assert "invalid choice: 'grpc'" in usage_error(["--insecure", "--http2-engine", "grpc"], capsys)
    with pytest.raises(ValueError, match="unknown http2_engine 'grpc'"):
        EmbeddedServer(http2_engine="grpc")
