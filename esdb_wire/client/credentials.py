"""Per-call credentials: HTTP Basic (user and password) or a bearer token."""

from __future__ import annotations

from base64 import b64encode


class CallCredentials:
    """The ``authorization`` header of a call; never shows the secret in its repr."""

    __slots__ = ("_header", "scheme", "username")

    def __init__(self, header: str, scheme: str, username: str | None = None) -> None:
        self._header = header
        self.scheme = scheme
        self.username = username

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The gRPC metadata that carries the credentials (one ``authorization`` pair)."""
        return (("authorization", self._header),)

    def __repr__(self) -> str:
        who = f" {self.username!r}" if self.username is not None else ""
        return f"<CallCredentials {self.scheme}{who} ***>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CallCredentials) and other._header == self._header

    def __hash__(self) -> int:
        return hash(self._header)


def basic_credentials(username: str, password: str) -> CallCredentials:
    """Credentials for ``authorization: Basic base64(user:password)``."""
    token = b64encode(f"{username}:{password}".encode()).decode("ascii")
    return CallCredentials(f"Basic {token}", "Basic", username)


def bearer_credentials(token: str) -> CallCredentials:
    """Credentials for ``authorization: Bearer <token>`` (OAuth-style servers)."""
    return CallCredentials(f"Bearer {token}", "Bearer")
