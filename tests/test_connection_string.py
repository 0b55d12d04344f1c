"""esdb_wire.connection_string: parsing, defaults, errors, secrecy of the password, round trips."""

from __future__ import annotations

import dataclasses
import pickle
import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esdb_wire.connection_string import (
    DEFAULT_PORT,
    NODE_PREFERENCES,
    SCHEMES,
    ConnectionSpec,
    ConnectionStringError,
    default_connection_name,
    parse,
    parse_legacy,
)

# ---------------------------------------------------------------------------------------------
# Schemes and defaults


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme(scheme: str) -> None:
    spec = parse(f"{scheme}://localhost")
    assert spec.scheme == scheme
    assert spec.discover is scheme.endswith("+discover")
    assert spec.uses_gossip is spec.discover
    assert spec.targets == (("localhost", DEFAULT_PORT),)


@pytest.mark.parametrize("scheme", ["ESDB", "KurrentDB+Discover", "Kdb", "KURRENT+DISCOVER"])
def test_scheme_is_case_insensitive_and_stored_lower_case(scheme: str) -> None:
    spec = parse(f"{scheme}://localhost")
    assert spec.scheme == scheme.lower()
    assert spec.discover is scheme.lower().endswith("+discover")


@pytest.mark.parametrize("scheme", ["http", "esdb+tls", "kurrentdb+", "tcp", "grpc"])
def test_unknown_scheme(scheme: str) -> None:
    with pytest.raises(ConnectionStringError, match=re.escape(repr(scheme))):
        parse(f"{scheme}://localhost")


def test_defaults() -> None:
    spec = parse("kurrentdb://localhost")
    assert spec == ConnectionSpec(scheme="kurrentdb")
    assert spec.targets == (("localhost", 2113),)
    assert spec.username is None
    assert spec.password is None
    assert spec.tls is True
    assert spec.tls_verify_cert is True
    assert spec.tls_ca_file is None
    assert spec.user_cert_file is None
    assert spec.user_key_file is None
    assert spec.connection_name is None
    assert spec.node_preference == "leader"
    assert spec.default_deadline == 10.0
    assert spec.gossip_timeout == 5.0
    assert spec.max_discover_attempts == 10
    assert spec.discovery_interval == 0.1
    assert spec.keep_alive_interval == 10.0
    assert spec.keep_alive_timeout == 10.0
    assert spec.throw_on_append_failure is True
    assert spec.to_uri() == "kurrentdb://localhost:2113"


def test_default_connection_name_is_a_fresh_uuid() -> None:
    first, second = default_connection_name(), default_connection_name()
    assert first != second
    assert str(uuid.UUID(first)) == first


def test_surrounding_whitespace_and_trailing_slash() -> None:
    assert parse("  esdb://localhost/  ") == parse("esdb://localhost")
    assert parse("esdb://localhost/?Tls=false") == parse("esdb://localhost?Tls=false")
    assert parse("esdb://localhost?") == parse("esdb://localhost")


@pytest.mark.parametrize("path", ["/x", "//", "/db/", "/a"])
def test_path_must_be_empty_or_slash(path: str) -> None:
    with pytest.raises(ConnectionStringError, match="path"):
        parse(f"esdb://localhost{path}?Tls=false")


# ---------------------------------------------------------------------------------------------
# Options: valid values


VALID: list[tuple[str, str, str, Any]] = [
    ("Tls", "false", "tls", False),
    ("Tls", "true", "tls", True),
    ("TlsVerifyCert", "false", "tls_verify_cert", False),
    ("TlsCaFile", "/etc/ca.pem", "tls_ca_file", "/etc/ca.pem"),
    ("TlsCaFile", "C%3A%5Ccerts%5Cca.crt", "tls_ca_file", "C:\\certs\\ca.crt"),
    ("ConnectionName", "my%20app+1", "connection_name", "my app+1"),
    ("ConnectionName", "a=b", "connection_name", "a=b"),
    ("NodePreference", "leader", "node_preference", "leader"),
    ("NodePreference", "Follower", "node_preference", "follower"),
    ("NodePreference", "RANDOM", "node_preference", "random"),
    ("NodePreference", "ReadOnlyReplica", "node_preference", "readonlyreplica"),
    ("DefaultDeadline", "2500", "default_deadline", 2.5),
    ("DefaultDeadline", "1", "default_deadline", 0.001),
    ("DefaultDeadline", "-1", "default_deadline", None),
    ("GossipTimeout", "1000", "gossip_timeout", 1.0),
    ("MaxDiscoverAttempts", "3", "max_discover_attempts", 3),
    ("DiscoveryInterval", "500", "discovery_interval", 0.5),
    ("DiscoveryInterval", "0", "discovery_interval", 0.0),
    ("KeepAliveInterval", "20000", "keep_alive_interval", 20.0),
    ("KeepAliveInterval", "0", "keep_alive_interval", 0.0),
    ("KeepAliveInterval", "-1", "keep_alive_interval", None),
    ("KeepAliveTimeout", "30000", "keep_alive_timeout", 30.0),
    ("KeepAliveTimeout", "-1", "keep_alive_timeout", None),
    ("ThrowOnAppendFailure", "false", "throw_on_append_failure", False),
]


