# esdb_wire developer commands. `make demo` and `make test` work on a fresh
# machine with Python, make and the package registries: they build what they need.

PYTHON ?= python3
PYPY ?= pypy3
PYTHON_OLDEST ?= $(PYTHON)
PYTHON_NEWEST ?= $(PYTHON)
# Which tests the newest-dependencies leg runs (CI runs its timing suites on their own).
NEWEST_MARKS ?= not packaging
VENV ?= .venv
PY := $(VENV)/bin/python
PROTOC ?= protoc
# Generated modules are committed; they must be reproducible with exactly this protoc
# (Debian bookworm's protobuf-compiler). Its gencode runs on protobuf >= 4.21.
PROTOC_VERSION := libprotoc 3.21.12
PROTO_SRC := $(wildcard proto/esdb_wire/protos/*.proto)
PIP_QUIET ?= -q

.PHONY: install test test-purepython test-pypy test-oldest test-newest test-cpython cpython-venv lint fmt unasync \
        proto proto-check serve demo bench dist ci clean upstream-cluster-tests

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) --upgrade pip
	$(PY) -m pip install $(PIP_QUIET) -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The tests. Peers (grpcio, esdbclient) are installed here, so tests that need them
# must run: ESDB_WIRE_REQUIRE_PEERS turns their skip into a failure.
test: install
	ESDB_WIRE_REQUIRE_PEERS=1 $(PY) -m pytest $(PYTEST_ARGS)

# The same suite on protobuf's pure-Python backend (the timing suites, which do not depend
# on the backend, run in the main and newest legs: see tests/timing.py).
test-purepython: install
	PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python ESDB_WIRE_REQUIRE_PEERS=1 \
		$(PY) -m pytest -q -m "not timing and not packaging" $(PYTEST_ARGS)

# The suite under PyPy (no grpcio wheels there: peer tests skip).
.venv-pypy/.installed: pyproject.toml
	@command -v $(PYPY) >/dev/null || { echo "$(PYPY) not found: apt-get install pypy3 pypy3-venv"; exit 1; }
	test -x .venv-pypy/bin/python || $(PYPY) -m venv .venv-pypy
	.venv-pypy/bin/python -m pip install $(PIP_QUIET) -e '.[test]'
	touch $@

# Debian's PyPy 7.3.11 has a garbage-collector bug (pypy/pypy#3959, fixed in later PyPy
# releases) that now and then crashes it with SIGSEGV while pytest rewrites a test module's
# assertions (pytest-dev/pytest#11168): the leg runs with plain assertions (the same tests
# run with rewritten ones on CPython), and a leg that still dies of SIGSEGV (exit 139) is
# run once more, saying so.
PYPY_PYTEST = .venv-pypy/bin/python -m pytest -q --assert=plain -m "not timing and not packaging" $(PYTEST_ARGS)
test-pypy: .venv-pypy/.installed
	$(PYPY_PYTEST) || { status=$$?; [ $$status -eq 139 ] || exit $$status; \
		echo "== PyPy crashed (SIGSEGV, pypy/pypy#3959): running the PyPy leg again"; \
		$(PYPY_PYTEST); }

# The lowest dependency versions pyproject.toml admits, then the newest ones (with
# kurrentdbclient as a peer: it needs a newer grpcio than esdbclient allows). CI runs them
# on the oldest and the newest CPython it finds (PYTHON_OLDEST, PYTHON_NEWEST).
.venv-oldest/.installed: pyproject.toml
	test -x .venv-oldest/bin/python || $(PYTHON_OLDEST) -m venv .venv-oldest
	.venv-oldest/bin/python -m pip install $(PIP_QUIET) \
		'h2==4.1.0' 'hpack==4.0.0' 'hyperframe==6.0.0' 'protobuf==4.21.1' -e '.[test]'
	touch $@

test-oldest: .venv-oldest/.installed
	.venv-oldest/bin/python -m pytest -q -m "not timing and not packaging" $(PYTEST_ARGS)

.venv-newest/.installed: pyproject.toml
	test -x .venv-newest/bin/python || $(PYTHON_NEWEST) -m venv .venv-newest
	.venv-newest/bin/python -m pip install $(PIP_QUIET) --upgrade --upgrade-strategy eager \
		-e '.[test]' kurrentdbclient
	touch $@

test-newest: .venv-newest/.installed
	ESDB_WIRE_REQUIRE_PEERS=kurrentdbclient .venv-newest/bin/python -m pytest -q \
		-m "$(NEWEST_MARKS)" $(PYTEST_ARGS)

# The suite on another CPython: `make test-cpython CPYTHON=python3.12` (venv .venv-<name>).
CPYTHON ?= $(PYTHON)
CPYTHON_VENV = .venv-$(notdir $(CPYTHON))
cpython-venv:
	test -x $(CPYTHON_VENV)/bin/python || $(CPYTHON) -m venv $(CPYTHON_VENV)
	test -f $(CPYTHON_VENV)/.installed || \
		{ $(CPYTHON_VENV)/bin/python -m pip install $(PIP_QUIET) -e '.[test]' && touch $(CPYTHON_VENV)/.installed; }

test-cpython: cpython-venv
	$(CPYTHON_VENV)/bin/python -m pytest -q -m "not timing and not packaging" $(PYTEST_ARGS)

# The last step fails when a blocking twin generated from the asyncio client (or from
# its tests) is stale: edit the asyncio source, then run `make unasync`.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) scripts/unasync.py --check

unasync: install
	$(PY) scripts/unasync.py

fmt: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

proto:
	@$(PROTOC) --version | grep -qx '$(PROTOC_VERSION)' || \
		{ echo "need $(PROTOC_VERSION) (Debian: apt-get install protobuf-compiler), found: $$($(PROTOC) --version)"; exit 1; }
	rm -f esdb_wire/protos/*_pb2.py esdb_wire/protos/*_pb2.pyi
	$(PROTOC) -I proto --python_out=. --pyi_out=. $(PROTO_SRC)

# Fails when the committed generated modules differ from what `make proto` writes.
proto-check: proto
	@git diff --exit-code --stat -- esdb_wire/protos || \
		{ echo "generated modules are stale: run 'make proto' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- esdb_wire/protos)" || \
		{ git status --porcelain -- esdb_wire/protos; echo "untracked generated modules"; exit 1; }

serve: install
	$(PY) -m esdb_wire.server --host 127.0.0.1 --port 2113 --insecure $(SERVE_ARGS)

demo: install
	$(PY) -m esdb_wire.demo

bench: install
	$(PY) -m benchmarks $(BENCH_ARGS)

# esdbclient 1.1.7's own TestESDBClusterNode1/2/3 and TestRequiresLeaderHeader against
# `esdb-wire-server --cluster 3` on 2110-2112. Downloads its tests from GitHub at run time
# (not in CI, which cannot reach GitHub); UPSTREAM_CLASSES chooses other classes.
upstream-cluster-tests: install
	PYTHON=$(PY) scripts/upstream_cluster_tests.sh $(UPSTREAM_CLASSES)

# The sdist and the wheel, into dist/ (tests/packaging installs the wheel into a fresh venv).
dist: install
	rm -rf dist
	$(PY) -m build --outdir dist .

ci:
	bash .ci/run

clean:
	rm -rf .venv .venv-pypy .venv-oldest .venv-newest .venv-python3.* .pytest_cache .mypy_cache .ruff_cache \
		.hypothesis build dist *.egg-info
