"""KurrentDB / EventStoreDB connection strings, parsed the way the official clients parse them.

Syntax::

    scheme://[user:password@]host[:port][,host[:port]...][/][?Key=Value[&Key=Value...]]

``parse()`` returns a frozen :class:`ConnectionSpec`; ``ConnectionSpec.to_uri()`` writes it back
(``parse(spec.to_uri()) == spec``). The password never appears in ``repr(spec)``/``str(spec)``
or in the message of any error raised here; only ``to_uri()`` contains it.

Schemes: ``esdb``, ``kdb``, ``kurrent``, ``kurrentdb`` and their ``+discover`` forms (the .NET,
Node, Java and Rust clients accept all eight), matched case-insensitively, stored lower-case.

Hosts: the default port is 2113; IPv6 literals go in brackets (``[::1]:2113``). One host and
no ``+discover`` means a direct single-node connection; several hosts, or a ``+discover``
scheme, mean cluster discovery via gossip, the hosts being the gossip seeds
(:attr:`ConnectionSpec.uses_gossip`). This is what the .NET, Go, Java and Rust clients do.
Several hosts with ``+discover`` are all kept as seeds (.NET does this; Rust uses only the first,
esdbclient rejects it).

User info: ``user:password``, split at the first ``:``; both parts are percent-decoded as UTF-8
(``+`` stays ``+``). The user info ends at the last ``@`` before the first ``?``, so ``@``, ``:``
and ``/`` may appear unencoded in a password, but ``?`` must be written ``%3F``.

Options (keys case-insensitive, values percent-decoded; booleans are ``true``/``false`` in any
case; durations are whole milliseconds in the string and seconds in the spec). Defaults as in
the official .NET and Node clients (``KurrentDBClientSettings``,
``KurrentDBClientConnectivitySettings.Default``, Node ``discovery.ts``):

==========================  ================================  ==============================
key                         field                             default
==========================  ================================  ==============================
``Tls``                     ``tls``                           ``True``
``TlsVerifyCert``           ``tls_verify_cert``               ``True``
``TlsCaFile``               ``tls_ca_file``                   ``None``
``UserCertFile``            ``user_cert_file``                ``None`` (needs ``UserKeyFile``)
``UserKeyFile``             ``user_key_file``                 ``None`` (needs ``UserCertFile``)
``ConnectionName``          ``connection_name``               ``None`` (see below)
``NodePreference``          ``node_preference``               ``"leader"``
``DefaultDeadline``         ``default_deadline`` (s)          10 s (ms; -1 → ``None``)
``GossipTimeout``           ``gossip_timeout`` (s)            5 s (ms)
``MaxDiscoverAttempts``     ``max_discover_attempts``         10
``DiscoveryInterval``       ``discovery_interval`` (s)        0.1 s (ms)
``KeepAliveInterval``       ``keep_alive_interval`` (s)       10 s (ms; -1 → ``None``)
``KeepAliveTimeout``        ``keep_alive_timeout`` (s)        10 s (ms; -1 → ``None``)
``ThrowOnAppendFailure``    ``throw_on_append_failure``       ``True``
==========================  ================================  ==============================

Where the official clients disagree, this module follows .NET:

- unknown keys and repeated keys (compared case-insensitively) raise an error (.NET throws;
  Node/Go/Java/Rust warn and ignore unknown keys; Node and Java keep the last repeated value,
  Go and esdbclient the first);
- ``GossipTimeout`` is in milliseconds (.NET, Java, Rust; Node, Go and esdbclient read it as
  seconds);
- ``MaxDiscoverAttempts`` 10 and ``DiscoveryInterval`` 100 ms (.NET, Node, Go; Java and Rust use
  3 and 500 ms, and a 3 s gossip timeout).

``DefaultDeadline=-1`` means no deadline (as in Rust). ``ConnectionName`` unset stays ``None``:
callers send :func:`default_connection_name` (a random UUID, like the Node client and
esdbclient; .NET uses ``ES-<guid>``). Nothing here touches the file system: certificate paths
are kept as given.

esdbclient 0.5 took ``"host:port"`` without a scheme for a plaintext single node; ``parse()``
accepts that form (as ``tls=False``) unless ``allow_legacy=False``; :func:`parse_legacy`
accepts only that form.
"""

from __future__ import annotations

import ipaddress
import math
import re
import uuid
from dataclasses import dataclass, field, fields
from typing import Any, Literal, cast
from urllib.parse import quote, unquote