@pytest.mark.parametrize(("key", "value", "name", "expected"), VALID)
def test_option_valid_value(key: str, value: str, name: str, expected: Any) -> None:
    spec = parse(f"esdb://localhost?{key}={value}")
    assert getattr(spec, name) == expected
    assert parse(spec.to_uri()) == spec


def test_user_cert_and_key_files() -> None:
    spec = parse("esdb://localhost?UserCertFile=%2Fc%2Fuser.crt&UserKeyFile=/c/user.key")
    assert spec.user_cert_file == "/c/user.crt"
    assert spec.user_key_file == "/c/user.key"
    assert parse(spec.to_uri()) == spec


@pytest.mark.parametrize("option", ["UserCertFile=a.crt", "UserKeyFile=a.key"])
def test_user_cert_and_key_files_go_together(option: str) -> None:
    with pytest.raises(ConnectionStringError, match="UserCertFile and UserKeyFile"):
        parse(f"esdb://localhost?{option}")


def test_all_options_together() -> None:
    spec = parse(
        "kurrentdb+discover://admin:changeit@cluster.example.com:2113?tls=true"
        "&tlsVerifyCert=false&tlsCaFile=ca.pem&userCertFile=u.crt&userKeyFile=u.key"
        "&connectionName=app&nodePreference=follower&defaultDeadline=3000&gossipTimeout=2000"
        "&maxDiscoverAttempts=5&discoveryInterval=250&keepAliveInterval=15000"
        "&keepAliveTimeout=12000&throwOnAppendFailure=false"
    )
    assert spec == ConnectionSpec(
        scheme="kurrentdb+discover",
        targets=(("cluster.example.com", 2113),),
        username="admin",
        password="changeit",
        tls=True,
        tls_verify_cert=False,
        tls_ca_file="ca.pem",
        user_cert_file="u.crt",
        user_key_file="u.key",
        connection_name="app",
        node_preference="follower",
        default_deadline=3.0,
        gossip_timeout=2.0,
        max_discover_attempts=5,
        discovery_interval=0.25,
        keep_alive_interval=15.0,
        keep_alive_timeout=12.0,
        throw_on_append_failure=False,
    )
    assert spec.discover
    assert spec.uses_gossip
    assert parse(spec.to_uri()) == spec


# ---------------------------------------------------------------------------------------------
# Options: invalid values


INVALID: list[tuple[str, str]] = [
    ("Tls", "yes"),
    ("Tls", "1"),
    ("Tls", "truee"),
    ("TlsVerifyCert", "no"),
    ("ThrowOnAppendFailure", "0"),
    ("NodePreference", "master"),
    ("NodePreference", "read_only_replica"),
    ("DefaultDeadline", "0"),
    ("DefaultDeadline", "-2"),
    ("DefaultDeadline", "1.5"),
    ("DefaultDeadline", "ten"),
    ("GossipTimeout", "0"),
    ("GossipTimeout", "-1"),
    ("GossipTimeout", "5s"),
    ("MaxDiscoverAttempts", "0"),
    ("MaxDiscoverAttempts", "-1"),
    ("MaxDiscoverAttempts", "1e3"),
    ("DiscoveryInterval", "-1"),
    ("DiscoveryInterval", "0x10"),
    ("KeepAliveInterval", "-2"),
    ("KeepAliveInterval", "abc"),
    ("KeepAliveTimeout", "-33"),
    ("KeepAliveTimeout", "1_000"),
    ("KeepAliveTimeout", "%ZZ"),
    ("ConnectionName", "%E2%28"),
]


