"""``bench/bf16.py``: says what the CPU does with bf16, and times nothing where it is emulated."""

from __future__ import annotations

import pytest
import torch

from tests.bench_modules import bench_module


@pytest.fixture
def bf16_bench(monkeypatch):
    yield from bench_module(monkeypatch, "bf16.py", "bench_bf16", ("machine", "report"))


@pytest.mark.parametrize(("flags", "native", "says"), [
    (["avx512_bf16"], True, "native (avx512_bf16)"),
    (["avx512_bf16"], False, "an ISA cap keeps the kernels off it"),
    ([], False, "this CPU lacks bf16"),
])
def test_says_what_the_cpu_does_with_bf16(bf16_bench, monkeypatch, flags, native, says):
    monkeypatch.setattr(bf16_bench, "bf16_instructions", lambda: flags)
    monkeypatch.setattr(bf16_bench, "cpu_has_bf16", lambda: native)
    assert says in bf16_bench.bf16_support()


def test_emulated_bf16_is_not_timed(bf16_bench, monkeypatch):
    monkeypatch.setattr(bf16_bench, "bf16_instructions", lambda: [])
    monkeypatch.setattr(bf16_bench, "cpu_has_bf16", lambda: False)
    table = bf16_bench.Table(bf16_bench.describe(torch.device("cpu")), "fp32 and bf16")

    def no_peak(*args, **kwargs):
        raise AssertionError("nothing is measured without native bf16")

    bf16_bench.compare(table, no_peak, 1.0, 1.0, steps=1, repeats=1, batch_size=1)
    assert [row.measure for row in table.rows] == ["bf16 on this CPU", "bf16 against fp32"]
    assert "use fp32" in table.rows[1].value