__all__ = [
    "DEFAULT_PORT",
    "NODE_PREFERENCES",
    "SCHEMES",
    "ConnectionSpec",
    "ConnectionStringError",
    "NodePreference",
    "Scheme",
    "default_connection_name",
    "parse",
    "parse_legacy",
]

Scheme = Literal[
    "esdb",
    "esdb+discover",
    "kdb",
    "kdb+discover",
    "kurrent",
    "kurrent+discover",
    "kurrentdb",
    "kurrentdb+discover",
]
NodePreference = Literal["leader", "follower", "random", "readonlyreplica"]

SCHEMES: tuple[Scheme, ...] = (
    "esdb",
    "esdb+discover",
    "kdb",
    "kdb+discover",
    "kurrent",
    "kurrent+discover",
    "kurrentdb",
    "kurrentdb+discover",
)
NODE_PREFERENCES: tuple[NodePreference, ...] = ("leader", "follower", "random", "readonlyreplica")
DEFAULT_PORT = 2113

_SCHEME_SYNTAX = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_HOSTNAME = re.compile(r"[A-Za-z0-9._\-]+")
_PORT = re.compile(r"[0-9]{1,5}")
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# to_uri(): characters left unencoded in option values (the parser only splits on "&" and "=").
_VALUE_SAFE = "/:"


class ConnectionStringError(ValueError):
    """A connection string (or a :class:`ConnectionSpec` field) is invalid.

    The message names the offending key, value, host or scheme, but never the password.
    """


def default_connection_name() -> str:
    """A fresh connection name for ``connection_name=None``: a random UUID string."""
    return str(uuid.uuid4())