@pytest.mark.parametrize(("key", "value"), INVALID)
def test_option_invalid_value_names_key_and_value(key: str, value: str) -> None:
    with pytest.raises(ConnectionStringError) as info:
        parse(f"esdb://admin:s3cret@localhost?{key}={value}")
    message = str(info.value)
    assert repr(key) in message
    assert repr(value) in message
    assert "s3cret" not in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "key", ["Tls", "ConnectionName", "NodePreference", "GossipTimeout", "TlsCaFile"]
)
def test_option_empty_value(key: str) -> None:
    with pytest.raises(ConnectionStringError, match=f"{key}.*empty value"):
        parse(f"esdb://localhost?{key}=")


@pytest.mark.parametrize("key", ["Bogus", "TlsVerifyHostname", "dnsDiscover", "feature", "tls_ca"])
def test_unknown_key_is_named(key: str) -> None:
    with pytest.raises(ConnectionStringError, match=f"unknown option {re.escape(repr(key))}"):
        parse(f"esdb://admin:changeit@localhost?Tls=false&{key}=1")


@pytest.mark.parametrize(
    "query", ["Tls=true&Tls=false", "tls=false&TLS=false", "GossipTimeout=1&gossiptimeout=2"]
)
def test_duplicate_keys_are_an_error(query: str) -> None:
    with pytest.raises(ConnectionStringError, match="more than once"):
        parse(f"esdb://localhost?{query}")


@pytest.mark.parametrize(
    ("query", "match"),
    [("Tls", "no '=value'"), ("Tls=false&", "empty option"), ("&Tls=false", "empty option")],
)
def test_malformed_query(query: str, match: str) -> None:
    with pytest.raises(ConnectionStringError, match=match):
        parse(f"esdb://localhost?{query}")


# ---------------------------------------------------------------------------------------------
# Case-insensitivity


@pytest.mark.parametrize("key", ["tls", "TLS", "tLs", "Tls"])
@pytest.mark.parametrize(
    ("value", "expected"), [("false", False), ("FALSE", False), ("True", True)]
)
def test_keys_and_bool_values_are_case_insensitive(key: str, value: str, expected: bool) -> None:
    assert parse(f"esdb://localhost?{key}={value}").tls is expected


@pytest.mark.parametrize(
    "key",
    ["MAXDISCOVERATTEMPTS", "maxdiscoverattempts", "MaxDiscoverAttempts", "mAxDiScOvErAtTeMpTs"],
)
def test_every_key_case(key: str) -> None:
    assert parse(f"esdb://localhost?{key}=7").max_discover_attempts == 7


def test_rust_mixed_case_fixture() -> None:
    spec = parse(
        "kurrentdb://host?MaxDiscoverAttempts=200&discoveryinterval=1000&GOSSIPTIMEOUT=1"
        "&nOdEpReFeReNcE=leader&TLS=false&TlsVerifyCert=false&THROWOnAppendFailure=true"
    )
    assert spec.max_discover_attempts == 200
    assert spec.discovery_interval == 1.0
    assert spec.gossip_timeout == 0.001
    assert spec.node_preference == "leader"
    assert spec.tls is False
    assert spec.tls_verify_cert is False
    assert spec.throw_on_append_failure is True


# ---------------------------------------------------------------------------------------------
# Hosts


def test_multiple_hosts_are_gossip_seeds() -> None:
    spec = parse("esdb://host1:1234,host2:4321,host3")
    assert spec.targets == (("host1", 1234), ("host2", 4321), ("host3", 2113))
    assert not spec.discover
    assert spec.uses_gossip


def test_single_host_is_direct() -> None:
    spec = parse("esdb://host1:1234")
    assert not spec.uses_gossip


def test_discover_with_several_hosts_keeps_them_all() -> None:
    spec = parse("esdb+discover://a,b:2,c")
    assert spec.targets == (("a", 2113), ("b", 2), ("c", 2113))
    assert spec.uses_gossip


