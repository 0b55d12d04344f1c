"""Write the blocking twins of the asyncio client modules and of their tests.

The asyncio code is the source; each blocking module is generated from it by rewriting
its tokens (the approach of httpcore's ``unasync``), then tidied by ruff (imports sorted,
imports left unused dropped, nested ``with`` blocks merged, ``yield from``, formatted).
The rules:

* ``async`` and ``await`` go (``async def``/``with``/``for``, ``await x``, ``async for``
  in comprehensions);
* ``Awaitable[X]`` becomes ``X``;
* names: ``AsyncX`` becomes ``X`` and ``async_x`` becomes ``x`` (``AsyncLock`` ->
  ``Lock``, ``async_sleep`` -> ``sleep``), plus the fixed pairs in ``NAMES``
  (``__aiter__`` -> ``__iter__``, ``StopAsyncIteration`` -> ``StopIteration``, ...);
* dotted module names in ``MODULES`` (``esdb_wire.transport.aio`` ->
  ``esdb_wire.transport.blocking``), and each source module's name to its twin's;
* in strings and comments, the same names, and the phrases in ``PROSE``; a note in
  parentheses that opens with ``asyncio:`` (`` (asyncio: awaiting it is optional)``) is
  dropped, with the space before it.

What really differs (locks, sleeping, waiting for a call's end) lives in the hand-written
pair ``esdb_wire/client/aio_backend.py`` / ``sync_backend.py``, whose names the rules map.

``python scripts/unasync.py`` writes the twins; ``--check`` only compares and fails
(exit 1) when one is stale.
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE_LENGTH = 100  # pyproject.toml's [tool.ruff] line-length

# Source -> generated twin.
PAIRS = {
    "esdb_wire/client/aio_base.py": "esdb_wire/client/sync_base.py",
    "esdb_wire/client/aio_response_stream.py": "esdb_wire/client/sync_response_stream.py",
    "esdb_wire/client/aio_responses.py": "esdb_wire/client/sync_responses.py",
    "esdb_wire/client/aio_persistent.py": "esdb_wire/client/sync_persistent.py",
    "esdb_wire/client/aio_admin.py": "esdb_wire/client/sync_admin.py",
    "esdb_wire/client/aio_projections.py": "esdb_wire/client/sync_projections.py",
    "esdb_wire/client/aio_client.py": "esdb_wire/client/sync_client.py",
    "esdb_wire/client/aio_v05.py": "esdb_wire/client/sync_v05.py",
    "esdb_wire/client/aio_v2.py": "esdb_wire/client/sync_v2.py",
    "esdb_wire/client/aio.py": "esdb_wire/client/sync.py",
    "tests/client/test_async_client.py": "tests/client/test_sync_client.py",
    "tests/client/test_async_undecodable.py": "tests/client/test_sync_undecodable.py",
    "tests/client_v1/_async_helpers.py": "tests/client_v1/_sync_helpers.py",
    "tests/client_v1/test_async_v1_streams.py": "tests/client_v1/test_sync_v1_streams.py",
    "tests/client_v1/test_async_v1_subscriptions.py": (
        "tests/client_v1/test_sync_v1_subscriptions.py"
    ),
    "tests/client_v1/test_async_v1_calls.py": "tests/client_v1/test_sync_v1_calls.py",
    "tests/client_persistent/test_async_persistent.py": (
        "tests/client_persistent/test_sync_persistent.py"
    ),
    "tests/client_secure/test_async_tls.py": "tests/client_secure/test_sync_tls.py",
    "tests/client_admin/test_async_projections.py": "tests/client_admin/test_sync_projections.py",
    "tests/client_admin/test_async_admin.py": "tests/client_admin/test_sync_admin.py",
    "tests/client_secure/test_async_users.py": "tests/client_secure/test_sync_users.py",
    "tests/client_v2/test_async_v2_streams.py": "tests/client_v2/test_sync_v2_streams.py",
    "tests/instrumentation/test_async_tracing.py": "tests/instrumentation/test_sync_tracing.py",
    "tests/cluster/test_async_cluster_client.py": "tests/cluster/test_sync_cluster_client.py",
}


def _module(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


MODULES = {
    "esdb_wire.transport.aio": "esdb_wire.transport.blocking",
    "esdb_wire.client.aio_backend": "esdb_wire.client.sync_backend",
    **{_module(source): _module(target) for source, target in PAIRS.items()},
}

NAMES = {
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "aclose": "close",
    "StopAsyncIteration": "StopIteration",
    "AsyncCall": "BlockingCall",  # the blocking driver's name for a call
}

PROSE = [
    (re.compile(r" async(\s+)(?=(?:iterators?|with|for)\b)"), r"\1"),  # maybe wrapped
    (re.compile(r"\basync (?=(?:iterators?|with|for)\b)"), ""),
    (re.compile(r"\bawait (?=\w)"), ""),
    (re.compile(r"\basyncio\b"), "blocking"),
]

# A note for the asyncio code only, after a space: "(asyncio: ...)", one level of nested
# parentheses allowed.
_NOTE = re.compile(r" \(asyncio: (?:[^()]|\([^()]*\))*\)")
_ASYNC_CLASS = re.compile(r"Async(?=[A-Z])")
_ASYNC_FUNCTION = re.compile(r"async_(?=[a-z])")
_WORD = re.compile(r"\b[A-Za-z_]\w*\b")
_DOTTED = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\b")


def rename(name: str) -> str:
    """A name's blocking twin (the name itself when the rules say nothing)."""
    if name in NAMES:
        return NAMES[name]
    if _ASYNC_CLASS.match(name):
        return name[len("Async") :]
    if _ASYNC_FUNCTION.match(name):
        return name[len("async_") :]
    return name