@dataclass(frozen=True, repr=False)  # its own __repr__ hides the password
class ConnectionSpec:
    """A parsed connection string. Durations are in seconds; ``None`` means disabled."""

    scheme: Scheme = "esdb"
    discover: bool = field(init=False)
    targets: tuple[tuple[str, int], ...] = (("localhost", DEFAULT_PORT),)
    username: str | None = None
    password: str | None = None
    tls: bool = True
    tls_verify_cert: bool = True
    tls_ca_file: str | None = None
    user_cert_file: str | None = None
    user_key_file: str | None = None
    connection_name: str | None = None
    node_preference: NodePreference = "leader"
    default_deadline: float | None = 10.0
    gossip_timeout: float = 5.0
    max_discover_attempts: int = 10
    discovery_interval: float = 0.1
    keep_alive_interval: float | None = 10.0
    keep_alive_timeout: float | None = 10.0
    throw_on_append_failure: bool = True

    def __post_init__(self) -> None:
        scheme = self.scheme.lower() if isinstance(self.scheme, str) else self.scheme
        if scheme not in SCHEMES:
            raise ConnectionStringError(
                f"unsupported scheme {self.scheme!r}; expected one of {', '.join(SCHEMES)}"
            )
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "discover", scheme.endswith("+discover"))
        object.__setattr__(self, "targets", _check_targets(self.targets))
        _check_credentials(self.username, self.password)
        for name in ("tls", "tls_verify_cert", "throw_on_append_failure"):
            if not isinstance(getattr(self, name), bool):
                raise ConnectionStringError(f"{name} must be a bool")
        for name in ("tls_ca_file", "user_cert_file", "user_key_file", "connection_name"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConnectionStringError(f"{name} must be None or a non-empty string")
            if value is not None:
                _check_utf8(value, name)
        if (self.user_cert_file is None) != (self.user_key_file is None):
            raise ConnectionStringError(
                "UserCertFile and UserKeyFile must be given together (both or neither)"
            )
        preference = self.node_preference
        if isinstance(preference, str):
            preference = cast(NodePreference, preference.lower())
        if preference not in NODE_PREFERENCES:
            raise ConnectionStringError(
                f"node_preference must be one of {', '.join(NODE_PREFERENCES)}"
            )
        object.__setattr__(self, "node_preference", preference)
        attempts = self.max_discover_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConnectionStringError("max_discover_attempts must be an int >= 1")
        for name, minimum_ms, optional in _DURATIONS:
            object.__setattr__(
                self, name, _check_duration(name, getattr(self, name), minimum_ms, optional)
            )

    @property
    def uses_gossip(self) -> bool:
        """True for cluster discovery (``+discover`` or several hosts), False for one node."""
        return self.discover or len(self.targets) > 1

    def to_uri(self) -> str:
        """The connection string for this spec, with the password; options at their defaults
        are left out. ``parse(spec.to_uri()) == spec``."""
        parts = [self.scheme, "://"]
        if self.username is not None:
            parts += [quote(self.username, safe=""), ":", quote(self.password or "", safe=""), "@"]
        parts.append(",".join(_format_target(host, port) for host, port in self.targets))
        options = []
        defaults = _DEFAULT_SPEC
        for key, (name, kind) in _OPTION_FIELDS.items():
            value = getattr(self, name)
            if value == getattr(defaults, name):
                continue
            options.append(f"{key}={_format_value(kind, value)}")
        if options:
            parts += ["?", "&".join(options)]
        return "".join(parts)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "password" and value is not None:
                shown.append("password='***'")
            else:
                shown.append(f"{f.name}={value!r}")
        return f"ConnectionSpec({', '.join(shown)})"

    __str__ = __repr__


# (field name, minimum in ms, -1 allowed meaning None)
_DURATIONS: tuple[tuple[str, int, bool], ...] = (
    ("default_deadline", 1, True),
    ("gossip_timeout", 1, False),
    ("discovery_interval", 0, False),
    ("keep_alive_interval", 0, True),
    ("keep_alive_timeout", 0, True),
)

_BOOL, _STR, _INT, _MS, _PREFERENCE = "bool", "str", "int", "ms", "preference"

# Canonical key (as the .NET client spells it) -> (field, kind).
_OPTION_FIELDS: dict[str, tuple[str, str]] = {
    "Tls": ("tls", _BOOL),
    "TlsVerifyCert": ("tls_verify_cert", _BOOL),
    "TlsCaFile": ("tls_ca_file", _STR),
    "UserCertFile": ("user_cert_file", _STR),
    "UserKeyFile": ("user_key_file", _STR),
    "ConnectionName": ("connection_name", _STR),
    "NodePreference": ("node_preference", _PREFERENCE),
    "DefaultDeadline": ("default_deadline", _MS),
    "GossipTimeout": ("gossip_timeout", _MS),
    "MaxDiscoverAttempts": ("max_discover_attempts", _INT),
    "DiscoveryInterval": ("discovery_interval", _MS),
    "KeepAliveInterval": ("keep_alive_interval", _MS),
    "KeepAliveTimeout": ("keep_alive_timeout", _MS),
    "ThrowOnAppendFailure": ("throw_on_append_failure", _BOOL),
}
_KEYS_BY_LOWER = {key.lower(): key for key in _OPTION_FIELDS}
_DURATION_RULES = {name: (minimum, optional) for name, minimum, optional in _DURATIONS}


def _check_targets(targets: object) -> tuple[tuple[str, int], ...]:
    if isinstance(targets, (str, bytes)) or not isinstance(targets, (tuple, list)):
        raise ConnectionStringError("targets must be a sequence of (host, port) pairs")
    checked = []
    for target in targets:
        if not isinstance(target, (tuple, list)) or len(target) != 2:
            raise ConnectionStringError("targets must be a sequence of (host, port) pairs")
        host, port = target
        if not isinstance(host, str) or not _valid_host(host):
            raise ConnectionStringError(f"invalid host {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConnectionStringError(f"invalid port {port!r} for host {host!r}")
        checked.append((host, port))
    if not checked:
        raise ConnectionStringError("at least one host is required")
    return tuple(checked)


def _valid_host(host: str) -> bool:
    return _is_ipv6(host) if ":" in host else _HOSTNAME.fullmatch(host) is not None


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return "%" not in text  # no zone ids


def _check_credentials(username: object, password: object) -> None:
    if username is None and password is None:
        return
    if not isinstance(username, str) or not username:
        raise ConnectionStringError("the user name must be a non-empty string")
    if not isinstance(password, str):
        raise ConnectionStringError("a user name needs a password (a string, may be empty)")
    _check_utf8(username, "the user name")
    _check_utf8(password, "the password")


def _check_utf8(text: str, what: str) -> None:
    # Raise outside the except block: the codec error (the exception's context) shows the text.
    try:
        text.encode("utf-8")
        encodable = True
    except UnicodeEncodeError:
        encodable = False
    if not encodable:
        raise ConnectionStringError(f"{what} is not encodable as UTF-8")


def _check_duration(name: str, value: object, minimum_ms: int, optional: bool) -> float | None:
    if value is None:
        if optional:
            return None
        raise ConnectionStringError(f"{name} must be a number of seconds")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConnectionStringError(f"{name} must be a number of seconds")
    milliseconds = float(value) * 1000
    if not math.isfinite(milliseconds) or abs(milliseconds - round(milliseconds)) > 1e-6:
        raise ConnectionStringError(f"{name} must be a whole number of milliseconds")
    if round(milliseconds) < minimum_ms:
        raise ConnectionStringError(f"{name} must be at least {minimum_ms / 1000} seconds")
    return round(milliseconds) / 1000


def _format_target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _format_value(kind: str, value: object) -> str:
    if kind == _BOOL:
        return "true" if value else "false"
    if kind == _MS:
        return "-1" if value is None else str(round(cast(float, value) * 1000))
    return quote(str(value), safe=_VALUE_SAFE)


_DEFAULT_SPEC = ConnectionSpec()


class _Source:
    """The string being parsed, and which of its parts may be echoed in error messages.

    Everything between the ``://`` and the last ``@`` may be (part of) a user name or password,
    even when the string is malformed, so text from there is never shown.
    """

    def __init__(self, text: str, secret_start: int) -> None:
        self.text = text
        self.secret_start = secret_start
        self.secret_end = text.rfind("@")

    def show(self, start: int, end: int) -> str:
        if start < self.secret_end and end > self.secret_start:
            return "(not shown: it may be part of the credentials; percent-encode '?' in them)"
        return repr(self.text[start:end])


def parse(uri: str, *, allow_legacy: bool = True) -> ConnectionSpec:
    """Parse a connection string (see the module docstring).

    With ``allow_legacy`` (the default), a string without ``://`` is taken as esdbclient 0.5's
    ``"host[:port]"`` form: a single plaintext node (``tls=False``), as :func:`parse_legacy`.
    """
    if not isinstance(uri, str):
        raise ConnectionStringError("a connection string must be a str")
    text = uri.strip()
    scheme_end = text.find("://")
    if scheme_end < 0:
        if allow_legacy:
            return _parse_legacy(text)
        raise ConnectionStringError(
            "missing scheme: expected kurrentdb://, kurrentdb+discover://, esdb://, ..."
        )
    source = _Source(text, scheme_end + 3)
    raw_scheme = text[:scheme_end]
    scheme = raw_scheme.lower()
    if scheme not in SCHEMES:
        shown = repr(raw_scheme) if _SCHEME_SYNTAX.fullmatch(raw_scheme) else "(not shown)"
        raise ConnectionStringError(
            f"unsupported scheme {shown}; expected one of {', '.join(SCHEMES)}"
        )

    start = scheme_end + 3
    query_at = text.find("?", start)
    head_end = len(text) if query_at < 0 else query_at
    at = text.rfind("@", start, head_end)
    username = password = None
    if at >= 0:
        username, password = _parse_userinfo(text[start:at])
        start = at + 1
    slash = text.find("/", start, head_end)
    hosts_end = head_end if slash < 0 else slash
    if slash >= 0 and text[slash:head_end] != "/":
        raise ConnectionStringError(
            f"the path must be empty or '/', not {source.show(slash, head_end)}"
        )
    targets = _parse_hosts(source, start, hosts_end)
    options: dict[str, Any] = {}
    if query_at >= 0:
        options = _parse_query(source, query_at + 1)
    return ConnectionSpec(
        scheme=scheme,
        targets=targets,
        username=username,
        password=password,
        **options,
    )


def parse_legacy(target: str) -> ConnectionSpec:
    """esdbclient 0.5's ``"host[:port]"`` (port 2113 if left out): one plaintext node.

    The result equals ``parse("esdb://host:port?Tls=false")``.
    """
    if not isinstance(target, str):
        raise ConnectionStringError("a target must be a str")
    return _parse_legacy(target.strip())


def _parse_legacy(text: str) -> ConnectionSpec:
    source = _Source(text, 0)
    if "://" in text:
        raise ConnectionStringError("expected host[:port] without a scheme")
    if not text:
        raise ConnectionStringError("empty connection string")
    target = _parse_host(source, 0, len(text))
    return ConnectionSpec(scheme="esdb", targets=(target,), tls=False)


def _parse_userinfo(userinfo: str) -> tuple[str, str]:
    # Never put userinfo text in a message.
    user_part, colon, password_part = userinfo.partition(":")
    if not colon:
        raise ConnectionStringError("the user info must have the form user:password")
    username = _decode(user_part, "the user name")
    password = _decode(password_part, "the password")
    if not username:
        raise ConnectionStringError("the user name is empty")
    return username, password


def _decode(raw: str, what: str) -> str:
    decoded = _unquote(raw)
    if decoded is None:
        raise ConnectionStringError(f"{what} is not valid percent-encoded UTF-8")
    return decoded


def _unquote(raw: str) -> str | None:
    """Percent-decode as UTF-8 (``+`` stays ``+``); None if an escape or the UTF-8 is bad.

    Returns None rather than raising so that no codec error (which quotes the text) becomes
    the context of the error raised by the caller.
    """
    if _PERCENT.search(raw):
        return None
    try:
        return unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return None


def _parse_hosts(source: _Source, start: int, end: int) -> tuple[tuple[str, int], ...]:
    if start == end:
        raise ConnectionStringError("no host given")
    targets = []
    position = start
    while True:
        comma = source.text.find(",", position, end)
        stop = end if comma < 0 else comma
        targets.append(_parse_host(source, position, stop))
        if comma < 0:
            return tuple(targets)
        position = comma + 1


def _parse_host(source: _Source, start: int, end: int) -> tuple[str, int]:
    text = source.text
    token = text[start:end]
    if not token:
        raise ConnectionStringError("empty host in the host list")
    if token.startswith("["):
        close = token.find("]")
        host = token[1:close] if close > 0 else ""
        rest = token[close + 1 :] if close > 0 else token
        if not _is_ipv6(host):
            raise ConnectionStringError(f"invalid IPv6 address in {source.show(start, end)}")
    else:
        host, colon, port_text = token.partition(":")
        rest = colon + port_text
        if not _HOSTNAME.fullmatch(host):
            raise ConnectionStringError(f"invalid host {source.show(start, end)}")
    if not rest:
        return host, DEFAULT_PORT
    port_text = rest[1:]
    if not rest.startswith(":") or not _PORT.fullmatch(port_text) or not 0 < int(port_text) < 65536:
        raise ConnectionStringError(f"invalid port in host {source.show(start, end)}")
    return host, int(port_text)


def _parse_query(source: _Source, start: int) -> dict[str, Any]:
    text = source.text
    options: dict[str, Any] = {}
    seen: set[str] = set()
    if start == len(text):
        return options
    position = start
    while True:
        amp = text.find("&", position)
        stop = len(text) if amp < 0 else amp
        _parse_option(source, position, stop, options, seen)
        if amp < 0:
            return options
        position = amp + 1


def _parse_option(
    source: _Source, start: int, end: int, options: dict[str, Any], seen: set[str]
) -> None:
    text = source.text
    if start == end:
        raise ConnectionStringError("empty option in the query string (stray '&'?)")
    equals = text.find("=", start, end)
    if equals < 0:
        raise ConnectionStringError(f"option {source.show(start, end)} has no '=value'")
    key_shown = source.show(start, equals)
    value_shown = source.show(equals + 1, end)
    raw_key = text[start:equals]
    key = _KEYS_BY_LOWER.get(raw_key.lower())
    if key is None:
        raise ConnectionStringError(
            f"unknown option {key_shown}; known options: {', '.join(_OPTION_FIELDS)}"
        )
    if key in seen:
        raise ConnectionStringError(f"option {key} is given more than once")
    seen.add(key)
    raw_value = text[equals + 1 : end]
    name, kind = _OPTION_FIELDS[key]
    if not raw_value:
        raise ConnectionStringError(f"option {key_shown} has an empty value")
    value = _unquote(raw_value)
    if value is None:
        raise ConnectionStringError(
            f"invalid value {value_shown} for option {key_shown}: bad percent-encoding"
        )
    options[name] = _convert(key_shown, value_shown, kind, name, value)


def _convert(key_shown: str, value_shown: str, kind: str, name: str, value: str) -> object:
    def invalid(expected: str) -> ConnectionStringError:
        return ConnectionStringError(
            f"invalid value {value_shown} for option {key_shown}: expected {expected}"
        )

    if kind == _BOOL:
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise invalid("true or false")
        return lowered == "true"
    if kind == _STR:
        return value
    if kind == _PREFERENCE:
        lowered = value.lower()
        if lowered not in NODE_PREFERENCES:
            raise invalid(" or ".join(NODE_PREFERENCES))
        return lowered
    if not _INTEGER.fullmatch(value):
        raise invalid("an integer")
    number = int(value)
    if kind == _INT:
        if number < 1:
            raise invalid("an integer >= 1")
        return number
    minimum, optional = _DURATION_RULES[name]
    if optional and number == -1:
        return None
    if number < minimum:
        expected = f"a number of milliseconds >= {minimum}"
        raise invalid(expected + (", or -1 to disable" if optional else ""))
    return number / 1000