def test_same_host_twice_is_kept() -> None:
    assert parse("esdb://127.0.0.1:2110,127.0.0.1:2110").targets == (("127.0.0.1", 2110),) * 2


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        ("[::1]", (("::1", 2113),)),
        ("[::1]:1234", (("::1", 1234),)),
        ("[2001:db8::7]:2113,[fe80::1]", (("2001:db8::7", 2113), ("fe80::1", 2113))),
        ("[::ffff:10.0.0.1]:1,host", (("::ffff:10.0.0.1", 1), ("host", 2113))),
        ("10.0.0.1:2113", (("10.0.0.1", 2113),)),
        ("eventstore_db:2115", (("eventstore_db", 2115),)),
        ("Node-1.Example.COM", (("Node-1.Example.COM", 2113),)),
    ],
)
def test_hosts(hosts: str, expected: tuple[tuple[str, int], ...]) -> None:
    spec = parse(f"esdb://{hosts}")
    assert spec.targets == expected
    assert parse(spec.to_uri()) == spec


def test_ipv6_written_back_in_brackets() -> None:
    assert parse("esdb://[::1]").to_uri() == "esdb://[::1]:2113"


@pytest.mark.parametrize(
    ("hosts", "match"),
    [
        ("", "no host"),
        ("a,,b", "empty host"),
        ("a,", "empty host"),
        (",a", "empty host"),
        ("::1", "invalid host"),
        ("[::1", "invalid IPv6"),
        ("[zz::1]:2113", "invalid IPv6"),
        ("[10.0.0.1]", "invalid IPv6"),
        ("[::1]2113", "invalid port"),
        ("host:", "invalid port"),
        ("host:0", "invalid port"),
        ("host:65536", "invalid port"),
        ("host:12a", "invalid port"),
        ("host:-1", "invalid port"),
        ("host:1:2", "invalid port"),
        ("ho st", "invalid host"),
        ("h%41st", "invalid host"),
        (":2113", "invalid host"),
    ],
)
def test_invalid_hosts(hosts: str, match: str) -> None:
    with pytest.raises(ConnectionStringError, match=match):
        parse(f"esdb://{hosts}?Tls=false")


def test_port_with_leading_zero() -> None:
    assert parse("esdb://host:02113").targets == (("host", 2113),)


# ---------------------------------------------------------------------------------------------
# Credentials


@pytest.mark.parametrize(
    ("userinfo", "username", "password"),
    [
        ("admin:changeit", "admin", "changeit"),
        ("ad%3Amin:pa%40ss%3Aw%2Ford", "ad:min", "pa@ss:w/ord"),
        ("%C3%A9l%C3%A8ve:p%C3%A4ss", "élève", "päss"),
        ("user:pa+ss%20x", "user", "pa+ss x"),
        ("user:pa:ss", "user", "pa:ss"),
        ("user:p@ss", "user", "p@ss"),
        ("user:ab/cd==", "user", "ab/cd=="),
        ("user:", "user", ""),
        ("user:%25", "user", "%"),
    ],
)
def test_credentials_are_percent_decoded(userinfo: str, username: str, password: str) -> None:
    spec = parse(f"esdb://{userinfo}@localhost:2113?Tls=true")
    assert spec.username == username
    assert spec.password == password
    assert spec.targets == (("localhost", 2113),)
    assert parse(spec.to_uri()) == spec


def test_no_credentials_needed_with_tls() -> None:
    spec = parse("esdb://localhost?Tls=true")
    assert spec.tls
    assert spec.username is None
    assert spec.password is None


def test_at_sign_in_query_value_is_not_user_info() -> None:
    spec = parse("esdb://localhost?ConnectionName=me@example")
    assert spec.username is None
    assert spec.connection_name == "me@example"


@pytest.mark.parametrize(
    ("userinfo", "match"),
    [
        ("admin", "user:password"),
        (":changeit", "user name is empty"),
        ("admin:%zz-secret", "password is not valid"),
        ("admin:%FFsecret", "password is not valid"),
        ("ad%min:secret", "user name is not valid"),
    ],
)
def test_invalid_credentials(userinfo: str, match: str) -> None:
    with pytest.raises(ConnectionStringError, match=match) as info:
        parse(f"esdb://{userinfo}@localhost")
    assert "secret" not in str(info.value)
    assert "changeit" not in str(info.value)


def test_unencoded_question_mark_in_password_is_not_echoed() -> None:
    with pytest.raises(ConnectionStringError) as info:
        parse("esdb://admin:pa?ss@host:2113?Tls=false")
    message = str(info.value)
    assert "not shown" in message
    assert "admin:pa" not in message
    assert "pa?ss" not in message


def test_text_before_the_last_at_sign_is_never_echoed() -> None:
    with pytest.raises(ConnectionStringError) as info:
        parse("esdb://admin:1234?x@host")
    assert "x@host" not in str(info.value)
    assert "'x" not in str(info.value)


