"""``lazy_module``: a stand-in that imports its module on first use, then is it.

The modules imported here are written for each test into its own directory (on
``sys.path`` for the test), so that "not imported yet" is known to hold.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from esdb_wire.lazy_import import LazyModule, lazy_module

SLOW_MODULE = """
import time
time.sleep(0.2)  # threads pile up on the first lookup meanwhile
VALUE = 42

def double(number):
    return 2 * number
"""


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith("lazy_probe")]:
        del sys.modules[name]


def test_nothing_is_imported_until_an_attribute_is_asked(module_dir: Path) -> None:
    (module_dir / "lazy_probe_a.py").write_text("VALUE = 1\n", encoding="utf-8")
    stand_in = lazy_module("lazy_probe_a")
    assert isinstance(stand_in, LazyModule)
    assert "lazy_probe_a" not in sys.modules
    assert "not loaded yet" in repr(stand_in)
    assert stand_in.VALUE == 1
    assert "lazy_probe_a" in sys.modules
    assert "not loaded yet" not in repr(stand_in)


def test_once_loaded_lookups_are_plain_module_lookups(module_dir: Path) -> None:
    (module_dir / "lazy_probe_b.py").write_text(SLOW_MODULE, encoding="utf-8")
    stand_in = lazy_module("lazy_probe_b")
    assert stand_in.double(2) == 4
    real = sys.modules["lazy_probe_b"]
    # The stand-in holds the module's namespace: its __getattr__ is no longer consulted.
    assert vars(stand_in)["double"] is real.double
    assert vars(stand_in)["VALUE"] == 42
    assert stand_in.__file__ == real.__file__


def test_a_missing_name_raises_attribute_error(module_dir: Path) -> None:
    (module_dir / "lazy_probe_c.py").write_text("VALUE = 1\n", encoding="utf-8")
    stand_in = lazy_module("lazy_probe_c")
    with pytest.raises(AttributeError, match="missing"):
        _ = stand_in.missing
    assert stand_in.VALUE == 1


def test_a_module_that_does_not_exist_fails_on_first_use_not_before() -> None:
    stand_in = lazy_module("lazy_probe_does_not_exist")
    with pytest.raises(ModuleNotFoundError):
        _ = stand_in.anything


def test_threads_racing_to_the_first_lookup_all_see_the_module(module_dir: Path) -> None:
    (module_dir / "lazy_probe_d.py").write_text(SLOW_MODULE, encoding="utf-8")
    stand_in = lazy_module("lazy_probe_d")
    start = threading.Barrier(16)
    results: list[object] = []

    def use() -> None:
        start.wait()
        try:
            results.append(stand_in.double(stand_in.VALUE))
        except Exception as error:
            results.append(error)

    threads = [threading.Thread(target=use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [84] * 16