def rename_module(dotted: str) -> str:
    """``dotted`` with its longest module prefix in MODULES replaced."""
    parts = dotted.split(".")
    for end in range(len(parts), 1, -1):
        target = MODULES.get(".".join(parts[:end]))
        if target is not None:
            return ".".join([target, *parts[end:]])
    return dotted


def rewrite_text(text: str) -> str:
    """Strings and comments: asyncio notes, module names, names, the prose phrases."""
    text = _NOTE.sub("", text)
    text = _DOTTED.sub(lambda match: rename_module(match.group()), text)
    text = _WORD.sub(lambda match: rename(match.group()), text)
    for pattern, replacement in PROSE:
        text = pattern.sub(replacement, text)
    return text


def _closing_bracket(tokens: list[tokenize.TokenInfo], opening: int) -> int:
    depth = 0
    for index in range(opening, len(tokens)):
        if tokens[index].type == tokenize.OP:
            depth += {"[": 1, "]": -1}.get(tokens[index].string, 0)
            if depth == 0:
                return index
    raise SyntaxError("unbalanced brackets")


def _dotted_end(tokens: list[tokenize.TokenInfo], first: int) -> int:
    last = first
    while tokens[last + 1].string == "." and tokens[last + 2].type == tokenize.NAME:
        last += 2
    return last


def unasync(source: str) -> str:
    """The token-level rewrite of one module (before ruff tidies it)."""
    lines = [*source.splitlines(keepends=True), ""]  # the end marker's line too
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    replaced: dict[int, str] = {}  # token index -> its new text ("" drops it)
    glued: set[int] = set()  # tokens whose leading white space goes too
    for index, token in enumerate(tokens):
        if index in replaced:
            continue
        if token.type in (tokenize.STRING, tokenize.COMMENT):
            replaced[index] = rewrite_text(token.string)
        elif token.type != tokenize.NAME:
            continue
        elif token.string in ("async", "await"):
            replaced[index] = ""
            glued.add(index + 1)
        elif token.string == "Awaitable" and tokens[index + 1].string == "[":
            closing = _closing_bracket(tokens, index + 1)
            replaced.update({index: "", index + 1: "", closing: ""})
            glued.add(index + 2)
        else:
            last = _dotted_end(tokens, index)
            dotted = "".join(t.string for t in tokens[index : last + 1])
            if tokens[index - 1].string != "." and rename_module(dotted) != dotted:
                replaced.update(dict.fromkeys(range(index + 1, last + 1), ""))
                replaced[index] = rename_module(dotted)
            else:
                replaced[index] = rename(token.string)

    def text(start: tuple[int, int], end: tuple[int, int]) -> str:
        (row, col), (end_row, end_col) = start, end
        if row == end_row:
            return lines[row - 1][col:end_col]
        middle = lines[row : end_row - 1]
        return "".join([lines[row - 1][col:], *middle, lines[end_row - 1][:end_col]])

    pieces: list[str] = []
    previous_end = (1, 0)
    for index, token in enumerate(tokens):
        gap = text(previous_end, token.start)  # white space, line continuations
        pieces.append("" if index in glued and not gap.strip(" ") else gap)
        pieces.append(replaced.get(index, text(token.start, token.end)))
        previous_end = token.end
    return "".join(pieces)


def ruff(code: str, target: str, *arguments: str) -> str:
    """``code`` passed through ``ruff <arguments>`` as if it were the file ``target``."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *arguments, "--stdin-filename", target, "-"],
        input=code,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"ruff {arguments[0]} failed on the twin of {target}:\n{result.stderr}")
    return result.stdout


def generate(source: str, target: str) -> str:
    """The complete text of ``target``, the blocking twin of ``source``."""
    code = unasync((ROOT / source).read_text(encoding="utf-8"))
    compile(code, target, "exec")  # a rule that broke the syntax fails here, loudly
    header = f"# Generated from {source} by scripts/unasync.py; do not edit.\n"
    if len(header) - 1 > LINE_LENGTH:
        header = f"# Generated from {source}\n# by scripts/unasync.py; do not edit.\n"
    # Sort imports, drop the ones left unused, merge ``with`` blocks left nested, and
    # turn ``for x in y: yield x`` into ``yield from y`` (unsafe only for send/throw).
    code = ruff(
        header + code,
        target,
        "check",
        "--fix-only",
        "--select",
        "I,F401,SIM117,UP028",
        "--unsafe-fixes",
        "--quiet",
    )
    return ruff(code, target, "format", "--quiet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a twin is stale")
    check = parser.parse_args(argv).check
    stale = []
    for source, target in PAIRS.items():
        wanted = generate(source, target)
        path = ROOT / target
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == wanted:
            continue
        stale.append(target)
        if not check:
            path.write_text(wanted, encoding="utf-8")
            print(f"wrote {target}")
    if check and stale:
        print("stale generated modules (run `python scripts/unasync.py`):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