def test_repr_masks_password() -> None:
    spec = parse("esdb://admin:changeit@localhost?Tls=false")
    assert "changeit" not in repr(spec)
    assert "changeit" not in str(spec)
    assert "password='***'" in repr(spec)
    assert "username='admin'" in repr(spec)
    assert "changeit" in spec.to_uri()
    assert "password=None" in repr(parse("esdb://localhost"))


# ---------------------------------------------------------------------------------------------
# esdbclient 0.5 "host:port"


@pytest.mark.parametrize(
    ("target", "host", "port"),
    [
        ("localhost:2113", "localhost", 2113),
        ("localhost", "localhost", 2113),
        ("127.0.0.1:1234", "127.0.0.1", 1234),
        ("[::1]:2114", "::1", 2114),
        ("[::1]", "::1", 2113),
        (" example.com:80 ", "example.com", 80),
    ],
)
def test_legacy_host_port(target: str, host: str, port: int) -> None:
    spec = parse(target)
    assert spec == parse_legacy(target)
    assert spec == parse(f"esdb://{_bracket(host)}:{port}?Tls=false")
    assert spec.tls is False
    assert spec.scheme == "esdb"
    assert spec.targets == ((host, port),)
    assert not spec.uses_gossip
    assert parse(spec.to_uri()) == spec


@pytest.mark.parametrize(
    "target", ["", "host:port", "a,b", "host:2113?Tls=false", "host/", "user:pw@host"]
)
def test_legacy_invalid(target: str) -> None:
    with pytest.raises(ConnectionStringError):
        parse(target)


def test_legacy_can_be_refused() -> None:
    with pytest.raises(ConnectionStringError, match="missing scheme"):
        parse("localhost:2113", allow_legacy=False)
    assert parse("esdb://localhost", allow_legacy=False).tls is True


def test_parse_legacy_refuses_connection_strings() -> None:
    with pytest.raises(ConnectionStringError, match="without a scheme"):
        parse_legacy("esdb://localhost:2113")


def test_non_string_input() -> None:
    with pytest.raises(ConnectionStringError):
        parse(b"esdb://localhost")  # type: ignore[arg-type]
    with pytest.raises(ConnectionStringError):
        parse_legacy(None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# ConnectionSpec built directly


def test_spec_normalises() -> None:
    spec = ConnectionSpec(
        scheme="KDB+Discover",  # type: ignore[arg-type]
        targets=[["h", 1]],  # type: ignore[arg-type]
        node_preference="Random",  # type: ignore[arg-type]
        gossip_timeout=2,
        discovery_interval=0.1000000000000001,
    )
    assert spec.scheme == "kdb+discover"
    assert spec.discover is True
    assert spec.targets == (("h", 1),)
    assert spec.node_preference == "random"
    assert spec.gossip_timeout == 2.0
    assert isinstance(spec.gossip_timeout, float)
    assert spec.discovery_interval == 0.1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scheme": "http"},
        {"targets": ()},
        {"targets": "localhost:2113"},
        {"targets": (("localhost",),)},
        {"targets": (("bad host", 1),)},
        {"targets": (("h", 0),)},
        {"targets": (("h", True),)},
        {"targets": (("fe80::1%eth0", 1),)},
        {"username": "admin"},
        {"password": "pw"},
        {"username": "", "password": "pw"},
        {"username": "u", "password": "\ud800"},
        {"tls": 1},
        {"tls_ca_file": ""},
        {"connection_name": 5},
        {"user_cert_file": "c"},
        {"node_preference": "master"},
        {"max_discover_attempts": 0},
        {"max_discover_attempts": True},
        {"max_discover_attempts": 2.0},
        {"gossip_timeout": None},
        {"gossip_timeout": 0},
        {"gossip_timeout": 0.0001},
        {"default_deadline": 0},
        {"default_deadline": float("inf")},
        {"default_deadline": float("nan")},
        {"discovery_interval": -0.001},
        {"keep_alive_interval": "10"},
        {"keep_alive_timeout": True},
    ],
)
def test_spec_rejects(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConnectionStringError):
        ConnectionSpec(**kwargs)


def test_spec_password_not_in_validation_errors() -> None:
    with pytest.raises(ConnectionStringError) as info:
        ConnectionSpec(username="u", password="abc\udfffxyz")
    assert "abc" not in str(info.value)
    assert "xyz" not in str(info.value)
    assert info.value.__context__ is None


