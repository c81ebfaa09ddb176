"""Load a script of ``bench/`` as a module in a test, and forget it and its siblings afterwards."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def bench_module(
    monkeypatch: pytest.MonkeyPatch, script: str, name: str, siblings: tuple[str, ...] = ()
) -> Iterator[ModuleType]:
    """Yield ``bench/<script>`` loaded as module ``name`` (registered, so its dataclasses find
    it); afterwards drop it and the ``siblings`` it imported from ``bench/`` (by module name;
    bench's ``flops`` registers torch formulas and stays loaded)."""
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module
    for loaded in (name, *siblings):
        if str(BENCH) in str(getattr(sys.modules.get(loaded), "__file__", "") or ""):
            del sys.modules[loaded]