def test_to_uri_leaves_out_defaults_and_uses_canonical_keys() -> None:
    spec = ConnectionSpec(
        scheme="kurrentdb",
        targets=(("a", 1), ("::1", 2)),
        tls=False,
        default_deadline=None,
        tls_ca_file="/etc/my ca&x.pem",
    )
    assert spec.to_uri() == (
        "kurrentdb://a:1,[::1]:2?Tls=false&TlsCaFile=/etc/my%20ca%26x.pem&DefaultDeadline=-1"
    )
    assert parse(spec.to_uri()) == spec


def test_replace_recomputes_discover_and_pickle_round_trips() -> None:
    spec = parse("esdb+discover://u:p@h?Tls=false")
    changed = dataclasses.replace(spec, scheme="kdb")
    assert changed.discover is False
    assert changed.tls is False
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_spec_is_hashable_and_frozen() -> None:
    spec = parse("esdb://localhost")
    assert hash(spec) == hash(parse("esdb://localhost:2113/"))
    with pytest.raises(AttributeError):
        spec.tls = False  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Properties (hypothesis)

_hostnames = st.from_regex(r"[A-Za-z0-9._-]{1,24}", fullmatch=True)
_hosts = st.one_of(
    _hostnames,
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
_targets = st.lists(st.tuples(_hosts, st.integers(1, 65535)), min_size=1, max_size=4).map(tuple)
_text = st.text(min_size=1, max_size=30)


def _ms(minimum: int) -> st.SearchStrategy[float]:
    return st.integers(minimum, 10**9).map(lambda ms: ms / 1000)


@st.composite
def _specs(draw: st.DrawFn) -> ConnectionSpec:
    kwargs: dict[str, Any] = {
        "scheme": draw(st.sampled_from(SCHEMES)),
        "targets": draw(_targets),
        "tls": draw(st.booleans()),
        "tls_verify_cert": draw(st.booleans()),
        "tls_ca_file": draw(st.none() | _text),
        "connection_name": draw(st.none() | _text),
        "node_preference": draw(st.sampled_from(NODE_PREFERENCES)),
        "default_deadline": draw(st.none() | _ms(1)),
        "gossip_timeout": draw(_ms(1)),
        "max_discover_attempts": draw(st.integers(1, 10**6)),
        "discovery_interval": draw(_ms(0)),
        "keep_alive_interval": draw(st.none() | _ms(0)),
        "keep_alive_timeout": draw(st.none() | _ms(0)),
        "throw_on_append_failure": draw(st.booleans()),
    }
    if draw(st.booleans()):
        kwargs["username"] = draw(_text)
        kwargs["password"] = draw(st.text(max_size=30))
    if draw(st.booleans()):
        kwargs["user_cert_file"] = draw(_text)
        kwargs["user_key_file"] = draw(_text)
    return ConnectionSpec(**kwargs)


@given(_specs())
@settings(max_examples=300)
def test_round_trip(spec: ConnectionSpec) -> None:
    uri = spec.to_uri()
    assert parse(uri) == spec
    assert parse(uri, allow_legacy=False).to_uri() == uri


@given(_specs())
def test_repr_never_shows_the_password(spec: ConnectionSpec) -> None:
    if spec.password is None:
        return
    other = ConnectionSpec(**{**_init_kwargs(spec), "password": "x"})
    assert _not_leaked(spec.password, repr(spec), repr(other))
    assert _not_leaked(spec.password, str(spec), str(other))
    assert repr(spec) == repr(other)


# Endings that make a connection string invalid, each for a different reason.
_BAD_ENDINGS = [
    "localhost?Bogus=1",
    "localhost?Tls=maybe",
    "localhost?NodePreference=nearest",
    "localhost?GossipTimeout=-5",
    "localhost?KeepAliveInterval=x&Tls=false",
    "localhost?Tls=true&tls=false",
    "localhost?UserCertFile=a",
    "localhost?ConnectionName=",
    "localhost?Tls",
    "localhost?&",
    "localhost/path",
    "localhost:notaport",
    "localhost:99999",
    "[::1",
    "a,,b",
    "",
]


@given(password=st.text(max_size=40), ending=st.sampled_from(_BAD_ENDINGS))
@settings(max_examples=500)
def test_password_never_in_error_messages(password: str, ending: str) -> None:
    for encode in (True, False):
        written = quote(password, safe="") if encode else password
        reference = _outcome(f"esdb://admin:x@{ending}")
        assert isinstance(reference, ConnectionStringError)
        outcome = _outcome(f"esdb://admin:{written}@{ending}")
        if isinstance(outcome, ConnectionStringError):
            assert outcome.__context__ is None
            for form in (str, repr, lambda exc: repr(exc.args)):
                assert _not_leaked(password, form(outcome), form(reference))
                assert _not_leaked(written, form(outcome), form(reference))
        else:
            # An unencoded password can turn a bad ending into a valid string; repr hides it.
            assert not encode
            if outcome.password is not None:
                assert "password='***'" in repr(outcome)
                other = _with_password(outcome, "x")
                assert _not_leaked(outcome.password, repr(outcome), repr(other))


@given(password=st.text(min_size=1, max_size=40), key=_hostnames)
def test_password_never_in_unknown_key_error(password: str, key: str) -> None:
    uri = f"kurrentdb://user:{quote(password, safe='')}@host:2113?{key}Zz=1"
    with pytest.raises(ConnectionStringError) as info:
        parse(uri)
    reference = _error_text(f"kurrentdb://user:x@host:2113?{key}Zz=1")
    assert str(info.value) == reference
    assert _not_leaked(password, str(info.value), reference)
    assert f"{key}Zz" in str(info.value)


@given(username=_text, password=st.text(max_size=40), targets=_targets)
def test_credentials_round_trip_through_percent_encoding(
    username: str, password: str, targets: tuple[tuple[str, int], ...]
) -> None:
    hosts = ",".join(f"{_bracket(h)}:{p}" for h, p in targets)
    spec = parse(f"esdb://{quote(username, safe='')}:{quote(password, safe='')}@{hosts}")
    assert (spec.username, spec.password, spec.targets) == (username, password, targets)


@given(
    key=st.sampled_from(["Tls", "TlsVerifyCert", "ThrowOnAppendFailure"]),
    value=st.booleans(),
    data=st.data(),
)
def test_bool_values_any_case(key: str, value: bool, data: st.DataObject) -> None:
    word = "".join(
        c.upper() if data.draw(st.booleans()) else c for c in ("true" if value else "false")
    )
    cased_key = "".join(c.upper() if data.draw(st.booleans()) else c.lower() for c in key)
    spec = parse(f"esdb://h?{cased_key}={word}")
    assert spec.to_uri() == ("esdb://h:2113" if value else f"esdb://h:2113?{key}=false")


_URI_PIECES = st.sampled_from(
    [*"?@/:,&=%#[]aZ9 +-._", "%3F", "%40", "%zz", "%C3%A9", "Tls", "=false", "localhost", "::1"]
)


@given(
    prefix=st.sampled_from(["", "esdb://", "kurrentdb+discover://", "kdb://u:p@"]),
    rest=st.one_of(st.text(max_size=30), st.lists(_URI_PIECES, max_size=20).map("".join)),
)
@settings(max_examples=500)
def test_any_string_parses_or_raises_connection_string_error(prefix: str, rest: str) -> None:
    outcome = _outcome(prefix + rest)
    if isinstance(outcome, ConnectionSpec):
        assert parse(outcome.to_uri()) == outcome


# ---------------------------------------------------------------------------------------------
# helpers


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _outcome(uri: str) -> ConnectionSpec | ConnectionStringError:
    try:
        return parse(uri)
    except ConnectionStringError as exc:
        return exc


def _error_text(uri: str) -> str:
    try:
        parse(uri)
    except ConnectionStringError as exc:
        return str(exc)
    return ""


_NOT_SHOWN = re.compile(r"\(not shown: [^)]*\)")


def _not_leaked(secret: str, text: str, reference: str) -> bool:
    """The secret is absent from text, or is also in the same text made with another secret.

    The fixed "(not shown: ...)" placeholder is ignored (a one-character secret may be in it).
    """
    text = _NOT_SHOWN.sub("", text)
    return secret not in text or secret in reference


def _init_kwargs(spec: ConnectionSpec) -> dict[str, Any]:
    names = [name for name in ConnectionSpec.__dataclass_fields__ if name != "discover"]
    return {name: getattr(spec, name) for name in names}


def _with_password(spec: ConnectionSpec, password: str) -> ConnectionSpec:
    return ConnectionSpec(**{**_init_kwargs(spec), "password": password})
